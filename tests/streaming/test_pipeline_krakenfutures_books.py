"""End to end with real processes: simulator (dropping ``book`` messages) -> capture --venue krakenfutures -> broker
-> sink.

Every dropped ``book`` message is a ``seq`` gap that the collector's book reducer finds per product: bronze.gaps has
``book:<product_id>`` rows for exactly seqs no captured message carried, and the collector resubscribes that
product's book for a new ``book_snapshot``. Replaying bronze.book_updates of an instrument through
streaming/book.py in Kafka offset order ends with exactly the book the simulator holds once trading stopped (the
``book_snapshot`` a fresh subscription gets). bronze.tickers holds the ``ticker`` messages as the parser reads them,
the last one the final market, and every trade still lands exactly once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from testkit import (
    book_sides,
    bronze_rows,
    in_offset_order,
    instrument_rows,
    pipeline_env,
    replay_book,
    wait_for_tape,
    wait_until,
)
from websockets.asyncio.client import connect

from contracts.records import BookUpdate, Ticker
from streaming.venues import krakenfutures
from ticklake.settings import Settings

VENUE = "krakenfutures"
TOTAL = 1500
DROP_EVERY = 150
INSTRUMENTS = ["BTC-USD-PERP", "ETH-USD-PERP"]
PRODUCTS = ["PF_XBTUSD", "PF_ETHUSD"]
TICKER_FIELDS = (
    "best_bid",
    "best_bid_size",
    "best_ask",
    "best_ask_size",
    "last_price",
    "volume_24h",
    "funding_rate",
    "mark_price",
    "index_price",
    "open_interest",
)


def final_books(settings: Settings) -> dict[str, BookUpdate]:
    """The simulator's books, from the ``book_snapshot`` of a fresh subscription (trading has stopped)."""

    async def fetch() -> dict[str, BookUpdate]:
        async with connect(settings.ws_url(VENUE).rstrip("/") + "/ws/v1") as ws:
            await ws.send(krakenfutures.subscribe_message("book", PRODUCTS))
            books: dict[str, BookUpdate] = {}
            while len(books) < len(PRODUCTS):
                for record in krakenfutures.parse(await ws.recv(), 0).records:
                    assert isinstance(record, BookUpdate) and record.kind == "snapshot"
                    books[record.instrument] = record
            return books

    return asyncio.run(asyncio.wait_for(fetch(), 10))


def test_book_gaps_resubscribe_and_bronze_replays_to_the_simulators_books(
    broker: str, processes: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    settings, truth_file = pipeline_env(
        monkeypatch, tmp_path, VENUE, INSTRUMENTS, rate=200, total=TOTAL, book_drop_every=DROP_EVERY
    )
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", VENUE)

    def rows(table: str) -> list[dict[str, Any]]:
        return [row for row in bronze_rows(settings, table) if row["venue"] == VENUE]

    truth = wait_for_tape(truth_file, TOTAL, 60)
    final = final_books(settings)  # the tape is complete: trading has stopped, the books change no more

    def converged() -> bool:
        updates = rows("bronze.book_updates")
        for instrument, snapshot in final.items():
            book, _ = replay_book(instrument_rows(updates, instrument), VENUE, instrument)
            if not (book.synced and book.sequence == snapshot.sequence):
                return False
            if (book.bids, book.asks) != book_sides(snapshot):
                return False
        return True

    wait_until(converged, 40, "bronze.book_updates to replay to the simulator's final books")
    updates = rows("bronze.book_updates")
    snapshots = Counter(row["symbol"] for row in updates if row["kind"] == "snapshot")
    assert set(snapshots) == set(PRODUCTS) and all(count >= 2 for count in snapshots.values())  # resubscribed
    deltas = [row for row in updates if row["kind"] == "delta"]
    assert all(row["prev_sequence"] == row["sequence"] - 1 == row["first_sequence"] - 1 for row in deltas)
    assert all(len(row["bids"]) + len(row["asks"]) == 1 for row in deltas)  # one level per message
    gaps = [row for row in rows("bronze.gaps") if row["stream"].startswith("book:")]
    assert {row["stream"] for row in gaps} == {f"book:{product}" for product in PRODUCTS}
    captured = {(row["symbol"], row["sequence"]) for row in deltas}
    for row in gaps:  # a dropped message: one seq, which no captured message carries
        symbol = row["stream"].removeprefix("book:")
        assert row["missing"] == row["last_missing"] - row["first_missing"] + 1 == 1
        assert (symbol, row["first_missing"]) not in captured
    # every resubscription's snapshot is newer than the gap that asked for it
    for product in PRODUCTS:
        product_gaps = sorted(row["first_missing"] for row in gaps if row["stream"] == f"book:{product}")
        product_snapshots = sorted(
            row["sequence"] for row in updates if row["symbol"] == product and row["kind"] == "snapshot"
        )
        assert len(product_snapshots) >= len(product_gaps) + 1
        assert all(any(seq > missing for seq in product_snapshots) for missing in product_gaps)

    # Tickers: bronze.tickers is what the parser reads from the ticker frames; the last one is the final market.
    def ticker_key(record: dict[str, Any] | Ticker) -> tuple[Any, ...]:
        values = record if isinstance(record, dict) else {name: getattr(record, name) for name in TICKER_FIELDS}
        stamp = record["ts_event"] if isinstance(record, dict) else record.ts_event
        symbol = record["symbol"] if isinstance(record, dict) else record.symbol
        return (symbol, stamp, *(values[name] for name in TICKER_FIELDS))

    def raw_tickers() -> set[tuple[Any, ...]]:
        frames = [row for row in rows("bronze.raw_messages") if row["channel"].startswith("ticker:")]
        return {ticker_key(t) for row in frames for t in krakenfutures.parse(row["payload"], 0).records}  # type: ignore[arg-type]

    def last_tickers_final() -> bool:
        tickers = in_offset_order(rows("bronze.tickers"))
        for product, instrument in zip(PRODUCTS, INSTRUMENTS, strict=True):
            own = [row for row in tickers if row["symbol"] == product]
            lines = [line for line in truth if line["symbol"] == product]
            if not own or own[-1]["volume_24h"] != sum(Decimal(line["size"]) for line in lines):
                return False
            last, book = own[-1], final[instrument]
            assert last["last_price"] == last["index_price"] == Decimal(lines[-1]["price"])
            assert (last["best_bid"], last["best_bid_size"]) == (book.bids[0].price, book.bids[0].size)
            assert (last["best_ask"], last["best_ask_size"]) == (book.asks[0].price, book.asks[0].size)
            assert last["mark_price"] == (book.bids[0].price + book.asks[0].price) / 2
        return True

    wait_until(last_tickers_final, 20, "the last tickers (sent when trading stopped) in bronze.tickers")
    wait_until(lambda: {ticker_key(row) for row in rows("bronze.tickers")} == raw_tickers(), 20, "bronze.tickers")
    tickers = rows("bronze.tickers")
    assert len(tickers) == len({ticker_key(row) for row in tickers}) >= 2 * len(PRODUCTS)
    assert {row["instrument"] for row in tickers} == set(INSTRUMENTS)

    # Trades are unaffected: every trade of the tape (none lost) lands in bronze.trades exactly once.
    expected = Counter((line["symbol"], line["trade_id"]) for line in truth)
    assert set(expected.values()) == {1} and all(line["sent"] for line in truth)

    def stored() -> Counter[tuple[str, str]]:
        return Counter((row["symbol"], row["trade_id"]) for row in rows("bronze.trades"))

    wait_until(lambda: stored() == expected, 20, "every trade in bronze.trades exactly once")
