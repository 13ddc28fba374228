"""Exporting raw frames from bronze.raw_messages: one venue, one day, arrival order, bytes kept exactly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from contracts.tables import BRONZE_RAW
from streaming.raw_export import export_raw_messages
from streaming.simulator.replay import RecordedFrame, read_recording
from ticklake.lake import ensure_table, open_catalog
from ticklake.settings import Settings
from ticklake.timeutil import date_to_ns

DAY = dt.date(2026, 11, 20)


def test_export_writes_the_days_frames_of_one_venue_in_arrival_order(settings: Settings, tmp_path: Path) -> None:
    t = date_to_ns(DAY) + 1_000
    rows = [
        ("binance", t + 30, "c1", 2, b'{"third":1}', DAY),
        ("binance", t + 10, "c1", 0, b'{"first":1}', DAY),
        ("binance", t + 20, "c1", 1, b"\xff\xfe", DAY),
        ("kraken", t + 15, "c2", 0, b'{"other venue":1}', DAY),
        ("binance", t - 10**12, "c0", 0, b'{"day before":1}', DAY - dt.timedelta(days=1)),
    ]
    table = ensure_table(open_catalog(settings), BRONZE_RAW)
    records = [
        {
            "venue": venue,
            "channel": "",
            "connection_id": conn,
            "seq": seq,
            "ts_recv": ts,
            "payload": payload,
            "ts_ingest": ts,
            "kafka_partition": 0,
            "kafka_offset": i,
            "event_date": day,
        }
        for i, (venue, ts, conn, seq, payload, day) in enumerate(rows)
    ]
    table.append(pa.Table.from_pylist(records, schema=table.schema().as_arrow()))
    out = tmp_path / "out" / "binance.jsonl"

    assert export_raw_messages(open_catalog(settings), "binance", DAY, out) == 3
    with out.open(encoding="utf-8") as lines:
        assert read_recording(lines) == {
            "binance": [
                RecordedFrame("binance", t + 10, '{"first":1}'),
                RecordedFrame("binance", t + 20, b"\xff\xfe"),
                RecordedFrame("binance", t + 30, '{"third":1}'),
            ]
        }
    assert export_raw_messages(open_catalog(settings), "binance", DAY, out, limit=1) == 1
    assert export_raw_messages(open_catalog(settings), "polymarket", DAY, out) == 0
