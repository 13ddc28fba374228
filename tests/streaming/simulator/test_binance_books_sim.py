"""The simulated Binance books: a deterministic pure book, its wire frames, and depth/bookTicker/REST depth served
by the real server, parsed back with the real parser."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from decimal import Decimal
from typing import Any

from testkit import simulator_settings
from websockets.asyncio.client import connect

from contracts.records import BookUpdate, Level, Ticker
from streaming import rest
from streaming.book_sync import BookSync
from streaming.simulator import binance_wire
from streaming.simulator.books import SimBook, text
from streaming.simulator.market import iter_trades
from streaming.simulator.server import open_simulator
from streaming.venues import binance

TIMEOUT = 30.0


sim_settings = functools.partial(simulator_settings, "binance", ["BTC-USDT", "ETH-USDT"], seed=7, rate=200.0)


def as_levels(pairs: tuple[tuple[int, int], ...]) -> dict[Decimal, Decimal]:
    return {Decimal(text(price)): Decimal(text(size)) for price, size in pairs}


def apply(book: dict[str, dict[Decimal, Decimal]], bids: Any, asks: Any) -> None:
    for side, levels in ((book["bids"], bids), (book["asks"], asks)):
        for price, size in levels:
            if size:
                side[Decimal(text(price))] = Decimal(text(size))
            else:
                side.pop(Decimal(text(price)), None)


def test_sim_book_is_deterministic_uncrossed_and_its_diffs_rebuild_it() -> None:
    books = [SimBook(7, "BTC-USDT", ["fast", "slow"]) for _ in range(2)]
    start = books[0].snapshot()
    fast = {"bids": as_levels(start.bids), "asks": as_levels(start.asks)}
    slow = {"bids": as_levels(start.bids), "asks": as_levels(start.asks)}
    last = start.last_id
    for index, trade in enumerate(iter_trades(7, ["BTC-USDT"], range(1_000, 1_600))):
        for book in books:
            book.on_trade(trade)
        assert max(books[0].bids) < min(books[0].asks), "the book never crosses"
        assert books[0].depth <= len(books[0].bids) <= 2 * books[0].depth
        if index % 7 == 0 or index == 599:  # a diff every few trades, like a 100 ms stream, and a last one
            drained = books[0].drain("fast")
            assert drained is not None and drained.first_id == last + 1  # U = previous u + 1
            last = drained.last_id
            apply(fast, drained.bids, drained.asks)
    books[1].drain("fast")
    assert books[0].snapshot() == books[1].snapshot()  # same seed and tape, same book
    final = books[0].snapshot()
    assert last == final.last_id and books[0].drain("fast") is None  # nothing changed since
    drained = books[0].drain("slow")  # one diff of everything: the slow stream
    assert drained is not None and (drained.first_id, drained.last_id) == (start.last_id + 1, final.last_id)
    apply(slow, drained.bids, drained.asks)
    wanted = {"bids": as_levels(final.bids), "asks": as_levels(final.asks)}
    assert fast == wanted and slow == wanted


def test_wire_frames_parse_back() -> None:
    book = SimBook(7, "ETH-USDT", ["s"])
    for trade in iter_trades(7, ["ETH-USDT"], range(1, 50)):
        book.on_trade(trade)
    diff = book.drain("s")
    assert diff is not None
    for micros in (False, True):
        data = binance_wire.depth_payload("ETH-USDT", diff, 1_790_000_000_123, micros=micros)
        frame = binance.parse(binance_wire.wrap("ethusdt@depth@100ms", data), 5)
        (update,) = frame.records
        assert frame.channel == "ethusdt@depth@100ms" and isinstance(update, BookUpdate)
        assert (update.first_sequence, update.sequence, update.ts_event) == (
            diff.first_id,
            diff.last_id,
            1_790_000_000_123_000_000,
        )
        assert update.bids == tuple(Level(Decimal(text(p)), Decimal(text(s))) for p, s in diff.bids)
        assert update.asks == tuple(Level(Decimal(text(p)), Decimal(text(s))) for p, s in diff.asks)
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    (ticker,) = binance.parse(binance_wire.book_ticker_payload("ETH-USDT", book.update_id, bid, ask), 9).records
    assert isinstance(ticker, Ticker)
    assert (ticker.best_bid, ticker.best_bid_size, ticker.best_ask, ticker.best_ask_size, ticker.sequence) == (
        Decimal(text(bid[0])),
        Decimal(text(bid[1])),
        Decimal(text(ask[0])),
        Decimal(text(ask[1])),
        book.update_id,
    )
    snapshot = binance.parse_rest_depth(binance_wire.rest_depth(book.snapshot()), 3, "ETH-USDT")
    assert snapshot.sequence == book.update_id
    assert {level.price: level.size for level in snapshot.bids} == as_levels(book.snapshot().bids)
    assert snapshot.bids[0].price == Decimal(text(bid[0])) and snapshot.asks[0].price == Decimal(text(ask[0]))


def test_server_streams_depth_and_book_ticker_and_a_dropped_diff_is_resynced_from_rest_depth() -> None:
    settings = sim_settings(sim_max_trades=600)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["binance"]) as sim:
            venue = sim.venues["binance"]
            venue.book_drop_every = 4  # type: ignore[attr-defined]
            base = sim.rest_url("binance")
            streams = "btcusdt@trade/btcusdt@depth@100ms/btcusdt@bookTicker/ethusdt@depth/ethusdt@trade"
            sync = BookSync("binance")
            tickers: list[Ticker] = []
            channels: set[str] = set()
            gaps = 0
            async with connect(f"{sim.url('binance')}/stream?streams={streams}") as ws:

                async def fetch(instrument: str) -> None:
                    path, params = binance.rest_depth_request(instrument)
                    body = await asyncio.to_thread(rest.get, base, path, params)
                    sync.snapshot(binance.parse_rest_depth(body, time.time_ns(), instrument))

                async def consume() -> None:
                    nonlocal gaps
                    while True:
                        frame = binance.parse(await ws.recv(), time.time_ns())
                        channels.add(frame.channel)
                        for record in frame.records:
                            if isinstance(record, Ticker):
                                tickers.append(record)
                            elif isinstance(record, BookUpdate):
                                actions = sync.update(record)
                                gaps += actions.gap is not None
                                if actions.snapshot_wanted:
                                    await fetch(record.instrument)

                consumer = asyncio.create_task(consume())
                await asyncio.wait_for(sim.tasks["binance"], TIMEOUT)  # trading ended, last diffs sent
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
                deadline = time.monotonic() + TIMEOUT
                while not ({"btcusdt@depth@100ms", "ethusdt@depth"} <= channels and _final(sync, venue)):
                    assert time.monotonic() < deadline, "the books did not converge"
                    await asyncio.sleep(0.05)
                consumer.cancel()
            assert venue.diffs_dropped >= 1 and gaps >= 1  # type: ignore[attr-defined]
            assert "btcusdt@bookTicker" in channels and "btcusdt@trade" in channels
            final = venue.books["BTC-USDT"]  # type: ignore[attr-defined]
            bid, ask = final.best_bid(), final.best_ask()
            assert tickers[-1].best_bid == Decimal(text(bid[0])) and tickers[-1].best_ask == Decimal(text(ask[0]))
            assert tickers[-1].sequence <= final.update_id  # type: ignore[operator]
            # REST depth is the simulator's book: limit respected, bids best first.
            path, params = binance.rest_depth_request("BTC-USDT", 5)
            top = binance.parse_rest_depth(await asyncio.to_thread(rest.get, base, path, params), 1, "BTC-USDT")
            assert len(top.bids) == len(top.asks) == 5 and top.bids[0].price == Decimal(text(bid[0]))

    asyncio.run(asyncio.wait_for(scenario(), TIMEOUT * 2))


def _final(sync: BookSync, venue: Any) -> bool:
    for instrument in ("BTC-USDT", "ETH-USDT"):
        if instrument not in sync.instruments:
            return False
        book = sync.book(instrument)
        truth = venue.books[instrument].snapshot()
        if not book.synced or book.sequence != truth.last_id:
            return False
        if (book.bids, book.asks) != (as_levels(truth.bids), as_levels(truth.asks)):
            return False
    return True
