"""GET /v1/markets/daily, /v1/markets/candles and /v1/instruments against a real server over real gold tables.

The gold tables are written here with the marts' publisher (the dbt build itself is tested in
tests/orchestration/marts), so every value and every publication is known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from orchestration.defs.marts.publish import GOLD_BY_IDENTIFIER, PUBLICATION_KEY, publish_table
from orchestration.defs.marts.sources import Window
from ticklake.lake import open_catalog
from ticklake.settings import Settings
from ticklake.timeutil import NS_PER_SECOND, date_to_ns, now_ns, ns_to_date

pytestmark = pytest.mark.timeout(120)

DAY = dt.date(2025, 6, 15)  # long before today, which the default range covers
NEXT = DAY + dt.timedelta(days=1)
TODAY = ns_to_date(now_ns())
MINUTE = 60 * NS_PER_SECOND
D = pa.decimal128(38, 18)

SUMMARY_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("instrument", pa.string()),
        ("event_date", pa.date32()),
        *((name, D) for name in ("open", "high", "low", "close", "volume", "buy_volume", "sell_volume")),
        ("unknown_volume", D),
        ("quote_volume", pa.float64()),
        ("vwap", pa.float64()),
        *((name, pa.int64()) for name in ("trade_count", "buy_count", "sell_count")),
        ("buy_sell_ratio", pa.float64()),
        ("realized_volatility", pa.float64()),
        ("return_count", pa.int64()),
        ("first_trade_ns", pa.int64()),
        ("last_trade_ns", pa.int64()),
        ("first_trade_id", pa.string()),
        ("last_trade_id", pa.string()),
    ]
)
LARGEST_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("instrument", pa.string()),
        ("event_date", pa.date32()),
        ("size_rank", pa.int64()),
        ("trade_id", pa.string()),
        ("price", D),
        ("size", D),
        ("side", pa.string()),
        ("ts_event", pa.int64()),
    ]
)
CANDLE_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("instrument", pa.string()),
        ("interval", pa.string()),
        ("window_start", pa.int64()),
        ("window_end", pa.int64()),
        *((name, D) for name in ("open", "high", "low", "close", "volume", "buy_volume", "sell_volume")),
        ("quote_volume", pa.float64()),
        ("vwap", pa.float64()),
        ("trade_count", pa.int64()),
        ("first_trade_id", pa.string()),
        ("last_trade_id", pa.string()),
        ("revision", pa.int64()),
        ("log_return", pa.float64()),
        ("event_date", pa.date32()),
    ]
)
INSTRUMENT_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("instrument", pa.string()),
        ("kind", pa.string()),
        ("base", pa.string()),
        ("quote", pa.string()),
        ("expiry", pa.date32()),
        ("first_seen_ns", pa.int64()),
        ("last_seen_ns", pa.int64()),
        ("first_seen_date", pa.date32()),
        ("last_seen_date", pa.date32()),
        ("days_traded", pa.int64()),
        ("trade_count", pa.int64()),
    ]
)


def summary(venue: str, instrument: str, day: dt.date, **values: Any) -> dict[str, Any]:
    midnight = date_to_ns(day)
    row: dict[str, Any] = {
        "venue": venue,
        "instrument": instrument,
        "event_date": day,
        "open": Decimal("65000.12"),
        "high": Decimal("12345678901234567890.123456789012345678"),  # all 38 digits
        "low": Decimal("0.00000123"),
        "close": Decimal("65000"),
        "volume": Decimal("12000000000"),
        "buy_volume": Decimal("0"),
        "sell_volume": Decimal("11999999999.999999999999999999"),
        "unknown_volume": Decimal("0.000000000000000001"),
        "quote_volume": 780001440000.0,
        "vwap": 65000.12,
        "trade_count": 42,
        "buy_count": 0,
        "sell_count": 41,
        "buy_sell_ratio": 0.0,
        "realized_volatility": 0.0123,
        "return_count": 17,
        "first_trade_ns": midnight + 1,
        "last_trade_ns": midnight + 86_399 * NS_PER_SECOND + 999_999_999,
        "first_trade_id": "1001",
        "last_trade_id": "1042",
    }
    row.update(values)
    return row


def large(venue: str, instrument: str, day: dt.date, rank: int, size: str, trade_id: str) -> dict[str, Any]:
    return {
        "venue": venue,
        "instrument": instrument,
        "event_date": day,
        "size_rank": rank,
        "trade_id": trade_id,
        "price": Decimal("65000.5"),
        "size": Decimal(size),
        "side": "buy",
        "ts_event": date_to_ns(day) + rank,
    }


def candle(start: int, close: str, log_return: float | None) -> dict[str, Any]:
    return {
        "venue": "binance",
        "instrument": "BTC-USDT",
        "interval": "1m",
        "window_start": start,
        "window_end": start + MINUTE,
        "open": Decimal("1"),
        "high": Decimal("3"),
        "low": Decimal("0.5"),
        "close": Decimal(close),
        "volume": Decimal("2"),
        "buy_volume": Decimal("1"),
        "sell_volume": Decimal("1"),
        "quote_volume": 3.0,
        "vwap": 1.5,
        "trade_count": 2,
        "first_trade_id": "1",
        "last_trade_id": "2",
        "revision": 1,
        "log_return": log_return,
        "event_date": ns_to_date(start),
    }


def instrument_row(venue: str, instrument: str, kind: str, base: str | None, quote: str | None, **values: Any) -> dict:
    row = {
        "venue": venue,
        "instrument": instrument,
        "kind": kind,
        "base": base,
        "quote": quote,
        "expiry": None,
        "first_seen_ns": date_to_ns(DAY) + 5,
        "last_seen_ns": date_to_ns(TODAY) + 7,
        "first_seen_date": DAY,
        "last_seen_date": TODAY,
        "days_traded": 3,
        "trade_count": 1234,
    }
    row.update(values)
    return row


def publish(settings: Settings, identifier: str, schema: pa.Schema, rows: list[dict], days: Window, build: str) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    properties = {PUBLICATION_KEY: build}
    publish_table(open_catalog(settings), GOLD_BY_IDENTIFIER[identifier], table, days, properties)


@pytest.fixture(scope="module")
def markets_api(
    tmp_path_factory: pytest.TempPathFactory,
    lake_settings: Callable[[Path], Settings],
    start_module_api: Callable[[Settings], httpx.Client],
) -> httpx.Client:
    """An API over gold tables with known rows, published by three builds."""
    settings = lake_settings(tmp_path_factory.mktemp("markets") / "state")
    day = Window(DAY, DAY + dt.timedelta(days=1))
    today = Window(TODAY, TODAY + dt.timedelta(days=1))
    summaries = [
        summary("coinbase", "BTC-USD", DAY, buy_sell_ratio=None, realized_volatility=None, return_count=0),
        summary("binance", "ETH-USDT", DAY, open=Decimal("0E-18")),
        summary("binance", "BTC-USDT", DAY),
    ]
    largest = [large("binance", "BTC-USDT", DAY, rank, str(10 - rank), f"b{rank}") for rank in (2, 1, 3)]
    # build 1 publishes DAY; build 2 publishes today; build 3 has published its largest trades but not
    # yet its summary (a reader in between must keep pairing the summary with build 2's largest trades)
    publish(settings, "gold.daily_market_summary", SUMMARY_SCHEMA, summaries, day, "build-1")
    publish(settings, "gold.largest_trades", LARGEST_SCHEMA, largest, day, "build-1")
    publish(settings, "gold.daily_market_summary", SUMMARY_SCHEMA, [summary("binance", "BTC-USDT", TODAY)], today, "b2")
    publish(
        settings,
        "gold.largest_trades",
        LARGEST_SCHEMA,
        [large("binance", "BTC-USDT", TODAY, 1, "7", "t1")],
        today,
        "b2",
    )
    half_done = [large("binance", "BTC-USDT", TODAY, 1, "99", "from-build-3")]
    publish(settings, "gold.largest_trades", LARGEST_SCHEMA, half_done, today, "b3")

    midnight = date_to_ns(DAY)
    candles = [
        candle(midnight + k * MINUTE, close, r) for k, close, r in ((0, "2", None), (1, "2.5", 0.2231435513142097))
    ]
    publish(settings, "gold.candles", CANDLE_SCHEMA, candles, day, "build-1")
    dimension = [
        instrument_row("binance", "BTC-USDT", "spot", "BTC", "USDT"),
        instrument_row("krakenfutures", "ETH-USD-20261225", "future", "ETH", "USD", expiry=dt.date(2026, 12, 25)),
        instrument_row("kalshi", "KALSHI:KXBTCD-26NOV2117-T95999.99", "prediction", None, None),
    ]
    publish(settings, "gold.instruments", INSTRUMENT_SCHEMA, dimension, day, "build-1")
    return start_module_api(settings)


def get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_daily_summaries_are_exact_and_ordered(markets_api: httpx.Client) -> None:
    body = get(markets_api, "/v1/markets/daily", start=DAY.isoformat(), end=NEXT.isoformat())
    assert (body["start"], body["end"], body["count"]) == (DAY.isoformat(), NEXT.isoformat(), 3)
    assert [(d["venue"], d["instrument"]) for d in body["days"]] == [
        ("binance", "BTC-USDT"),
        ("binance", "ETH-USDT"),
        ("coinbase", "BTC-USD"),
    ]
    btc = body["days"][0]
    assert btc["date"] == DAY.isoformat()
    assert btc["high"] == "12345678901234567890.123456789012345678"
    assert (btc["open"], btc["low"], btc["close"], btc["volume"]) == ("65000.12", "0.00000123", "65000", "12000000000")
    assert (btc["buy_volume"], btc["sell_volume"]) == ("0", "11999999999.999999999999999999")
    assert btc["unknown_volume"] == "0.000000000000000001"
    assert (btc["vwap"], btc["quote_volume"], btc["trade_count"], btc["return_count"]) == (
        65000.12,
        780001440000.0,
        42,
        17,
    )
    assert btc["first_trade_at"] == f"{DAY}T00:00:00.000000001Z"
    assert btc["last_trade_at"] == f"{DAY}T23:59:59.999999999Z"
    assert [(t["rank"], t["trade_id"], t["size"]) for t in btc["largest_trades"]] == [
        (1, "b1", "9"),
        (2, "b2", "8"),
        (3, "b3", "7"),
    ]
    assert btc["largest_trades"][0]["ts_event"] == f"{DAY}T00:00:00.000000001Z"
    assert body["days"][1]["open"] == "0" and body["days"][1]["largest_trades"] == []
    coinbase = body["days"][2]
    assert coinbase["buy_sell_ratio"] is None and coinbase["realized_volatility"] is None


def test_daily_filters_by_venue_and_instrument_and_limits(markets_api: httpx.Client) -> None:
    days = get(markets_api, "/v1/markets/daily", venue="binance", start="2025-06-01", end="2025-07-01")["days"]
    assert [d["instrument"] for d in days] == ["BTC-USDT", "ETH-USDT"]
    days = get(markets_api, "/v1/markets/daily", instrument="BTC-USD", start=DAY.isoformat(), end=NEXT.isoformat())[
        "days"
    ]
    assert [(d["venue"], d["instrument"]) for d in days] == [("coinbase", "BTC-USD")]
    body = get(markets_api, "/v1/markets/daily", start=DAY.isoformat(), end=NEXT.isoformat(), limit=1)
    assert body["count"] == 1 and body["days"][0]["instrument"] == "BTC-USDT"


def test_daily_defaults_to_the_last_week_including_today(markets_api: httpx.Client) -> None:
    # the server reads the clock per request: bracket it, so a run crossing midnight still checks it
    before = ns_to_date(now_ns())
    body = get(markets_api, "/v1/markets/daily")
    after = ns_to_date(now_ns())
    end = dt.date.fromisoformat(body["end"])
    assert end in {before + dt.timedelta(days=1), after + dt.timedelta(days=1)}
    assert body["start"] == (end - dt.timedelta(days=7)).isoformat()
    assert [d["date"] for d in body["days"]] == [TODAY.isoformat()]  # published today, still inside the week


def test_daily_reads_the_largest_trades_of_the_same_publication(markets_api: httpx.Client) -> None:
    # build 3 already replaced today's largest trades, but today's summary is still build 2's
    today = get(markets_api, "/v1/markets/daily", start=TODAY.isoformat())["days"][0]
    assert [t["trade_id"] for t in today["largest_trades"]] == ["t1"]


def test_mart_candles_carry_exact_prices_and_log_returns(markets_api: httpx.Client) -> None:
    body = get(
        markets_api,
        "/v1/markets/candles",
        venue="binance",
        instrument="BTC-USDT",
        start=f"{DAY}T00:00:00Z",
        end=f"{DAY}T01:00:00Z",
    )
    assert body["count"] == 2 and body["interval"] == "1m"
    first, second = body["candles"]
    assert (first["close"], first["log_return"]) == ("2", None)
    assert (second["close"], second["log_return"], second["window_start"]) == (
        "2.5",
        0.2231435513142097,
        f"{DAY}T00:01:00.000000000Z",
    )
    later = get(
        markets_api,
        "/v1/markets/candles",
        venue="binance",
        instrument="BTC-USDT",
        start=f"{DAY}T00:01:00Z",
        end=f"{DAY}T01:00:00Z",
    )
    assert [c["close"] for c in later["candles"]] == ["2.5"]


def test_instruments_list_the_dimension(markets_api: httpx.Client) -> None:
    body = get(markets_api, "/v1/instruments")
    assert body["count"] == 3
    assert [(i["venue"], i["kind"]) for i in body["instruments"]] == [
        ("binance", "spot"),
        ("kalshi", "prediction"),
        ("krakenfutures", "future"),
    ]
    btc, kalshi, future = body["instruments"]
    assert (btc["base"], btc["quote"], btc["expiry"], btc["trade_count"], btc["days_traded"]) == (
        "BTC",
        "USDT",
        None,
        1234,
        3,
    )
    assert btc["first_seen"] == f"{DAY}T00:00:00.000000005Z"
    assert (kalshi["base"], kalshi["quote"]) == (None, None)
    assert future["expiry"] == "2026-12-25"
    assert [i["instrument"] for i in get(markets_api, "/v1/instruments", kind="future")["instruments"]] == [
        "ETH-USD-20261225"
    ]
    assert [i["kind"] for i in get(markets_api, "/v1/instruments", venue="kalshi")["instruments"]] == ["prediction"]


@pytest.mark.parametrize(
    ("path", "params", "code", "parameter", "fragment"),
    [
        (
            "/v1/markets/daily",
            {"start": "2026-13-01"},
            "invalid_parameter",
            "start",
            "invalid value '2026-13-01' for 'start'",
        ),
        ("/v1/markets/daily", {"end": "yesterday"}, "invalid_parameter", "end", "use a UTC day such as 2026-11-20"),
        (
            "/v1/markets/daily",
            {"start": "2026-11-21", "end": "2026-11-20"},
            "invalid_range",
            "start",
            "'start' (2026-11-21) must be before 'end'",
        ),
        ("/v1/markets/daily", {"venue": "nyse"}, "invalid_parameter", "venue", "'venue'"),
        ("/v1/markets/daily", {"instrument": "btc-usdt"}, "invalid_parameter", "instrument", "canonical instrument"),
        ("/v1/markets/daily", {"limit": "0"}, "invalid_parameter", "limit", "'limit'"),
        (
            "/v1/markets/candles",
            {"venue": "binance"},
            "missing_parameter",
            "instrument",
            "missing required query parameter 'instrument'",
        ),
        ("/v1/instruments", {"kind": "option"}, "invalid_parameter", "kind", "invalid value 'option' for 'kind'"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    api: httpx.Client, path: str, params: dict[str, str], code: str, parameter: str, fragment: str
) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["parameter"]) == (code, parameter)
    assert fragment in error["message"]


def test_an_empty_lake_answers_empty_lists(api: httpx.Client) -> None:
    assert get(api, "/v1/markets/daily")["days"] == []
    assert get(api, "/v1/instruments") == {"count": 0, "instruments": []}
    assert get(api, "/v1/markets/candles", venue="binance", instrument="BTC-USDT")["candles"] == []


def test_a_down_catalog_is_503(broken_api: httpx.Client) -> None:
    for path, params in (("/v1/markets/daily", {}), ("/v1/instruments", {})):
        response = broken_api.get(path, params=params)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "catalog_unavailable"
