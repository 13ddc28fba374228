"""The Polymarket feed: its connection, the markets it learns from frames, and the catch-up from a running simulator."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from testkit import free_port
from websockets.asyncio.client import connect

from contracts.records import Trade
from streaming.feeds.polymarket import CLOCK_MARGIN_NS, PAGE_ROWS, PolymarketFeed, catch_up_windows, feed, page_extent
from streaming.feeds.registry import FEEDS
from streaming.simulator import polymarket_wire
from streaming.simulator.market import SimTrade
from streaming.simulator.polymarket import PolymarketSim
from streaming.simulator.server import open_simulator
from streaming.venues import polymarket
from ticklake.settings import DEFAULT_INSTRUMENTS, Settings, load_settings

T = TypeVar("T")
A, B = DEFAULT_INSTRUMENTS["polymarket"]
C = "POLYMARKET:71321045679252212594626385532706912750332728571942532289631379312455583992563"
INSTRUMENTS = [A, B, C]
SECOND = 1_000_000_000
TIMEOUT = 30.0


def run(scenario: Callable[[], Coroutine[Any, Any, T]], timeout: float = TIMEOUT) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


def sim_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "instruments": {"polymarket": INSTRUMENTS},
        "sim_seed": 5,
        "sim_rate": 300.0,
        "sim_port": free_port(),
    }
    values.update(overrides)
    return load_settings(**values)


def rest_view(trade: SimTrade) -> tuple[str, str, str, Any, Any, str, int]:
    """A simulated trade as the Data API reports it: whole seconds."""
    return (
        trade.instrument,
        polymarket.to_symbol(trade.instrument),
        polymarket_wire.transaction_hash(trade),
        trade.price,
        trade.size,
        trade.side,
        trade.ts_ms // 1000 * SECOND,
    )


def view(trade: Trade) -> tuple[str, str, str, Any, Any, str, int]:
    return (trade.instrument, trade.symbol, trade.trade_id, trade.price, trade.size, trade.side, trade.ts_event)


def test_feed_connects_to_the_market_channel_with_app_pings() -> None:
    settings = sim_settings()
    venue_feed = feed(settings)
    assert FEEDS["polymarket"] is feed
    assert venue_feed.venue == "polymarket"
    assert venue_feed.url == f"ws://127.0.0.1:{settings.sim_port}/polymarket/ws/market"
    assert venue_feed.app_ping == ("PING", 10.0)
    assert venue_feed.sequences is None and venue_feed.repair is None  # nothing on the wire numbers the trades
    assert venue_feed.catch_up is not None and venue_feed.on_connect is not None
    real = feed(load_settings(ws_urls={"polymarket": "wss://ws-subscriptions-clob.polymarket.com/"}))
    assert real.url == polymarket.WS_URL
    too_many = [f"POLYMARKET:{n}" for n in range(501)]
    with pytest.raises(ValueError, match="at most 500"):
        feed(load_settings(instruments={"polymarket": too_many}))


def test_catch_up_windows() -> None:
    since = {A: 1_790_000_005_700_000_000, B: 1_790_000_000_100_000_000}
    connected = 1_790_000_004_300_000_000
    assert catch_up_windows(INSTRUMENTS, since, connected) == {
        A: 1_790_000_002 * SECOND,  # the connection start less the clock margin, on a whole second
        B: 1_790_000_000 * SECOND,  # its last event is earlier
        C: 1_790_000_002 * SECOND,  # no event yet: the connection start
    }
    assert CLOCK_MARGIN_NS == 2 * SECOND
    assert catch_up_windows(INSTRUMENTS, since, None) == {A: 1_790_000_005 * SECOND, B: 1_790_000_000 * SECOND}
    assert catch_up_windows(INSTRUMENTS, {}, None) == {}
    assert page_extent(b'[{"timestamp": 12}, {"timestamp": 10}, {"timestamp": 11}]') == (3, 10)
    assert page_extent(b"[]") == (0, None)


def test_catch_up_fetches_every_trade_of_the_window_including_the_lost_ones() -> None:
    settings = sim_settings(sim_max_trades=1500, sim_skip_every=9)

    async def scenario() -> None:
        state = PolymarketFeed(settings)
        async with open_simulator(settings, venues=["polymarket"]) as sim:
            venue = sim.venues["polymarket"]
            assert isinstance(venue, PolymarketSim)
            async with connect(state.url) as ws:
                await state.on_connect(ws)  # the feed's own subscription
                await asyncio.wait_for(sim.tasks["polymarket"], TIMEOUT)
                await ws.send(polymarket.PING_MESSAGE)
                live: list[Trade] = []
                while True:
                    parsed = state.parse(await ws.recv(), time.time_ns())
                    if parsed.control == "heartbeat":
                        break
                    live += [record for record in parsed.records if isinstance(record, Trade)]
            # The markets come from the frames (the books that open the connection name them all).
            assert state.markets == {polymarket.to_symbol(i): venue.markets[i].condition_id for i in INSTRUMENTS}
            history = {instrument: venue.trades_from(instrument) for instrument in INSTRUMENTS}
            assert len(history[A]) + len(history[B]) > PAGE_ROWS  # the market's rows span several pages
            lost = venue.trades_skipped
            assert lost == 1500 // 9 and len(live) == 1500 - lost

            # After a reconnect: everything since the (unreconciled) connection start, lost trades included.
            caught = await asyncio.to_thread(state.catch_up, {A: live[-1].ts_event})
            assert sorted(view(t) for t in caught) == sorted(rest_view(t) for i in INSTRUMENTS for t in history[i])
            assert {t.trade_id for t in live} < {t.trade_id for t in caught}  # the stream's ids, and more
            assert [t.ts_event for t in caught if t.instrument == A] == sorted(
                t.ts_event for t in caught if t.instrument == A
            )

            # A feed with no connection behind it: the window is the collector's last event only.
            fresh = PolymarketFeed(settings)
            assert await asyncio.to_thread(fresh.catch_up, {A: 0}) == []  # no frame yet: the market is unknown
            summary = polymarket_wire.book_summary(polymarket.to_symbol(A), venue.markets[A].condition_id, "0.5", 1)
            fresh.parse(polymarket_wire.books_frame([summary]).encode(), 1)
            first_second = history[A][0].ts_ms // 1000  # the tape spans more than a second (1500 trades at 900/s)
            middle = next(t for t in history[A] if t.ts_ms // 1000 > first_second)
            caught = await asyncio.to_thread(fresh.catch_up, {A: middle.ts_ms * 1_000_000})
            window = middle.ts_ms // 1000 * SECOND
            assert sorted(view(t) for t in caught) == sorted(
                rest_view(t) for t in history[A] if t.ts_ms // 1000 * SECOND >= window
            )
            assert 0 < len(caught) < len(history[A]) and {t.instrument for t in caught} == {A}

    run(scenario)


def test_markets_are_learned_from_book_and_trade_frames() -> None:
    settings = sim_settings()
    state = PolymarketFeed(settings)
    markets = polymarket_wire.sim_markets(INSTRUMENTS)
    trade = SimTrade(C, 3_000_000_001, 1, "0.42000000", "12.00000000", "sell", 1_790_000_000_123)
    parsed = state.parse(polymarket_wire.trade_frame(trade, markets[C].condition_id).encode(), 7)
    assert [view(t) for t in parsed.records if isinstance(t, Trade)] == [
        (
            C,
            polymarket.to_symbol(C),
            polymarket_wire.transaction_hash(trade),
            trade.price,
            trade.size,
            "sell",
            1_790_000_000_123_000_000,
        )
    ]
    assert state.markets == {polymarket.to_symbol(C): markets[C].condition_id}
    assert state.parse(b"PONG", 8).control == "heartbeat"
    summary = polymarket_wire.book_summary(polymarket.to_symbol(A), markets[A].condition_id, "0.5", 1_790_000_000_000)
    state.parse(polymarket_wire.books_frame([summary]).encode(), 9)
    assert state.markets[polymarket.to_symbol(A)] == markets[A].condition_id
    assert json.loads(state.subscription) == {
        "assets_ids": [polymarket.to_symbol(i) for i in INSTRUMENTS],
        "type": "market",
        "custom_feature_enabled": True,
    }
