"""GET /v1/candles against a real uvicorn server over a real SQLite-catalog Iceberg lake."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from contracts.tables import SILVER_CANDLES
from serve.api.models import decimal_to_str
from serve.api.routes.candles import parse_timestamp
from serve.errors import InvalidParameterError
from ticklake.lake import ensure_table, open_catalog
from ticklake.settings import Settings
from ticklake.timeutil import NS_PER_SECOND, date_to_ns, now_ns, ns_to_date, ns_to_iso

pytestmark = pytest.mark.timeout(120)

MINUTE = 60 * NS_PER_SECOND
MIDNIGHT = date_to_ns(dt.date(2026, 11, 21))  # 2026-11-21T00:00:00Z
NOW_AT_SETUP = now_ns()
RECENT = (NOW_AT_SETUP - 30 * MINUTE) // MINUTE * MINUTE  # inside the default range (the last hour)
OLD = RECENT - 90 * MINUTE  # outside it

EXACT: dict[str, Any] = {
    "open": Decimal("65000.120000000000000000"),
    "high": Decimal("12345678901234567890.123456789012345678"),  # all 38 digits: no rounding allowed
    "low": Decimal("0.000001230000000000"),
    "close": Decimal("65000"),
    "volume": Decimal("12000000000"),
    "buy_volume": Decimal("0E-18"),
    "sell_volume": Decimal("12000000000.000000000000000001"),
    "quote_volume": 780001440000.0,
    "vwap": 65000.12,
    "trade_count": 42,
    "first_trade_id": "1001",
    "last_trade_id": "1042",
    "revision": 3,
}


def candle(venue: str, instrument: str, start: int, interval: str = "1m", **values: Any) -> dict[str, Any]:
    """A silver.candles row; unspecified values derive from the window start."""
    length = {"1m": MINUTE, "5m": 5 * MINUTE}[interval]
    minute = start // MINUTE % 1440
    price = Decimal(64000 + minute) + Decimal("0.5")
    row: dict[str, Any] = {
        "venue": venue,
        "instrument": instrument,
        "interval": interval,
        "window_start": start,
        "window_end": start + length,
        "open": price,
        "high": price + 10,
        "low": price - 10,
        "close": price + 1,
        "volume": Decimal("2.5"),
        "buy_volume": Decimal("1.5"),
        "sell_volume": Decimal("1"),
        "quote_volume": float(price) * 2.5,
        "vwap": float(price),
        "trade_count": 7,
        "first_trade_id": f"{venue}-{start}-first",
        "last_trade_id": f"{venue}-{start}-last",
        "event_date": ns_to_date(start),
        "revision": 1,
    }
    row.update(values)
    return row


BTC_STARTS = [MIDNIGHT + k * MINUTE for k in (-3, -2, -1, 0, 1, 2)]  # across two event_date partitions

FIRST_APPEND = [
    candle("binance", "BTC-USDT", MIDNIGHT + 2 * MINUTE),
    candle("binance", "BTC-USDT", MIDNIGHT - 3 * MINUTE),
    candle("binance", "BTC-USDT", MIDNIGHT, **EXACT),
    candle("coinbase", "BTC-USDT", MIDNIGHT + MINUTE, open=Decimal("1.25")),
    candle("binance", "ETH-USDT", MIDNIGHT),
    candle("binance", "BTC-USDT", MIDNIGHT, interval="5m"),  # another interval: never in a 1m answer
]
SECOND_APPEND = [
    candle("binance", "BTC-USDT", MIDNIGHT - MINUTE),
    candle("coinbase", "BTC-USDT", MIDNIGHT, open=Decimal("1.5")),
    candle("binance", "BTC-USDT", MIDNIGHT + MINUTE),
    candle("binance", "ETH-USDT", MIDNIGHT + MINUTE),
    candle("binance", "BTC-USDT", MIDNIGHT - 2 * MINUTE),
    candle("binance", "SOL-USDT", RECENT),
    candle("binance", "SOL-USDT", OLD),
]


def append(settings: Settings, rows: list[dict[str, Any]]) -> None:
    table = ensure_table(open_catalog(settings), SILVER_CANDLES)
    table.append(pa.Table.from_pylist(rows, schema=SILVER_CANDLES.schema().as_arrow()))


@pytest.fixture(scope="module")
def candles_api(
    tmp_path_factory: pytest.TempPathFactory,
    lake_settings: Callable[[Path], Settings],
    start_module_api: Callable[[Settings], httpx.Client],
) -> httpx.Client:
    """An API over a lake holding the candles above, written in two commits (several files)."""
    settings = lake_settings(tmp_path_factory.mktemp("candles") / "state")
    append(settings, FIRST_APPEND)
    append(settings, SECOND_APPEND)
    return start_module_api(settings)


def get(client: httpx.Client, **params: Any) -> dict[str, Any]:
    query = {"instrument": "BTC-USDT", "venue": "binance", **params}
    response = client.get("/v1/candles", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["count"] == len(body["candles"])
    return body


def starts(body: dict[str, Any]) -> list[int]:
    return [item["window_start_ns"] for item in body["candles"]]


# --- reading ------------------------------------------------------------------------------------


def test_values_are_exact(candles_api: httpx.Client) -> None:
    body = get(candles_api, start="2026-11-21T00:00:00Z", end="2026-11-21T00:01:00Z")
    assert body == {
        "venue": "binance",
        "instrument": "BTC-USDT",
        "interval": "1m",
        "start": "2026-11-21T00:00:00.000000000Z",
        "end": "2026-11-21T00:01:00.000000000Z",
        "count": 1,
        "candles": [
            {
                "window_start": "2026-11-21T00:00:00.000000000Z",
                "window_start_ns": MIDNIGHT,
                "window_end": "2026-11-21T00:01:00.000000000Z",
                "window_end_ns": MIDNIGHT + MINUTE,
                "open": "65000.12",
                "high": "12345678901234567890.123456789012345678",
                "low": "0.00000123",
                "close": "65000",
                "volume": "12000000000",
                "buy_volume": "0",
                "sell_volume": "12000000000.000000000000000001",
                "quote_volume": 780001440000.0,
                "vwap": 65000.12,
                "trade_count": 42,
                "first_trade_id": "1001",
                "last_trade_id": "1042",
                "revision": 3,
            }
        ],
    }


def test_sorted_across_commits_and_partitions(candles_api: httpx.Client) -> None:
    body = get(candles_api, start="2026-11-20", end="2026-11-22")
    assert starts(body) == BTC_STARTS
    assert all(item["window_end_ns"] - item["window_start_ns"] == MINUTE for item in body["candles"])


def test_range_is_half_open_on_window_start(candles_api: httpx.Client) -> None:
    body = get(candles_api, start=ns_to_iso(MIDNIGHT - 2 * MINUTE), end=ns_to_iso(MIDNIGHT + MINUTE))
    assert starts(body) == [MIDNIGHT - 2 * MINUTE, MIDNIGHT - MINUTE, MIDNIGHT]
    one_ns_later = get(candles_api, start=ns_to_iso(MIDNIGHT - 2 * MINUTE + 1), end=ns_to_iso(MIDNIGHT + MINUTE + 1))
    assert starts(one_ns_later) == [MIDNIGHT - MINUTE, MIDNIGHT, MIDNIGHT + MINUTE]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 6, 7, 10_000])
def test_limit_keeps_the_earliest(candles_api: httpx.Client, limit: int) -> None:
    body = get(candles_api, start="2026-11-20", end="2026-11-22", limit=limit)
    assert starts(body) == BTC_STARTS[:limit]


def test_paging_with_nanosecond_starts(candles_api: httpx.Client) -> None:
    seen: list[int] = []
    start = "2026-11-20T00:00:00Z"
    for _ in range(10):
        page = get(candles_api, start=start, end="2026-11-22T00:00:00Z", limit=4)
        seen += starts(page)
        if page["count"] < 4:
            break
        start = ns_to_iso(page["candles"][-1]["window_start_ns"] + 1)
    assert seen == BTC_STARTS


@pytest.mark.parametrize(
    ("venue", "instrument", "expected"),
    [
        ("coinbase", "BTC-USDT", [(MIDNIGHT, "1.5"), (MIDNIGHT + MINUTE, "1.25")]),
        ("binance", "ETH-USDT", [(MIDNIGHT, "64000.5"), (MIDNIGHT + MINUTE, "64001.5")]),
        ("kraken", "BTC-USDT", []),
        ("binance", "DOGE-USDT", []),
    ],
)
def test_filters_venue_and_instrument(
    candles_api: httpx.Client, venue: str, instrument: str, expected: list[tuple[int, str]]
) -> None:
    body = get(candles_api, venue=venue, instrument=instrument, start="2026-11-20", end="2026-11-22")
    assert (body["venue"], body["instrument"]) == (venue, instrument)
    assert [(item["window_start_ns"], item["open"]) for item in body["candles"]] == expected


def test_other_intervals_are_not_mixed_in(candles_api: httpx.Client) -> None:
    body = get(candles_api, start="2026-11-21T00:00:00Z", end="2026-11-21T00:05:00Z")
    assert starts(body) == [MIDNIGHT, MIDNIGHT + MINUTE, MIDNIGHT + 2 * MINUTE]
    assert {item["window_end_ns"] - item["window_start_ns"] for item in body["candles"]} == {MINUTE}


def test_default_range_is_the_last_hour(candles_api: httpx.Client) -> None:
    before = now_ns()
    body = get(candles_api, instrument="SOL-USDT")
    after = now_ns()
    assert starts(body) == [RECENT]
    end = parse_timestamp(body["end"], "end")
    assert before <= end <= after
    assert end - parse_timestamp(body["start"], "start") == 3600 * NS_PER_SECOND


def test_start_defaults_to_an_hour_before_end(candles_api: httpx.Client) -> None:
    body = get(candles_api, end="2026-11-21T00:01:00Z")
    assert body["start"] == "2026-11-20T23:01:00.000000000Z"
    assert starts(body) == BTC_STARTS[:4]


def test_end_defaults_to_now(candles_api: httpx.Client) -> None:
    body = get(candles_api, start="2026-11-21")
    assert starts(body) == BTC_STARTS[3:]
    assert abs(parse_timestamp(body["end"], "end") - now_ns()) < 60 * NS_PER_SECOND


@pytest.mark.parametrize(
    "start",
    [
        "2026-11-21",
        "2026-11-21T00:00:00Z",
        "2026-11-21T00:00Z",
        "2026-11-21t00:00:00z",
        "2026-11-21T00:00:00.000000000Z",
        "2026-11-21T00:00:00,000Z",
        "2026-11-21T01:00:00+01:00",
        "2026-11-21T01:00:00+0100",
        "2026-11-21T05:30:00+05:30",
        "2026-11-20T19:00:00-05:00",
        "2026-11-21T00:00:00",  # naive: UTC
        "2026-11-21 00:00:00",
    ],
)
def test_start_forms(candles_api: httpx.Client, start: str) -> None:
    body = get(candles_api, start=start, end="2026-11-21T00:01:00Z")
    assert body["start"] == "2026-11-21T00:00:00.000000000Z"
    assert starts(body) == [MIDNIGHT]


def test_an_unencoded_plus_in_the_url_is_read_as_plus(candles_api: httpx.Client) -> None:
    url = "/v1/candles?instrument=BTC-USDT&venue=binance&start=2026-11-21T01:00:00+01:00&end=2026-11-21T00:01:00Z"
    response = candles_api.get(url)
    assert response.status_code == 200, response.text
    assert response.json()["start"] == "2026-11-21T00:00:00.000000000Z"


def test_no_table_yet_is_an_empty_answer(api: httpx.Client) -> None:
    body = get(api, start="2026-11-20", end="2026-11-22")
    assert (body["count"], body["candles"]) == (0, [])
    assert body["start"] == "2026-11-20T00:00:00.000000000Z"


def test_empty_table_is_an_empty_answer(
    tmp_path: Path,
    lake_settings: Callable[[Path], Settings],
    start_api: Callable[[Settings], httpx.Client],
) -> None:
    settings = lake_settings(tmp_path / "state")
    ensure_table(open_catalog(settings), SILVER_CANDLES)
    body = get(start_api(settings), start="2026-11-20", end="2026-11-22")
    assert (body["count"], body["candles"]) == (0, [])


# --- bad requests ----------------------------------------------------------------------------------

EXAMPLE = "2026-11-21T10:00:00Z"


@pytest.mark.parametrize(
    ("params", "code", "parameter", "fragments"),
    [
        ({"interval": "7m"}, "invalid_parameter", "interval", ["'7m'", "'1m'", "'5m'", "'1h'"]),
        ({"interval": "1M"}, "invalid_parameter", "interval", ["'1m'"]),
        ({"venue": "Binance"}, "invalid_parameter", "venue", ["'Binance'", "'binance'", "'polymarket'"]),
        ({"venue": "nyse"}, "invalid_parameter", "venue", ["'nyse'", "'kraken'"]),
        (
            {"instrument": "btc-usdt"},
            "invalid_parameter",
            "instrument",
            ["'btc-usdt'", "BASE-QUOTE", "BTC-USDT"],
        ),
        ({"instrument": "BTCUSDT"}, "invalid_parameter", "instrument", ["BASE-QUOTE"]),
        ({"instrument": "BTC/USDT"}, "invalid_parameter", "instrument", ["BASE-QUOTE"]),
        ({"instrument": "BTC-USDT-PERPETUAL"}, "invalid_parameter", "instrument", ["BASE-QUOTE-PERP"]),
        ({"instrument": "kalshi:X"}, "invalid_parameter", "instrument", ["VENUE:ID"]),
        ({"instrument": None}, "missing_parameter", "instrument", ["missing required query parameter"]),
        ({"venue": None}, "missing_parameter", "venue", ["missing required query parameter"]),
        ({"start": "yesterday"}, "invalid_parameter", "start", ["'yesterday'", "ISO-8601", EXAMPLE]),
        ({"start": "2026-13-01"}, "invalid_parameter", "start", ["'2026-13-01'", "month", EXAMPLE]),
        ({"start": "1763719200"}, "invalid_parameter", "start", ["ISO-8601", EXAMPLE]),
        ({"start": "2026-11-21T10:00:00.1234567891Z"}, "invalid_parameter", "start", [EXAMPLE]),
        ({"end": "2026-11-21T25:00:00Z"}, "invalid_parameter", "end", ["hour", EXAMPLE]),
        ({"end": "2026-11-21T10:00:00+25:00"}, "invalid_parameter", "end", ["offset", EXAMPLE]),
        ({"end": ""}, "invalid_parameter", "end", ["ISO-8601"]),
        ({"start": "9999-12-31", "end": None}, "invalid_parameter", "start", ["out of range", "2262-04-11"]),
        ({"start": "1000-01-01"}, "invalid_parameter", "start", ["out of range", "1677-09-21"]),
        (
            {"start": "2026-11-21T01:00:00Z", "end": "2026-11-21T00:00:00Z"},
            "invalid_range",
            "start",
            ["'start' (2026-11-21T01:00:00.000000000Z) must be before 'end' (2026-11-21T00:00:00.0"],
        ),
        ({"start": EXAMPLE, "end": EXAMPLE}, "invalid_range", "start", ["must be before 'end'"]),
        ({"start": "2200-01-01", "end": None}, "invalid_range", "start", ["(now, the default)"]),
        ({"limit": "0"}, "invalid_parameter", "limit", ["'0'", "greater than or equal to 1"]),
        ({"limit": "-5"}, "invalid_parameter", "limit", ["greater than or equal to 1"]),
        ({"limit": "10001"}, "invalid_parameter", "limit", ["'10001'", "less than or equal to 10000"]),
        ({"limit": "abc"}, "invalid_parameter", "limit", ["'abc'", "integer"]),
        ({"limit": "1.5"}, "invalid_parameter", "limit", ["integer"]),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(
    candles_api: httpx.Client, params: dict[str, str | None], code: str, parameter: str, fragments: list[str]
) -> None:
    query: dict[str, str | None] = {
        "instrument": "BTC-USDT",
        "venue": "binance",
        "start": "2026-11-20",
        "end": "2026-11-22",
    }
    query.update(params)
    response = candles_api.get("/v1/candles", params={k: v for k, v in query.items() if v is not None})
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "parameter"}
    assert (body["error"]["code"], body["error"]["parameter"]) == (code, parameter)
    message = body["error"]["message"]
    assert f"'{parameter}'" in message
    for fragment in fragments:
        assert fragment in message


def test_several_bad_parameters_are_all_reported(candles_api: httpx.Client) -> None:
    response = candles_api.get("/v1/candles", params={"instrument": "btc", "interval": "2h", "limit": "0"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    for name in ("'instrument'", "'venue'", "'interval'", "'limit'"):
        assert name in error["message"]


def test_a_long_bad_value_is_shown_truncated(candles_api: httpx.Client) -> None:
    response = candles_api.get(
        "/v1/candles", params={"instrument": "BTC-USDT", "venue": "binance", "start": "x" * 5000}
    )
    assert response.status_code == 422
    assert len(response.json()["error"]["message"]) < 400


def test_bad_parameters_win_over_a_catalog_that_is_down(broken_api: httpx.Client) -> None:
    response = broken_api.get("/v1/candles", params={"instrument": "BTC-USDT", "venue": "binance", "interval": "2h"})
    assert response.status_code == 422
    assert response.json()["error"]["parameter"] == "interval"


def test_catalog_down_is_503(broken_api: httpx.Client) -> None:
    response = broken_api.get("/v1/candles", params={"instrument": "BTC-USDT", "venue": "binance"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "catalog_unavailable"
    assert error["parameter"] is None
    assert error["message"].startswith("cannot open the Iceberg catalog: OperationalError: ")
    assert "Traceback" not in response.text


def test_a_lost_data_file_is_a_clean_500(
    tmp_path: Path,
    lake_settings: Callable[[Path], Settings],
    start_api: Callable[[Settings], httpx.Client],
) -> None:
    settings = lake_settings(tmp_path / "state")
    append(settings, [candle("binance", "BTC-USDT", MIDNIGHT)])
    for data_file in (tmp_path / "state" / "warehouse").rglob("*.parquet"):
        data_file.unlink()
    response = start_api(settings).get(
        "/v1/candles", params={"instrument": "BTC-USDT", "venue": "binance", "start": "2026-11-21"}
    )
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error", "parameter": None}
    }


def test_unknown_path_uses_the_error_shape(candles_api: httpx.Client) -> None:
    response = candles_api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found", "parameter": None}}
    post = candles_api.post("/v1/candles")
    assert post.status_code == 405
    assert post.json()["error"]["code"] == "method_not_allowed"
    assert post.headers["allow"] == "GET"


def test_openapi_documents_the_contract(candles_api: httpx.Client) -> None:
    assert candles_api.get("/docs").status_code == 200
    spec = candles_api.get("/openapi.json").json()
    assert spec["info"]["title"] == "ticklake"
    params = {p["name"]: p for p in spec["paths"]["/v1/candles"]["get"]["parameters"]}
    assert set(params) == {"instrument", "venue", "interval", "start", "end", "limit", "as_of"}
    interval = params["interval"]["schema"]
    assert interval.get("enum", [interval.get("const")]) == ["1m", "5m", "1h"]  # one value would render as "const"
    assert "krakenfutures" in params["venue"]["schema"]["enum"]
    assert "taken as UTC" in params["start"]["description"]
    assert "midnight UTC" in params["end"]["description"]
    assert params["limit"]["schema"]["maximum"] == 10_000


# --- pure helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("65000.120000000000000000"), "65000.12"),
        (Decimal("0.000001230000000000"), "0.00000123"),
        (Decimal("12000000000"), "12000000000"),
        (Decimal("1.2E+10"), "12000000000"),
        (Decimal("12000000000.000000000000000000"), "12000000000"),
        (Decimal("12345678901234567890.123456789012345678"), "12345678901234567890.123456789012345678"),
        (Decimal("99999999999999999999.999999999999999999"), "99999999999999999999.999999999999999999"),
        (Decimal("0E-18"), "0"),
        (Decimal("-0.000000000000000000"), "0"),
        (Decimal("-1.500000000000000000"), "-1.5"),
        (Decimal("100"), "100"),
        (Decimal("0.000000000000000001"), "0.000000000000000001"),
    ],
)
def test_decimal_to_str(value: Decimal, text: str) -> None:
    assert decimal_to_str(value) == text
    assert Decimal(text) == value


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity")])
def test_decimal_to_str_rejects_non_finite(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        decimal_to_str(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T00:00:00.000000001Z", MIDNIGHT + 1),
        ("2026-11-21T00:00:00.5Z", MIDNIGHT + NS_PER_SECOND // 2),
        ("2026-11-21T00:00:00.123456789+00:00", MIDNIGHT + 123_456_789),
        ("1970-01-01", 0),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("1677-09-21T00:12:43.145224192Z", -(2**63)),
        ("2262-04-11T23:47:16.854775807Z", 2**63 - 1),
    ],
)
def test_parse_timestamp(text: str, expected: int) -> None:
    assert parse_timestamp(text, "start") == expected


def test_iso_output_parses_back() -> None:
    for value in (MIDNIGHT, MIDNIGHT + 1, RECENT + 999_999_999, -1, 2**63 - 1):
        assert parse_timestamp(ns_to_iso(value), "start") == value


def test_parse_timestamp_names_the_parameter() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        parse_timestamp("2026-11-21T10:00:00.1234567891Z", "end")
    assert caught.value.parameter == "end"
    assert caught.value.message.startswith("invalid value '2026-11-21T10:00:00.1234567891Z' for 'end': ")


def test_api_intervals_are_the_ones_silver_builds():
    from contracts.tables import CANDLE_INTERVALS
    from serve.api.models import SUPPORTED_INTERVALS

    assert set(SUPPORTED_INTERVALS) == set(CANDLE_INTERVALS)
