"""End to end with real processes: simulator (dropping orderbook deltas) -> capture --venue kalshi -> broker -> sink.

bronze.gaps holds the "book:<ticker>" gaps the dropped deltas made (the collector resubscribed those books), and
replaying bronze.book_updates of a market through streaming/book.py in Kafka offset order ends with exactly the book
the simulator holds once its trading stopped (a fresh orderbook_snapshot on a new connection).
bronze.tickers holds the ticker_v2 updates (the last one is the final quote), bronze.lifecycle the events and markets
created, determined and settled, and every trade of the tape lands in bronze.trades exactly once.
"""

from __future__ import annotations

import asyncio
import time
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

from contracts.records import BookUpdate
from streaming.feeds.kalshi_keys import resolve_key
from streaming.simulator import kalshi_wire
from streaming.venues import kalshi
from ticklake.settings import Settings

TOTAL = 1500
DROP_EVERY = 40
INSTRUMENTS = ["KALSHI:KXBTCD-26NOV2117-T95999.99", "KALSHI:KXETHD-26NOV2117-T3499.99"]


def final_books(settings: Settings) -> dict[str, BookUpdate]:
    """The simulator's books now, as a new subscriber's orderbook_snapshot shows them."""
    key_id, pem = resolve_key(settings)
    tickers = [kalshi.to_symbol(i) for i in INSTRUMENTS]

    async def snapshots() -> dict[str, BookUpdate]:
        headers = kalshi.auth_headers(key_id, pem, time.time_ns() // 1_000_000)
        async with connect(settings.ws_url("kalshi") + kalshi.WS_PATH, additional_headers=headers) as ws:
            await ws.send(kalshi.subscribe_message(["orderbook_delta"], tickers, 1))
            found: dict[str, BookUpdate] = {}
            while len(found) < len(tickers):
                for record in kalshi.parse(await ws.recv(), 0).records:
                    assert isinstance(record, BookUpdate) and record.kind == "snapshot", "trading has stopped"
                    found[record.instrument] = record
            return found

    return asyncio.run(asyncio.wait_for(snapshots(), 30))


def test_kalshi_books_tickers_and_lifecycle_land_in_bronze_and_books_replay_to_the_simulators(
    broker: str, processes: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    settings, truth_file = pipeline_env(
        monkeypatch, tmp_path, "kalshi", INSTRUMENTS, rate=250, total=TOTAL, book_drop_every=DROP_EVERY
    )
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "kalshi")

    def rows(table: str) -> list[dict[str, Any]]:
        return bronze_rows(settings, table)

    truth = wait_for_tape(truth_file, TOTAL, 60)
    assert all(line["sent"] for line in truth)  # no trade fault: every trade went out
    final = final_books(settings)  # trading has stopped: the books change no more

    def converged() -> bool:
        updates = rows("bronze.book_updates")
        for instrument, snapshot in final.items():
            book, _ = replay_book(instrument_rows(updates, instrument), "kalshi", instrument)
            if not book.synced or (book.bids, book.asks) != book_sides(snapshot):
                return False
        return True

    wait_until(converged, 60, "bronze.book_updates to replay to the simulator's final books")
    updates = rows("bronze.book_updates")
    kinds = Counter((row["instrument"], row["kind"]) for row in updates)
    assert set(kinds) == {(i, kind) for i in INSTRUMENTS for kind in ("snapshot", "increment")}
    gaps = [row for row in rows("bronze.gaps") if row["stream"].startswith("book:")]
    assert {row["stream"] for row in gaps} == {f"book:{kalshi.to_symbol(i)}" for i in INSTRUMENTS}
    assert len(gaps) >= 10  # about 2.4 level changes per trade, one in DROP_EVERY never sent
    for row in gaps:  # one dropped delta is one seq of its market's own sid
        assert row["venue"] == "kalshi" and row["missing"] == row["last_missing"] - row["first_missing"] + 1 == 1
    for instrument in INSTRUMENTS:  # the first snapshot of each book, then one per resubscription after a gap
        resyncs = sum(row["stream"] == f"book:{kalshi.to_symbol(instrument)}" for row in gaps)
        assert kinds[(instrument, "snapshot")] == 1 + resyncs
    assert not [row for row in rows("bronze.gaps") if not row["stream"].startswith("book:")]  # trades lost nothing

    # Tickers: the last ticker_v2 of each market is its final quote and last trade.
    def tickers() -> list[dict[str, Any]]:
        return in_offset_order(rows("bronze.tickers"))

    last_trade = {line["instrument"]: line for line in truth}
    wait_until(
        lambda: (
            {row["instrument"]: row["last_price"] for row in tickers()}
            == {i: Decimal(line["price"]) for i, line in last_trade.items()}
        ),
        30,
        "the last ticker of each market in bronze.tickers",
    )
    for instrument, snapshot in final.items():
        last = [row for row in tickers() if row["instrument"] == instrument][-1]
        assert (last["best_bid"], last["best_ask"]) == (snapshot.bids[0].price, snapshot.asks[0].price)

    # Lifecycle: each event created, each market created, determined and settled.
    expected = {(kalshi_wire.event_ticker_of(i), "created", "event_created") for i in INSTRUMENTS} | {
        (kalshi.to_symbol(i), event, event) for i in INSTRUMENTS for event in ("created", "determined", "settled")
    }

    def lifecycle() -> Counter[tuple[str, str, str]]:
        return Counter((row["symbol"], row["event"], row["status"]) for row in rows("bronze.lifecycle"))

    wait_until(lambda: set(lifecycle()) == expected, 30, "the lifecycle events in bronze.lifecycle")
    assert max(lifecycle().values()) == 1
    results = {row["symbol"]: row["result"] for row in rows("bronze.lifecycle") if row["status"] == "determined"}
    assert results == {
        kalshi.to_symbol(i): "yes" if Decimal(line["price"]) >= Decimal("0.5") else "no"
        for i, line in last_trade.items()
    }

    # Trades are unaffected: every trade of the tape is in bronze.trades, once.
    def stored() -> Counter[tuple[str, str]]:
        return Counter((row["symbol"], row["trade_id"]) for row in rows("bronze.trades"))

    wanted_trades = {(line["symbol"], line["trade_id"]) for line in truth}
    wait_until(lambda: set(stored()) == wanted_trades, 30, "every trade in bronze.trades")
    assert max(stored().values()) == 1
