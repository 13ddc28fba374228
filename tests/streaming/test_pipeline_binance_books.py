"""End to end with real processes: simulator (dropping depth diffs) -> capture --venue binance -> broker -> sink.

bronze.book_updates keeps every diff and the REST snapshots, bronze.gaps the "book:<symbol>" update-id gaps the
dropped diffs made, and replaying bronze.book_updates of an instrument through streaming/book.py in Kafka offset
order ends with exactly the book the simulator holds once its trading stopped (its REST depth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testkit import free_port, wait_for_tape, wait_until

from contracts.records import BookUpdate, Level
from streaming import rest
from streaming.book import OrderBook
from streaming.venues import binance
from ticklake.lake import open_catalog
from ticklake.settings import get_settings

TOTAL = 1500
DROP_EVERY = 6
INSTRUMENTS = ["BTC-USDT", "ETH-USDT"]


def test_books_land_in_bronze_with_gaps_and_replay_to_the_simulators_book(
    broker: str, processes: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    port = free_port()
    truth_file = tmp_path / "truth.jsonl"
    for key, value in {
        "TICKLAKE_VENUES": '["binance"]',
        "TICKLAKE_INSTRUMENTS": '{"binance": ["BTC-USDT", "ETH-USDT"]}',
        "TICKLAKE_SIM_PORT": str(port),
        "TICKLAKE_SIM_RATE": "100",
        "TICKLAKE_SIM_MAX_TRADES": str(TOTAL),
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth_file),
        "TICKLAKE_SINK_BATCH_SECONDS": "0.3",
        "TICKLAKE_SIM_BOOK_DROP_EVERY": str(DROP_EVERY),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "binance")

    def rows(table: str) -> list[dict[str, Any]]:
        catalog = open_catalog(settings)
        if not catalog.table_exists(table):
            return []
        return catalog.load_table(table).scan().to_arrow().to_pylist()  # type: ignore[no-any-return]

    wait_for_tape(truth_file, TOTAL, 120)
    base = settings.rest_url("binance")

    def final_depth(instrument: str) -> BookUpdate:
        path, params = binance.rest_depth_request(instrument)
        return binance.parse_rest_depth(rest.get(base, path, params), 0, instrument)

    final = {instrument: final_depth(instrument) for instrument in INSTRUMENTS}  # trading has stopped

    def replayed(instrument: str) -> OrderBook:
        book = OrderBook("binance", instrument)
        updates = sorted(
            (row for row in rows("bronze.book_updates") if row["instrument"] == instrument),
            key=lambda row: (row["kafka_partition"], row["kafka_offset"]),
        )
        assert len({row["kafka_partition"] for row in updates}) <= 1  # keyed by instrument: one partition
        for row in updates:
            book.apply(
                BookUpdate(
                    venue=row["venue"],
                    instrument=row["instrument"],
                    symbol=row["symbol"],
                    kind=row["kind"],
                    bids=tuple(Level(level["price"], level["size"]) for level in row["bids"]),
                    asks=tuple(Level(level["price"], level["size"]) for level in row["asks"]),
                    ts_event=row["ts_event"],
                    ts_recv=row["ts_recv"],
                    first_sequence=row["first_sequence"],
                    sequence=row["sequence"],
                )
            )
        return book

    def converged() -> bool:
        for instrument, depth in final.items():
            book = replayed(instrument)
            wanted_bids = {level.price: level.size for level in depth.bids}
            wanted_asks = {level.price: level.size for level in depth.asks}
            if not (book.synced and book.sequence == depth.sequence):
                return False
            if (book.bids, book.asks) != (wanted_bids, wanted_asks):
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
