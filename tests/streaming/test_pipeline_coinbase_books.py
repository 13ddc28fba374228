"""End to end with real processes: simulator (losing level2 updates) -> capture --venue coinbase -> broker -> sink.

The simulator loses every Nth level2 update of each book: the frame takes its ``sequence_num`` but is never sent. The
collector sees the jump on the connection's ``frames`` stream (bronze.gaps), cannot tell which book lost an update, so
records a ``book:<product>`` gap for every book and resubscribes ``level2`` for each; the venue answers with new
snapshots. Replaying bronze.book_updates of an instrument in Kafka offset order through streaming/book.py ends with
exactly the book the simulator holds once its trading stopped (what a fresh level2 subscription's snapshot shows).
bronze.tickers holds the tickers (the last one is the final top of the book and the last price), and every trade
lands in bronze.trades exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from testkit import book_sides, bronze_rows, instrument_rows, pipeline_env, replay_book, wait_for_tape, wait_until
from websockets.asyncio.client import connect

from contracts.records import BookUpdate
from streaming.venues import coinbase
from ticklake.settings import Settings

TOTAL = 1500
DROP_EVERY = 25
INSTRUMENTS = ["BTC-USD", "ETH-USD"]


def final_books(settings: Settings) -> dict[str, BookUpdate]:
    """The simulator's books, from the snapshots a fresh ``level2`` subscription starts with."""

    async def fetch() -> dict[str, BookUpdate]:
        async with connect(settings.ws_url("coinbase")) as ws:
            await ws.send(coinbase.subscribe_message(INSTRUMENTS, "level2"))
            books: dict[str, BookUpdate] = {}
            while len(books) < len(INSTRUMENTS):
                for record in coinbase.parse(await ws.recv(), 0).records:
                    assert isinstance(record, BookUpdate) and record.kind == "snapshot"
                    books[record.instrument] = record
            return books

    return asyncio.run(asyncio.wait_for(fetch(), 15))


def test_coinbase_books_and_tickers_land_in_bronze_with_frame_gaps_resynced_by_resubscribing(
    broker: str, processes: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    settings, truth_file = pipeline_env(
        monkeypatch, tmp_path, "coinbase", INSTRUMENTS, rate=250, total=TOTAL, book_drop_every=DROP_EVERY
    )
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "coinbase")

    def rows(table: str, *fields: str) -> list[dict[str, Any]]:
        return bronze_rows(settings, table, *fields)

    truth = wait_for_tape(truth_file, TOTAL, 60)
    assert all(line["sent"] for line in truth)
    final = final_books(settings)  # trading has stopped: the books change no more

    def converged() -> bool:
        for instrument, snapshot in final.items():
            book, _ = replay_book(instrument_rows(rows("bronze.book_updates"), instrument), "coinbase", instrument)
            if not book.synced or (book.bids, book.asks) != book_sides(snapshot):
                return False
        return True

    wait_until(converged, 45, "bronze.book_updates to replay to the simulator's final books")
    updates = rows("bronze.book_updates")
    assert {row["venue"] for row in updates} == {"coinbase"}
    assert all(row["sequence"] is None for row in updates)  # sequence_num is the connection's, not the book's
    snapshots = Counter(row["instrument"] for row in updates if row["kind"] == "snapshot")
    deltas = Counter(row["instrument"] for row in updates if row["kind"] == "delta")
    for instrument in INSTRUMENTS:
        assert snapshots[instrument] >= 2 and deltas[instrument] > 10 * snapshots[instrument]

    # Frame gaps: exactly the holes in the sequence_num of the frames captured on each connection.
    def frame_holes() -> set[tuple[str, int, int]]:
        numbers: dict[str, list[int]] = defaultdict(list)
        for row in rows("bronze.raw_messages", "venue", "connection_id", "payload"):
            message = json.loads(row["payload"])
            if "sequence_num" in message:
                numbers[row["connection_id"]].append(message["sequence_num"])
        holes = set()
        for connection, seen in numbers.items():
            seen.sort()
            assert seen[0] == 0 and len(seen) == len(set(seen))
            holes |= {(connection, a + 1, b - 1) for a, b in itertools.pairwise(seen) if b > a + 1}
        return holes

    def gap_rows() -> list[dict[str, Any]]:
        return rows("bronze.gaps")

    wait_until(
        lambda: (
            {(r["connection_id"], r["first_missing"], r["last_missing"]) for r in gap_rows() if r["stream"] == "frames"}
            == frame_holes()
        ),
        30,
        "bronze.gaps to hold exactly the frames the connection lost",
    )
    gaps = gap_rows()
    frames = {(r["connection_id"], r["first_missing"], r["last_missing"]) for r in gaps if r["stream"] == "frames"}
    assert len(frames) >= 3 and all(not r["repaired"] for r in gaps if r["stream"] == "frames")
    books = [r for r in gaps if r["stream"].startswith("book:")]
    assert {r["stream"] for r in books} == {"book:BTC-USD", "book:ETH-USD"}
    for row in books:  # each book gap is a frame gap that left that book unknown
        assert (row["connection_id"], row["first_missing"], row["last_missing"]) in frames
        assert row["venue"] == "coinbase" and row["missing"] == row["last_missing"] - row["first_missing"] + 1
    assert {r["stream"] for r in gaps} == {"frames", "book:BTC-USD", "book:ETH-USD"}  # no trade was lost

    # Tickers: the last one of each product is the final top of the book and last price (the bus keeps no volume).
    wait_until(lambda: {r["instrument"] for r in rows("bronze.tickers")} == set(INSTRUMENTS), 30, "bronze.tickers")
    for instrument, snapshot in final.items():
        tape = [line for line in truth if line["instrument"] == instrument]
        last = instrument_rows(rows("bronze.tickers"), instrument)[-1]
        assert (last["best_bid"], last["best_bid_size"]) == (snapshot.bids[0].price, snapshot.bids[0].size)
        assert (last["best_ask"], last["best_ask_size"]) == (snapshot.asks[0].price, snapshot.asks[0].size)
        assert last["last_price"] == Decimal(tape[-1]["price"]) and last["venue"] == "coinbase"
    assert not [r for r in rows("bronze.lifecycle") if r["venue"] == "coinbase"]  # Coinbase sends none here

    # Trades are unaffected: every trade of the tape is in bronze.trades, once, as the parser reads it.
    def stored() -> list[dict[str, Any]]:
        return rows("bronze.trades", "venue", "symbol", "trade_id", "price", "size", "side", "ts_event")

    wait_until(lambda: len(stored()) >= TOTAL, 30, "every trade in bronze.trades")
    trades = stored()
    by_id = {(line["symbol"], line["trade_id"]): line for line in truth}
    assert Counter((row["symbol"], row["trade_id"]) for row in trades) == Counter(dict.fromkeys(by_id, 1))
    for row in trades:
        line = by_id[(row["symbol"], row["trade_id"])]
        assert (row["price"], row["size"], row["side"], row["ts_event"]) == (
            Decimal(line["price"]),
            Decimal(line["size"]),
            line["side"],
            line["ts_event"],
        )
