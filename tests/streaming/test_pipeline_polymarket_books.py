"""End to end with real processes: simulator (dropping price_change messages) -> capture --venue polymarket -> broker
-> sink.

Polymarket numbers nothing: a lost price_change shows only when a later one reports a top of book the collector's
book does not have (the feed's top-of-book checksum). Each such mismatch is a "book:<asset>" row in bronze.gaps and a
resubscription the venue answers with the asset's book. Replaying bronze.book_updates of an asset through
streaming/book.py (with the same checksum) in Kafka offset order meets exactly those mismatches and ends with the
simulator's final book; bronze.tickers ends with the final top of book, bronze.lifecycle holds the markets' creation
and resolution, and every trade lands in bronze.trades exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from testkit import (
    book_sides,
    bronze_rows,
    complete_jsonl,
    instrument_rows,
    pipeline_env,
    replay_book,
    wait_for_tape,
    wait_until,
)

from contracts.records import BookUpdate
from streaming import rest
from streaming.book import OrderBook
from streaming.simulator import polymarket_wire
from streaming.venues import polymarket
from streaming.venues.polymarket import top_of_book_checksum
from ticklake.settings import DEFAULT_INSTRUMENTS

TOTAL = 1500
DROP_EVERY = 10
A, B = DEFAULT_INSTRUMENTS["polymarket"]  # the Yes and No tokens of one simulated market
INSTRUMENTS = [A, B]


def test_books_land_in_bronze_with_top_of_book_gaps_and_replay_to_the_simulators_book(
    broker: str, processes: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    settings, truth_file = pipeline_env(  # the default instruments; rate 150 per instrument: 300 trades/s
        monkeypatch, tmp_path, "polymarket", None, rate=150, total=TOTAL, book_drop_every=DROP_EVERY
    )
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "polymarket")  # retries until the simulator listens

    def rows(table: str) -> list[dict[str, Any]]:
        return bronze_rows(settings, table)

    wait_for_tape(truth_file, TOTAL, 60)
    base = settings.rest_url("polymarket")

    def final_book(instrument: str) -> tuple[BookUpdate, Decimal]:
        path, params = polymarket.rest_book_request(instrument, base_url="")
        body = rest.get(base, path, params)
        return polymarket.parse_rest_book(body, 0, instrument), Decimal(json.loads(body)["last_trade_price"])

    final = {instrument: final_book(instrument) for instrument in INSTRUMENTS}  # trading has stopped

    def replayed(instrument: str) -> tuple[OrderBook, Counter[str]]:
        updates = instrument_rows(rows("bronze.book_updates"), instrument)
        return replay_book(updates, "polymarket", instrument, checksum=top_of_book_checksum)

    def converged() -> bool:
        for instrument, (depth, _) in final.items():
            book, _ = replayed(instrument)
            if not book.synced or (book.bids, book.asks) != book_sides(depth):
                return False
        return True

    wait_until(converged, 60, "bronze.book_updates to replay to the simulator's final books")
    wait_until(
        lambda: (
            {(row["instrument"], row["event"]) for row in rows("bronze.lifecycle")}
            >= {(i, event) for i in INSTRUMENTS for event in ("created", "settled")}
        ),
        30,
        "the markets' creation and resolution in bronze.lifecycle",
    )

    # Books: the asset's book after every trade (snapshots) and the order events between (deltas, each with
    # the venue's top of book as its checksum).
    updates = rows("bronze.book_updates")
    kinds = Counter((row["instrument"], row["kind"]) for row in updates)
    for instrument in INSTRUMENTS:
        assert kinds[(instrument, "snapshot")] > 100 and kinds[(instrument, "delta")] > 100
    assert all(row["checksum"] is not None for row in updates if row["kind"] == "delta")
    assert all(row["checksum"] is None and row["sequence"] is None for row in updates if row["kind"] == "snapshot")

    # Gaps: each top-of-book mismatch is a book gap of its asset (no update id is known to be missing), and the
    # replay with the same checksum meets exactly as many mismatches: the bronze rows are what the collector saw.
    gaps = [row for row in rows("bronze.gaps") if row["venue"] == "polymarket"]
    assert {row["stream"] for row in gaps} == {f"book:{polymarket.to_symbol(i)}" for i in INSTRUMENTS}
    assert all((row["first_missing"], row["last_missing"], row["missing"]) == (0, 0, 0) for row in gaps)
    for instrument in INSTRUMENTS:
        _, statuses = replayed(instrument)
        mismatches = statuses["delta:checksum_mismatch"]
        assert mismatches == sum(row["stream"] == f"book:{polymarket.to_symbol(instrument)}" for row in gaps) > 0
        assert statuses["delta:ok"] > 10 * mismatches
        assert set(statuses) <= {"snapshot:ok", "delta:ok", "delta:unsynced", "delta:checksum_mismatch"}
    # The resubscriptions were answered: besides the books opening the connection, arrays of one asset's book.
    raw = sorted((row for row in rows("bronze.raw_messages") if row["venue"] == "polymarket"), key=lambda r: r["seq"])
    assert len({row["connection_id"] for row in raw}) == 1  # no reconnect: one connection, frames numbered by seq
    frames = [bytes(row["payload"]) for row in raw]
    answers = [json.loads(frame) for frame in frames if frame.startswith(b"[")][1:]
    assert 0 < len(answers) <= len(gaps) and all(len(answer) == 1 for answer in answers)

    # Tickers (price_change tops and best_bid_ask): each asset's last one is its final top of book.
    for instrument, (depth, _) in final.items():
        tickers = instrument_rows(rows("bronze.tickers"), instrument)
        assert len(tickers) > 100
        top = (depth.bids[-1].price if depth.bids else None, depth.asks[-1].price if depth.asks else None)
        assert (tickers[-1]["best_bid"], tickers[-1]["best_ask"]) == top  # best last in the venue's order

    # Lifecycle: the market was created once (both outcomes) and resolved to the outcome with the higher last price.
    lifecycle = [row for row in rows("bronze.lifecycle") if row["event"] in ("created", "settled")]
    assert Counter((row["instrument"], row["event"]) for row in lifecycle) == {
        (i, event): 1 for i in INSTRUMENTS for event in ("created", "settled")
    }
    market = polymarket_wire.sim_markets(INSTRUMENTS)[A]
    winner = A if final[A][1] >= final[B][1] else B
    for row in lifecycle:
        details = json.loads(row["details"])
        assert details["market"] == market.condition_id
        if row["event"] == "created":
            assert row["status"] == "active" and details["outcome"] == ("Yes" if row["instrument"] == A else "No")
        else:
            assert (row["status"], row["result"]) == ("resolved", "yes" if row["instrument"] == winner else "no")
            assert details["winning_asset_id"] == polymarket.to_symbol(winner)

    # Trades are unaffected: every trade of the tape is in bronze once.
    tape = {(line["symbol"], line["trade_id"]) for line in complete_jsonl(truth_file)}
    wait_until(
        lambda: {(row["symbol"], row["trade_id"]) for row in rows("bronze.trades")} >= tape, 30, "every trade in bronze"
    )
    trade_ids = [(row["symbol"], row["trade_id"]) for row in rows("bronze.trades")]
    assert len(trade_ids) == len(set(trade_ids)) == len(tape) == TOTAL
