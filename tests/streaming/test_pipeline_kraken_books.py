"""End to end on Kraken books with real processes: simulator (dropping book updates) -> capture --venue kraken ->
broker -> sink.

Kraken books carry no sequence number: a dropped update shows as the next update's checksum mismatch, which the
collector records in bronze.gaps (``book:<symbol>``) and heals by resubscribing (a fresh snapshot on the stream).
Replaying bronze.book_updates of a pair in Kafka offset order through streaming/book.py, with Kraken's depth 10 and
CRC32, ends with exactly the simulator's final book, which is computed here independently: the simulated book is a
pure function of the seed and the tape (the ground truth). bronze.tickers ends with that book's top, the last price
and the volume of the tape; bronze.lifecycle holds the venue status; every trade lands once.
"""

from __future__ import annotations

import functools
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from testkit import bronze_rows, in_offset_order, pipeline_env, replay_book, wait_for_tape, wait_until

from streaming.book import OrderBook
from streaming.simulator import kraken_wire
from streaming.simulator.books import BookSnapshot, SimBook, text
from streaming.simulator.market import SimTrade
from streaming.venues import kraken

TOTAL = 1500
DROP_EVERY = 25
INSTRUMENTS = ["BTC-USD", "ETH-USD"]
SYMBOLS = {"BTC-USD": "BTC/USD", "ETH-USD": "ETH/USD"}


def truth_books(seed: int, truth: list[dict[str, Any]]) -> dict[str, BookSnapshot]:
    """The simulator's final top-10 books: its pure book model driven by the whole tape, in the tape's order."""
    books = {instrument: SimBook(seed, instrument) for instrument in INSTRUMENTS}
    for line in truth:
        trade = SimTrade(
            line["instrument"], int(line["trade_id"]), 0, line["price"], line["size"], line["side"], line["ts_event"]
        )
        books[line["instrument"]].on_trade(trade)
    return {instrument: book.snapshot(10) for instrument, book in books.items()}


def levels(pairs: tuple[tuple[int, int], ...]) -> dict[Decimal, Decimal]:
    return {Decimal(text(price)): Decimal(text(qty)) for price, qty in pairs}


def test_kraken_books_land_in_bronze_with_checksum_gaps_and_replay_to_the_simulators_book(
    broker: str, processes: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    settings, truth_file = pipeline_env(
        monkeypatch, tmp_path, "kraken", INSTRUMENTS, rate=250, total=TOTAL, book_drop_every=DROP_EVERY
    )
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "kraken")

    def rows(table: str) -> list[dict[str, Any]]:
        return in_offset_order(bronze_rows(settings, table))

    truth = wait_for_tape(truth_file, TOTAL, 40)
    assert {line["instrument"] for line in truth} == set(INSTRUMENTS) and all(line["sent"] for line in truth)
    final = truth_books(settings.sim_seed, truth)

    def replayed(instrument: str, updates: list[dict[str, Any]]) -> tuple[OrderBook, Counter[str]]:
        # bronze keeps decimal(38, 18): the wire's digits are gone, so the checksum needs the pair's precisions
        checksum = functools.partial(
            kraken.book_checksum,
            price_precision=kraken_wire.price_precision(instrument),
            qty_precision=kraken_wire.QTY_PRECISION,
        )
        return replay_book(updates, "kraken", instrument, depth=10, checksum=checksum)

    def converged() -> bool:
        updates = rows("bronze.book_updates")
        for instrument in INSTRUMENTS:
            book, _ = replayed(instrument, updates)
            wanted = (levels(final[instrument].bids), levels(final[instrument].asks))
            if not book.synced or (book.bids, book.asks) != wanted:
                return False
        return True

    wait_until(converged, 30, "bronze.book_updates to replay to the simulator's final books")
    updates = rows("bronze.book_updates")
    assert len({row["kafka_partition"] for row in updates if row["instrument"] == "BTC-USD"}) == 1

    def book_gaps() -> list[dict[str, Any]]:
        return [row for row in rows("bronze.gaps") if row["stream"].startswith("book:")]

    # Every checksum mismatch is one gap row and one resubscription, i.e. one more snapshot.
    def gaps_match_snapshots() -> bool:
        snapshots = Counter(row["symbol"] for row in rows("bronze.book_updates") if row["kind"] == "snapshot")
        gaps = Counter(row["stream"].removeprefix("book:") for row in book_gaps())
        return all(snapshots[symbol] == 1 + gaps[symbol] >= 2 for symbol in SYMBOLS.values())

    wait_until(gaps_match_snapshots, 20, "a book:<symbol> gap row and a new snapshot per checksum mismatch")
    for row in book_gaps():
        assert row["venue"] == "kraken" and row["missing"] == 0  # a checksum says nothing of update ids
    for instrument in INSTRUMENTS:
        _, statuses = replayed(instrument, updates)
        mismatches = statuses["delta:checksum_mismatch"]
        snapshots = statuses["snapshot:ok"]
        assert mismatches >= 1 and snapshots == 1 + mismatches, statuses  # each gap healed by a fresh snapshot
        assert statuses["delta:ok"] > 50 and set(statuses) <= {
            "snapshot:ok",
            "delta:ok",
            "delta:checksum_mismatch",
            "delta:unsynced",  # held back after a mismatch, published before the snapshot that replaced them
        }, statuses

    # bronze.tickers: the last ticker of each pair is the final book's top, the last price and the tape's volume.
    def tickers_final() -> bool:
        last = {row["instrument"]: row for row in rows("bronze.tickers")}
        for instrument in INSTRUMENTS:
            row = last.get(instrument)
            tape = [line for line in truth if line["instrument"] == instrument]
            bid, ask = final[instrument].bids[0], final[instrument].asks[0]
            if row is None or (row["best_bid"], row["best_bid_size"], row["best_ask"], row["best_ask_size"]) != (
                Decimal(text(bid[0])),
                Decimal(text(bid[1])),
                Decimal(text(ask[0])),
                Decimal(text(ask[1])),
            ):
                return False
            if row["last_price"] != Decimal(tape[-1]["price"]):
                return False
            if row["volume_24h"] != sum((Decimal(line["size"]) for line in tape), Decimal(0)):
                return False
        return True

    wait_until(tickers_final, 20, "bronze.tickers to end with the final top of book, last price and volume")
    tickers = rows("bronze.tickers")
    assert {row["symbol"] for row in tickers} == set(SYMBOLS.values()) and len(tickers) > 50
    assert all(row["venue"] == "kraken" and row["best_bid"] < row["best_ask"] for row in tickers)

    # bronze.lifecycle: the venue status the simulator greets each connection with.
    wait_until(lambda: rows("bronze.lifecycle"), 20, "bronze.lifecycle to hold the venue status")
    for row in rows("bronze.lifecycle"):
        assert (row["venue"], row["instrument"], row["event"], row["status"]) == ("kraken", "*", "status", "online")

    # Trades are unaffected: every trade of the tape is in bronze.trades, exactly once.
    expected = {(line["symbol"], line["trade_id"]) for line in truth}

    def trades() -> Counter[tuple[str, str]]:
        return Counter((row["symbol"], row["trade_id"]) for row in rows("bronze.trades"))

    wait_until(lambda: set(trades()) == expected, 20, "every trade in bronze.trades")
    assert max(trades().values()) == 1, "a trade was written twice"
    assert not [row for row in rows("bronze.gaps") if row["stream"].startswith("trades:")]
