"""End to end with real processes: simulator (dropping depth diffs) -> capture --venue binance -> broker -> sink.

bronze.book_updates keeps every diff and the REST snapshots, bronze.gaps the "book:<symbol>" update-id gaps the
dropped diffs made, and replaying bronze.book_updates of an instrument through streaming/book.py in Kafka offset
order ends with exactly the book the simulator holds once its trading stopped (its REST depth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testkit import book_sides, bronze_rows, instrument_rows, pipeline_env, replay_book, wait_for_tape, wait_until

from contracts.records import BookUpdate
from streaming import rest
from streaming.venues import binance

TOTAL = 1500
DROP_EVERY = 6
INSTRUMENTS = ["BTC-USDT", "ETH-USDT"]


def test_books_land_in_bronze_with_gaps_and_replay_to_the_simulators_book(
    broker: str, processes: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    settings, truth_file = pipeline_env(
        monkeypatch, tmp_path, "binance", INSTRUMENTS, rate=100, total=TOTAL, book_drop_every=DROP_EVERY
    )
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "binance")

    def rows(table: str) -> list[dict[str, Any]]:
        return bronze_rows(settings, table)

    wait_for_tape(truth_file, TOTAL, 120)
    base = settings.rest_url("binance")

    def final_depth(instrument: str) -> BookUpdate:
        path, params = binance.rest_depth_request(instrument)
        return binance.parse_rest_depth(rest.get(base, path, params), 0, instrument)

    final = {instrument: final_depth(instrument) for instrument in INSTRUMENTS}  # trading has stopped

    def converged() -> bool:
        for instrument, depth in final.items():
            book, _ = replay_book(instrument_rows(rows("bronze.book_updates"), instrument), "binance", instrument)
            if not (book.synced and book.sequence == depth.sequence):
                return False
            if (book.bids, book.asks) != book_sides(depth):
                return False
        return True

    wait_until(converged, 90, "bronze.book_updates to replay to the simulator's final books")
    updates = rows("bronze.book_updates")
    kinds = {(row["instrument"], row["kind"]) for row in updates}
    assert {(i, "snapshot") for i in INSTRUMENTS} | {(i, "delta") for i in INSTRUMENTS} <= kinds
    snapshots = [row for row in updates if row["kind"] == "snapshot"]
    assert len(snapshots) > len(INSTRUMENTS)  # the first sync of each book, then resyncs after the gaps
    gaps = [row for row in rows("bronze.gaps") if row["stream"].startswith("book:")]
    assert {row["stream"] for row in gaps} == {"book:BTCUSDT", "book:ETHUSDT"}
    for row in gaps:
        assert row["venue"] == "binance" and row["missing"] == row["last_missing"] - row["first_missing"] + 1 >= 1
    # Each gap's missing ids are exactly those that no captured diff carried.
    deltas = [row for row in updates if row["kind"] == "delta"]
    for row in gaps:
        instrument = binance.to_instrument(row["stream"].removeprefix("book:"))
        covering = [
            d
            for d in deltas
            if d["instrument"] == instrument
            and d["first_sequence"] <= row["last_missing"]
            and d["sequence"] >= row["first_missing"]
        ]
        assert not covering, f"a captured diff covers the gap {row}"
    # Trades are unaffected: every trade the wire sent is in bronze, once.
    trade_ids = [(row["symbol"], row["trade_id"]) for row in rows("bronze.trades")]
    assert len(trade_ids) == len(set(trade_ids))
