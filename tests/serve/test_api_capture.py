"""Capture quality over HTTP: gaps (each counted once, found or repaired) and dead letters, JSON and Prometheus."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
from conftest import StartApi

from contracts.tables import BRONZE_DEAD_LETTERS, BRONZE_GAPS, TableDef
from ticklake.lake import ensure_table, open_catalog
from ticklake.settings import Settings
from ticklake.timeutil import date_to_ns

DAY = dt.date(2026, 11, 20)
T = date_to_ns(DAY) + 3_600_000_000_000


def _append(settings: Settings, table: TableDef, rows: list[dict[str, Any]]) -> None:
    loaded = ensure_table(open_catalog(settings), table)
    for offset, row in enumerate(rows):
        row.setdefault("kafka_partition", 0)
        row.setdefault("kafka_offset", offset)
        row.setdefault("ts_ingest", row["ts_recv"])
    loaded.append(pa.Table.from_pylist(rows, schema=loaded.schema().as_arrow()))


def _gap(
    venue: str, first: int, last: int, repaired: bool, day: dt.date = DAY, stream: str = "trades:BTCUSDT"
) -> dict[str, Any]:
    return {
        "venue": venue,
        "stream": stream,
        "connection_id": "c1",
        "first_missing": first,
        "last_missing": last,
        "missing": last - first + 1,
        "repaired": repaired,
        "ts_recv": date_to_ns(day) + 1,
        "event_date": day,
    }


def _letter(venue: str, stage: str, day: dt.date = DAY) -> dict[str, Any]:
    return {
        "venue": venue,
        "stage": stage,
        "error": "truncated JSON",
        "ts_recv": date_to_ns(day) + 1,
        "payload": b'{"e":"tra',
        "connection_id": "c1",
        "seq": 7,
        "event_date": day,
    }


def test_capture_counts_gaps_once_and_dead_letters_by_stage(
    tmp_path: Path, start_api: StartApi, lake_settings: Callable[[Path], Settings]
) -> None:
    settings = lake_settings(tmp_path / "state")
    earlier = DAY - dt.timedelta(days=3)
    _append(
        settings,
        BRONZE_GAPS,
        [
            _gap("binance", 10, 12, False),
            _gap("binance", 10, 12, True),  # the same gap, published again once repaired
            _gap("binance", 40, 40, False),  # never repaired
            _gap("kraken", 5, 9, False, day=earlier),
            _gap("binance", 700, 702, False, stream="book:BTCUSDT"),
        ],
    )
    _append(settings, BRONZE_DEAD_LETTERS, [_letter("binance", "parse"), _letter("binance", "parse")])
    api = start_api(settings)

    body = api.get("/v1/capture").json()
    assert body["since"] is None
    assert body["venues"] == {
        "binance": {"gaps": 2, "missing": 4, "repaired_gaps": 1, "book_gaps": 1, "dead_letters": {"parse": 2}},
        "kraken": {"gaps": 1, "missing": 5, "repaired_gaps": 0, "book_gaps": 0, "dead_letters": {}},
    }
    recent = api.get("/v1/capture", params={"since": DAY.isoformat()}).json()
    assert set(recent["venues"]) == {"binance"}

    metrics = api.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    lines = set(metrics.text.splitlines())
    assert 'ticklake_gaps_total{venue="binance"} 2' in lines
    assert 'ticklake_gap_missing_total{venue="kraken"} 5' in lines
    assert 'ticklake_gaps_repaired_total{venue="binance"} 1' in lines
    assert 'ticklake_dead_letters_total{venue="binance",stage="parse"} 2' in lines
    assert 'ticklake_book_gaps_total{venue="binance"} 1' in lines


def test_capture_of_an_empty_lake_and_bad_parameters(api: httpx.Client) -> None:
    assert api.get("/v1/capture").json() == {"since": None, "venues": {}}
    assert "ticklake_gaps_total" in api.get("/metrics").text
    bad = api.get("/v1/capture", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert "since" in bad.text
