"""GET /v1/candles?as_of=...: the candles as stored at a time or snapshot (Iceberg time travel)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from conftest import StartApi

from contracts.tables import SILVER_CANDLES
from ticklake.lake import ensure_table, on_day, open_catalog
from ticklake.settings import Settings
from ticklake.timeutil import NS_PER_SECOND, date_to_ns

pytestmark = pytest.mark.timeout(120)

DAY = dt.date(2026, 11, 21)
MIDNIGHT = date_to_ns(DAY)
MINUTE = 60 * NS_PER_SECOND


def candle(start: int, close: str, revision: int) -> dict[str, Any]:
    price = Decimal("100")
    return {
        "venue": "binance",
        "instrument": "BTC-USDT",
        "interval": "1m",
        "window_start": start,
        "window_end": start + MINUTE,
        "open": price,
        "high": Decimal(close) + 1,
        "low": price - 1,
        "close": Decimal(close),
        "volume": Decimal("2"),
        "buy_volume": Decimal("1"),
        "sell_volume": Decimal("1"),
        "quote_volume": 200.0,
        "vwap": 100.0,
        "trade_count": 2,
        "first_trade_id": "1",
        "last_trade_id": "2",
        "revision": revision,
        "event_date": DAY,
    }


def iso_ms(timestamp_ms: int) -> str:
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")


@pytest.fixture
def lake(tmp_path: Path, lake_settings: Callable[[Path], Settings]) -> tuple[Settings, list[tuple[int, int]]]:
    """silver.candles built once (close 101, revision 1), then rebuilt (close 105, revision 2)."""
    settings = lake_settings(tmp_path / "state")
    table = ensure_table(open_catalog(settings), SILVER_CANDLES)
    schema = SILVER_CANDLES.schema().as_arrow()
    table.append(pa.Table.from_pylist([candle(MIDNIGHT, "101", 1), candle(MIDNIGHT + MINUTE, "102", 1)], schema))
    first = table.current_snapshot()
    assert first is not None
    while time.time_ns() // 1_000_000 <= first.timestamp_ms + 2:  # the rebuild gets a later timestamp
        time.sleep(0.001)
    rebuilt = [candle(MIDNIGHT, "105", 2), candle(MIDNIGHT + MINUTE, "102", 1)]
    table.overwrite(pa.Table.from_pylist(rebuilt, schema), overwrite_filter=on_day(DAY))
    second = table.current_snapshot()
    assert second is not None
    return settings, [(first.snapshot_id, first.timestamp_ms), (second.snapshot_id, second.timestamp_ms)]


def closes(client: httpx.Client, **params: str) -> list[tuple[str, int]]:
    query = {"instrument": "BTC-USDT", "venue": "binance", "start": "2026-11-21", "end": "2026-11-22", **params}
    response = client.get("/v1/candles", params=query)
    assert response.status_code == 200, response.text
    return [(c["close"], c["revision"]) for c in response.json()["candles"]]


def test_as_of_a_time_or_a_snapshot_reads_that_version(
    lake: tuple[Settings, list[tuple[int, int]]], start_api: StartApi
) -> None:
    settings, [(first_id, first_ms), (second_id, second_ms)] = lake
    api = start_api(settings)
    now = [("105", 2), ("102", 1)]
    before = [("101", 1), ("102", 1)]
    assert closes(api) == now
    assert closes(api, as_of=str(first_id)) == before
    assert closes(api, as_of=str(second_id)) == now
    assert closes(api, as_of=iso_ms(first_ms)) == before
    assert closes(api, as_of=iso_ms(second_ms - 1)) == before
    assert closes(api, as_of=iso_ms(second_ms)) == now
    assert closes(api, as_of=dt.datetime.now(dt.UTC).isoformat()) == now


@pytest.mark.parametrize(
    ("as_of", "fragments"),
    [
        ("yesterday", ["'yesterday'", "'as_of'", "snapshot id", "2026-11-21T10:00:00Z"]),
        ("2026-13-01", ["'as_of'", "month"]),
        ("12345", ["'as_of'", "no snapshot 12345", "latest snapshots"]),
        ("2000-01-01", ["'as_of'", "no snapshot at or before 2000-01-01", "first snapshot is from"]),
    ],
)
def test_a_bad_as_of_is_a_400_saying_why(
    lake: tuple[Settings, list[tuple[int, int]]], start_api: StartApi, as_of: str, fragments: list[str]
) -> None:
    settings, _ = lake
    response = start_api(settings).get(
        "/v1/candles", params={"instrument": "BTC-USDT", "venue": "binance", "as_of": as_of}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["parameter"]) == ("invalid_as_of", "as_of")
    for fragment in fragments:
        assert fragment in error["message"]
