"""The simulated Polymarket books and market events: a deterministic probability book, its wire frames read back by
the real parser, and the real server's book / price_change / best_bid_ask / tick_size_change / new_market /
market_resolved frames, kept in sync by BookSync with the feed's top-of-book checksum and resubscription."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from decimal import Decimal
from typing import Any

from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect

from contracts.records import BookUpdate, Level, Lifecycle, Ticker, Trade
from streaming import rest
from streaming.book import OrderBook
from streaming.book_sync import BookSync
from streaming.feeds.polymarket import PolymarketFeed, resubscribe
from streaming.simulator import polymarket_wire
from streaming.simulator.market import SimTrade, iter_trades
from streaming.simulator.polymarket import PolymarketSim
from streaming.simulator.polymarket_wire import BookLevels, ProbabilityBook
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import polymarket
from streaming.venues.polymarket import top_of_book_checksum
from ticklake.settings import DEFAULT_INSTRUMENTS

A, B = DEFAULT_INSTRUMENTS["polymarket"]  # the outcomes of one simulated market
C = "POLYMARKET:71321045679252212594626385532706912750332728571942532289631379312455583992563"  # a market alone
INSTRUMENTS = [A, B, C]
ASSET = {instrument: polymarket.to_symbol(instrument) for instrument in INSTRUMENTS}
TIMEOUT = 30.0
T0_MS = 1_790_000_000_000


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "polymarket", INSTRUMENTS, seed=13, rate=300.0)


def as_decimals(levels: BookLevels) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """A simulated book as {price: size} per side, exact decimals."""

    def side(pairs: tuple[tuple[int, int], ...]) -> dict[Decimal, Decimal]:
        return {Decimal(c) / 100: Decimal(s) / 100 for c, s in pairs}

    return side(levels.bids), side(levels.asks)


def trade_at(instrument: str, price: str, side: str = "buy", size: str = "10", trade_id: int = 1) -> SimTrade:
    return SimTrade(instrument, trade_id, trade_id, price, size, side, T0_MS + trade_id)  # type: ignore[arg-type]


# --- the pure book ---------------------------------------------------------------------------------


def test_probability_book_is_deterministic_uncrossed_and_its_changes_rebuild_it() -> None:
    books = [ProbabilityBook(13, A) for _ in range(2)]
    opening = books[0].levels()
    assert opening == polymarket_wire.opening_levels(50)  # around the start price 0.50
    assert [c for c, _ in opening.bids] == list(range(42, 50)) and [c for c, _ in opening.asks] == list(
        range(58, 50, -1)
    )
    events = tops = 0
    for trade in iter_trades(13, [A], range(T0_MS, T0_MS + 1200)):
        for book in books:
            book.on_trade(trade)
        book = books[0]
        price = polymarket_wire.cents_of(trade.price_text)
        if trade.side == "buy":  # the taker took every ask below its price and no bid is left at or above it
            assert all(p >= price for p in book.asks) and all(p < price for p in book.bids)
        else:
            assert all(p <= price for p in book.bids) and all(p > price for p in book.asks)
        replica = {"buy": dict(book.bids), "sell": dict(book.asks)}  # what a book message after the trade holds
        flows = [b.order_flow() for b in books]
        assert flows[0] == flows[1], "same seed and tape, same order events"
        for position, event in enumerate(flows[0]):
            events += 1
            assert event.number == book.events - len(flows[0]) + position + 1  # numbered in order
            for change in event.changes:
                if change.size:
                    replica[change.side][change.cents] = change.size
                else:
                    del replica[change.side][change.cents]
                # Each entry reports the top after it.
                assert (change.best_bid, change.best_ask) == (
                    max(replica["buy"], default=None),
                    min(replica["sell"], default=None),
                )
                tops += 1
        assert (replica["buy"], replica["sell"]) == (book.bids, book.asks), "the changes rebuild the book"
        assert max(book.bids, default=0) < min(book.asks, default=100), "the book never crosses"
        assert all(1 <= p <= 99 for p in [*book.bids, *book.asks])
        assert len(book.bids) <= 2 * book.depth and len(book.asks) <= 2 * book.depth
        assert all(size > 0 for size in [*book.bids.values(), *book.asks.values()])
    assert books[0].levels() == books[1].levels()
    assert events > 1200 and tops > events  # one to three events per trade, refills add entries
    other = ProbabilityBook(14, A)
    for trade in iter_trades(13, [A], range(T0_MS, T0_MS + 50)):
        other.on_trade(trade)
        other.order_flow()
    assert other.levels() != books[0].levels()  # another seed, other orders


def test_tick_size_follows_the_price_across_0_04_and_0_96() -> None:
    assert [polymarket_wire.tick_size_of(c) for c in (3, 4, 50, 96, 97)] == ["0.001", "0.01", "0.01", "0.01", "0.001"]
    book = ProbabilityBook(13, A)
    prices = ["0.95", "0.96", "0.97", "0.99", "0.96", "0.50", "0.04", "0.03", "0.01", "0.05"]
    changes = [book.on_trade(trade_at(A, price, trade_id=n)) for n, price in enumerate(prices)]
    assert changes == [
        None,
        None,
        ("0.01", "0.001"),
        None,
        ("0.001", "0.01"),
        None,
        None,
        ("0.01", "0.001"),
        None,
        ("0.001", "0.01"),
    ]
    book.on_trade(trade_at(A, "0.98", trade_id=11))
    summary = polymarket_wire.book_summary(ASSET[A], "0x" + "ab" * 32, "0.98", T0_MS, book.levels(), book.tick_size)
    assert summary["tick_size"] == "0.001" and polymarket.verify_rest_book_hash(polymarket_wire.rest_book_body(summary))
    frame = polymarket_wire.tick_size_change_frame("0x" + "ab" * 32, ASSET[A], "0.01", "0.001", T0_MS)
    (event,) = polymarket.parse(frame, 3).records
    assert isinstance(event, Lifecycle) and (event.event, event.instrument, event.ts_event) == (
        "tick_size",
        A,
        T0_MS * 1_000_000,
    )
    assert json.loads(event.details or "") == {
        "old_tick_size": "0.01",
        "new_tick_size": "0.001",
        "market": "0x" + "ab" * 32,
    }


# --- wire frames ---------------------------------------------------------------------------------


def test_frames_parse_back_exactly() -> None:
    markets = polymarket_wire.sim_markets(INSTRUMENTS)
    market = markets[A]
    book = ProbabilityBook(13, A)
    for trade in iter_trades(13, [A], range(T0_MS, T0_MS + 300)):
        book.on_trade(trade)
        for event in book.order_flow():
            frame = polymarket_wire.price_change_frame(market.condition_id, ASSET[A], event, T0_MS)
            message = json.loads(frame)
            assert list(message) == ["market", "price_changes", "timestamp", "event_type"]
            assert {entry["hash"] for entry in message["price_changes"]} == {
                polymarket_wire.order_hash(ASSET[A], event.number)
            }
            delta, ticker = polymarket.parse(frame, 9).records
            assert isinstance(delta, BookUpdate) and isinstance(ticker, Ticker)
            assert (delta.kind, delta.instrument, delta.ts_event, delta.sequence) == ("delta", A, T0_MS * 10**6, None)
            wanted = [(c.side, Level(Decimal(c.cents) / 100, Decimal(c.size) / 100)) for c in event.changes]
            assert list(delta.bids) == [level for side, level in wanted if side == "buy"]
            assert list(delta.asks) == [level for side, level in wanted if side == "sell"]
            last = event.changes[-1]
            assert (ticker.best_bid, ticker.best_ask) == (
                None if last.best_bid is None else Decimal(last.best_bid) / 100,
                None if last.best_ask is None else Decimal(last.best_ask) / 100,
            )
    # An empty side is "0" (bids) or "1" (asks) on the wire, no quote for the parser.
    frame = polymarket_wire.best_bid_ask_frame(market.condition_id, ASSET[B], None, 52, T0_MS)
    assert json.loads(frame)["best_bid"] == "0" and json.loads(frame)["spread"] == "0.52"
    (ticker,) = polymarket.parse(frame, 1).records
    assert isinstance(ticker, Ticker) and (ticker.instrument, ticker.best_bid, ticker.best_ask) == (
        B,
        None,
        Decimal("0.52"),
    )
    frame = polymarket_wire.best_bid_ask_frame(market.condition_id, ASSET[B], 48, None, T0_MS)
    assert json.loads(frame)["best_ask"] == "1" and json.loads(frame)["spread"] == "0.52"
    # The book message is the REST summary's, hash included; the parser reads both the same.
    summary = polymarket_wire.book_summary(
        ASSET[A], market.condition_id, polymarket_wire.cents_text(book.last), T0_MS, book.levels(), book.tick_size
    )
    assert polymarket.verify_rest_book_hash(polymarket_wire.rest_book_body(summary))
    (snapshot,) = polymarket.parse(polymarket_wire.book_frame(summary), 2).records
    assert isinstance(snapshot, BookUpdate) and snapshot.kind == "snapshot"
    rest_book = polymarket.parse_rest_book(polymarket_wire.rest_book_body(summary), 2, A)
    assert (snapshot.bids, snapshot.asks) == (rest_book.bids, rest_book.asks)
    bids, asks = as_decimals(book.levels())
    assert {lv.price: lv.size for lv in snapshot.bids} == bids and {lv.price: lv.size for lv in snapshot.asks} == asks
    assert [lv.price for lv in snapshot.bids] == sorted(bids)  # best last on both sides
    assert [lv.price for lv in snapshot.asks] == sorted(asks, reverse=True)
    # Lifecycle: one record per outcome token; the winner's contract paid.
    created = polymarket.parse(polymarket_wire.new_market_frame(market, T0_MS), 4).records
    assert [(r.instrument, r.event, r.status) for r in created if isinstance(r, Lifecycle)] == [
        (A, "created", "active"),
        (B, "created", "active"),
    ]
    assert [json.loads(r.details or "")["outcome"] for r in created if isinstance(r, Lifecycle)] == ["Yes", "No"]
    assert json.loads(created[0].details or "")["question"] == market.title  # type: ignore[union-attr]
    assert polymarket_wire.winner_of(market, {ASSET[A]: 40, ASSET[B]: 61}) == ASSET[B]
    assert polymarket_wire.winner_of(market, {ASSET[A]: 50, ASSET[B]: 50}) == ASSET[A]  # a tie: the first
    resolved = polymarket.parse(polymarket_wire.market_resolved_frame(market, ASSET[B], T0_MS), 4).records
    assert [(r.instrument, r.event, r.status, r.result) for r in resolved if isinstance(r, Lifecycle)] == [
        (A, "settled", "resolved", "no"),
        (B, "settled", "resolved", "yes"),
    ]
    assert json.loads(resolved[1].details or "")["winning_outcome"] == "No"  # type: ignore[union-attr]
    alone = markets[C]
    assert polymarket_wire.winner_of(alone, {ASSET[C]: 10}) == ASSET[C]
    (settled,) = polymarket.parse(polymarket_wire.market_resolved_frame(alone, ASSET[C], T0_MS), 4).records
    assert isinstance(settled, Lifecycle) and settled.result == "yes"


# --- the server ----------------------------------------------------------------------------------


def ws_url(sim: SimulatorHandle) -> str:
    return f"{sim.url('polymarket')}/ws/market"


async def drain(ws: ClientConnection) -> list[str]:
    """Send PING and return every frame received before its PONG."""
    await ws.send(polymarket.PING_MESSAGE)
    frames = []
    while (frame := await ws.recv()) != "PONG":
        assert isinstance(frame, str)
        frames.append(frame)
    return frames


def test_server_books_deltas_tops_and_market_events_with_a_dropped_change_resynced_by_resubscribing() -> None:
    settings = sim_settings(sim_max_trades=900, sim_book_drop_every=4)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["polymarket"]) as sim:
            venue = sim.venues["polymarket"]
            assert isinstance(venue, PolymarketSim) and venue.book_drop_every == 4
            feed = PolymarketFeed(settings)  # the feed's parser (top-of-book checksums) and subscription
            sync = BookSync("polymarket", checksum=top_of_book_checksum)
            frames: list[str] = []
            records: list[Any] = []
            gaps: list[str] = []
            resubscribed: list[str] = []
            answers: list[list[str]] = []  # the instruments of each array of books after the first
            subscribed = asyncio.Event()
            async with connect(ws_url(sim)) as ws, connect(ws_url(sim)) as quiet:
                await feed.on_connect(ws)  # all three assets, custom features on

                async def consume() -> None:
                    while True:
                        frame = await ws.recv()
                        assert isinstance(frame, str)
                        frames.append(frame)
                        subscribed.set()
                        parsed = feed.parse(frame.encode(), time.time_ns())
                        if frame.startswith("[") and len(frames) > 1:
                            answers.append([r.instrument for r in parsed.records])
                        for record in parsed.records:
                            records.append(record)
                            if isinstance(record, BookUpdate):
                                actions = sync.update(record)
                                if actions.gap is not None:
                                    gaps.append(actions.gap.reason)
                                if actions.snapshot_wanted:
                                    resubscribed.append(record.instrument)
                                    await resubscribe(ws, record.instrument)

                consumer = asyncio.create_task(consume())
                await subscribed.wait()  # the markets are created: the next connection gets no new_market
                # A connection without custom features, on A only: books and trades, no tops or market events.
                await quiet.send(polymarket.subscribe_message([ASSET[A]], custom_feature_enabled=False))
                await asyncio.wait_for(sim.tasks["polymarket"], TIMEOUT)  # trading ended: final books, resolution
                deadline = time.monotonic() + TIMEOUT
                while not any(isinstance(r, Lifecycle) and r.event == "settled" and r.instrument == C for r in records):
                    assert time.monotonic() < deadline, "the markets were not resolved"
                    await asyncio.sleep(0.05)
                consumer.cancel()
                quiet_frames = await drain(quiet)

            # The first frame is the books of the subscription; every frame parsed (the parser raised nothing).
            first = json.loads(frames[0])
            assert [m["asset_id"] for m in first] == [ASSET[i] for i in INSTRUMENTS]
            kinds = {json.loads(f)["event_type"] for f in frames[1:] if not f.startswith("[")}
            expected = {"last_trade_price", "book", "price_change", "best_bid_ask", "new_market", "market_resolved"}
            assert expected <= kinds <= expected | {"tick_size_change"}
            # The dropped price_changes were seen as top-of-book mismatches and healed by a resubscription,
            # which the venue answered with the book of that asset alone.
            assert venue.price_changes_dropped >= venue.price_changes_sent // 4 > 0
            assert gaps and set(gaps) == {"checksum"}
            assert resubscribed and len(answers) >= 1
            assert all(len(answer) == 1 and answer[0] in resubscribed for answer in answers)
            # Every book ends exactly as the simulator's, and so does REST /book.
            for instrument in INSTRUMENTS:
                book = sync.book(instrument)
                assert book.synced and (book.bids, book.asks) == as_decimals(venue.books[instrument].levels())
                path, params = polymarket.rest_book_request(instrument, base_url=sim.rest_url("polymarket"))
                body = await asyncio.to_thread(rest.get, path, "", params)
                assert polymarket.verify_rest_book_hash(body)
                final = polymarket.parse_rest_book(body, 1, instrument)
                assert {lv.price: lv.size for lv in final.bids} == book.bids
                assert {lv.price: lv.size for lv in final.asks} == book.asks
                # The last best_bid_ask of the asset is its final top.
                tops = [r for r in records if isinstance(r, Ticker) and r.instrument == instrument]
                assert (tops[-1].best_bid, tops[-1].best_ask) == (
                    max(book.bids, default=None),
                    min(book.asks, default=None),
                )
            # One new_market per market, each asset resolved once: the outcome with the higher last price won.
            events = [r for r in records if isinstance(r, Lifecycle)]
            assert sorted((r.instrument, r.event) for r in events if r.event == "created") == sorted(
                (i, "created") for i in INSTRUMENTS
            )
            settled = {r.instrument: r.result for r in events if r.event == "settled"}
            last = {i: venue.books[i].last for i in INSTRUMENTS}
            assert settled == {
                A: "yes" if last[A] >= last[B] else "no",
                B: "no" if last[A] >= last[B] else "yes",
                C: "yes",
            }
            trades = [r for r in records if isinstance(r, Trade)]
            assert len(trades) == 900 and {t.trade_id for t in trades} == {
                polymarket_wire.transaction_hash(t) for i in INSTRUMENTS for t in venue.trades_from(i)
            }
            # The quiet connection: A's books and trades only, no tops, no market events.
            quiet_records = [r for f in quiet_frames for r in polymarket.parse(f, 1).records]
            assert {r.instrument for r in quiet_records} == {A}
            assert {type(r) for r in quiet_records} - {Lifecycle} == {BookUpdate, Trade, Ticker}  # price_change tops
            assert all(r.event == "tick_size" for r in quiet_records if isinstance(r, Lifecycle))
            assert not [f for f in quiet_frames if '"best_bid_ask"' in f or '"new_market"' in f]
            replay = OrderBook("polymarket", A, checksum=top_of_book_checksum)
            for record in quiet_records:
                if isinstance(record, BookUpdate):
                    replay.apply(record)
            assert (replay.bids, replay.asks) == as_decimals(venue.books[A].levels())  # the final book heals it

    run(scenario)


def test_resubscribe_answers_with_the_book_and_unsubscribe_stops_the_assets_frames() -> None:
    settings = sim_settings(sim_rate=200.0)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["polymarket"]) as sim, connect(ws_url(sim)) as ws:
            venue = sim.venues["polymarket"]
            assert isinstance(venue, PolymarketSim)
            await ws.send(polymarket.subscribe_message([ASSET[A], ASSET[B]]))
            books = polymarket.parse(await ws.recv(), 1).records
            assert [(r.instrument, r.kind) for r in books if isinstance(r, BookUpdate)] == [
                (A, "snapshot"),
                (B, "snapshot"),
            ]
            seen = 0
            while seen < 20:  # trading: a book after every trade
                seen += '"event_type":"book"' in await ws.recv()
            # Subscribing again to an asset the connection has: its book, at once, nothing else changes.
            await ws.send(polymarket.update_subscription_message([ASSET[B]], "subscribe"))
            while not (frame := await ws.recv()).startswith("["):
                pass
            (again,) = polymarket.parse(frame, 1).records
            assert isinstance(again, BookUpdate) and (again.instrument, again.kind) == (B, "snapshot")
            # Unsubscribed before the PING was answered: nothing about B after the PONG.
            await ws.send(polymarket.update_subscription_message([ASSET[B]], "unsubscribe"))
            await drain(ws)
            after = [await ws.recv() for _ in range(150)]
            assert not [frame for frame in after if ASSET[B] in frame]
            kinds = {json.loads(frame)["event_type"] for frame in after}
            assert {"last_trade_price", "book", "price_change"} <= kinds  # A goes on, books and all
            assert set(venue.created) == {venue.markets[A].condition_id}
            assert not venue.resolved  # no sim_max_trades: the market never resolves

    run(scenario)
