"""The Polymarket feed: its connection, the markets it learns from frames, and the catch-up from a running simulator."""

from __future__ import annotations

import asyncio
import functools
import json
import time
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from testkit import free_port, run_bounded
from websockets.asyncio.client import connect

from contracts.records import BookUpdate, Level, Ticker, Trade
from streaming.book import OrderBook
from streaming.book_sync import BookSync
from streaming.feeds import polymarket as polymarket_feed
from streaming.feeds.polymarket import (
    CLOCK_MARGIN_NS,
    PAGE_ROWS,
    PolymarketFeed,
    catch_up_windows,
    feed,
    page_extent,
    resubscribe,
)
from streaming.feeds.registry import FEEDS
from streaming.simulator import polymarket_wire
from streaming.simulator.market import SimTrade
from streaming.simulator.polymarket import PolymarketSim
from streaming.simulator.server import open_simulator
from streaming.venues import polymarket
from streaming.venues.polymarket import top_checksum, top_of_book_checksum
from ticklake.settings import DEFAULT_INSTRUMENTS, Settings, load_settings

FIXTURES = Path(__file__).parents[2] / "fixtures" / "polymarket"
A, B = DEFAULT_INSTRUMENTS["polymarket"]
C = "POLYMARKET:71321045679252212594626385532706912750332728571942532289631379312455583992563"
INSTRUMENTS = [A, B, C]
SECOND = 1_000_000_000
TIMEOUT = 30.0


run = functools.partial(run_bounded, timeout=TIMEOUT)


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


# --- books -----------------------------------------------------------------------------------------


def fixture_frame(name: str) -> bytes:
    for line in (FIXTURES / "frames.jsonl").read_text().splitlines():
        frame = json.loads(line)
        if frame["name"] == name:
            return str(frame["raw"]).encode()
    raise KeyError(name)


def levels(*pairs: tuple[str, str]) -> list[Level]:
    return [Level(Decimal(price), Decimal(size)) for price, size in pairs]


def test_feed_keeps_books_by_resubscribing_checked_by_the_venues_top_of_book() -> None:
    venue_feed = feed(sim_settings())
    assert venue_feed.keeps_books and venue_feed.book_snapshot is None
    assert venue_feed.book_resubscribe is resubscribe and venue_feed.book_checksum is top_of_book_checksum
    assert venue_feed.book_depth is None and venue_feed.book_gaps is None  # whole books; no sequence at all
    # The checksum of a top of book: its two prices, however written; an empty side is empty text.
    bids, asks = levels(("0.48", "30"), ("0.47", "5")), levels(("0.50", "15"), ("0.52", "1"))
    assert top_of_book_checksum(bids, asks) == zlib.crc32(b"0.48|0.5") == top_checksum(Decimal(".480"), Decimal(".5"))
    assert top_of_book_checksum(bids, []) == zlib.crc32(b"0.48|") == top_checksum(Decimal("0.48"), None)
    assert top_of_book_checksum([], []) == zlib.crc32(b"|")
    assert top_of_book_checksum(levels(("0.48", "1")), asks) == top_of_book_checksum(bids, asks)  # sizes do not count
    assert top_of_book_checksum(levels(("0.47", "30")), asks) != top_of_book_checksum(bids, asks)
    # Each asset's delta of a price_change carries the top its last entry reports (the parser's, so
    # reprocessing reproduces it); the feed's parse returns what the parser does.
    state = PolymarketFeed(sim_settings())
    frame = fixture_frame("price_change_current_grouped_by_asset")
    parsed = state.parse(frame, 5)
    assert parsed == polymarket.parse(frame, 5)
    first, first_top, second, second_top = parsed.records
    assert isinstance(first, BookUpdate) and isinstance(first_top, Ticker) and isinstance(second, BookUpdate)
    assert first.checksum == top_checksum(Decimal("0.47"), Decimal("0.51"))
    assert second.checksum == top_checksum(Decimal("0.52"), Decimal("0.53"))
    assert [r for r in parsed.records if not isinstance(r, BookUpdate)] == [first_top, second_top]
    mixed = state.parse(fixture_frame("mixed_array_of_docs_examples"), 5).records
    deltas = [r for r in mixed if isinstance(r, BookUpdate) and r.kind == "delta"]
    assert [d.checksum for d in deltas] == [top_checksum(Decimal("0.5"), None), top_checksum(None, Decimal("0.5"))]
    assert [r.checksum for r in mixed if isinstance(r, BookUpdate) and r.kind == "snapshot"] == [None]
    (legacy,) = state.parse(fixture_frame("price_change_legacy_docs"), 5).records  # no top reported: no checksum
    assert isinstance(legacy, BookUpdate) and legacy.checksum is None
    # A book that agrees with the venue's top passes; one that missed a change does not.
    snapshot, *_ = polymarket.parse(fixture_frame("book_with_tick_size_and_last_trade_price"), 1).records
    assert isinstance(snapshot, BookUpdate)
    asset = snapshot.symbol
    market = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"

    def change(price: str, size: str, side: str, best_bid: str, best_ask: str) -> bytes:
        entry = {"asset_id": asset, "price": price, "size": size, "side": side, "hash": "ab" * 20}
        entry |= {"best_bid": best_bid, "best_ask": best_ask}
        message = {"market": market, "price_changes": [entry], "timestamp": "1769000000200"}
        return json.dumps(message | {"event_type": "price_change"}).encode()

    book = OrderBook("polymarket", snapshot.instrument, checksum=top_of_book_checksum)
    assert book.apply(snapshot).status == "ok"  # best bid 0.47, best ask 0.49
    (update, _) = state.parse(change("0.48", "10", "BUY", "0.48", "0.49"), 2).records
    assert isinstance(update, BookUpdate) and book.apply(update).status == "ok"
    # change("0.49", "0", "SELL", "0.48", "0.52") is lost on the way: the next change reports an ask this book lacks.
    (update, _) = state.parse(change("0.48", "12", "BUY", "0.48", "0.52"), 3).records
    assert isinstance(update, BookUpdate) and book.apply(update).status == "checksum_mismatch"
    assert not book.synced
    sync = BookSync("polymarket", checksum=top_of_book_checksum)
    sync.update(snapshot)
    actions = sync.update(update)
    assert actions.gap is not None and actions.gap.reason == "checksum" and actions.gap.stream == f"book:{asset}"
    assert actions.snapshot_wanted and actions.publish == (update,)


def test_resubscribe_asks_the_simulator_for_a_fresh_book_on_the_live_connection() -> None:
    settings = sim_settings(sim_max_trades=600)

    async def scenario() -> None:
        state = PolymarketFeed(settings)
        async with open_simulator(settings, venues=["polymarket"]) as sim, connect(state.url) as ws:
            venue = sim.venues["polymarket"]
            assert isinstance(venue, PolymarketSim)
            await state.on_connect(ws)
            first = state.parse(await ws.recv(), time.time_ns())  # the books of every asset
            assert [(r.instrument, r.kind) for r in first.records if isinstance(r, BookUpdate)] == [
                (i, "snapshot") for i in INSTRUMENTS
            ]
            trades_before = venue.trades_sent
            await resubscribe(ws, B)
            while not (frame := await ws.recv()).startswith("["):  # the book frames after trades are objects
                pass
            (fresh,) = state.parse(frame, time.time_ns()).records
            assert isinstance(fresh, BookUpdate) and (fresh.instrument, fresh.kind) == (B, "snapshot")
            assert fresh.bids and fresh.asks and fresh.ts_event >= first.records[0].ts_event  # type: ignore[union-attr]
            # Nothing was unsubscribed: B keeps trading on this connection.
            seen: set[str] = set()
            while B not in seen:
                seen |= {r.instrument for r in state.parse(await ws.recv(), 0).records if isinstance(r, Trade)}
            assert venue.trades_sent > trades_before
            await asyncio.wait_for(sim.tasks["polymarket"], TIMEOUT)  # read everything: a clean close
            await ws.send(polymarket.PING_MESSAGE)
            while await ws.recv() != "PONG":
                pass

    run(scenario)


def test_trades_beyond_the_data_apis_offset_limit_are_reported_once_not_paged_for_forever(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(polymarket_feed, "MAX_OFFSET", 2 * PAGE_ROWS)  # 1,500 rows reachable: the venue's 10,000 scaled
    settings = sim_settings(sim_max_trades=4500, sim_rate=150.0)  # about 3,000 rows of A's market over 10 s
    out_of_reach = "out of the Data API's reach"

    async def scenario() -> None:
        state = PolymarketFeed(settings)
        async with open_simulator(settings, venues=["polymarket"]) as sim:
            async with connect(state.url) as first:
                await state.on_connect(first)
                await asyncio.wait_for(sim.tasks["polymarket"], TIMEOUT)
                await first.send(polymarket.PING_MESSAGE)
                live: list[Trade] = []
                while (parsed := state.parse(await first.recv(), time.time_ns())).control != "heartbeat":
                    live += [r for r in parsed.records if isinstance(r, Trade) and r.instrument == A]
            last = live[-1].ts_event
            with caplog.at_level("ERROR", logger="streaming.feeds.polymarket"):
                # the first connection's trades of A's market exceed the reachable rows: reported
                await asyncio.to_thread(state.catch_up, {A: last})
                assert out_of_reach in caplog.text
                caplog.clear()
                async with connect(state.url) as second:  # the previous connection is re-read once more
                    await state.on_connect(second)
                await asyncio.to_thread(state.catch_up, {A: last})
                assert out_of_reach in caplog.text
                caplog.clear()
                async with connect(state.url) as third:  # now only what is after the second one's start
                    await state.on_connect(third)
                caught = await asyncio.to_thread(state.catch_up, {A: last})
                assert out_of_reach not in caplog.text
            window = (last - CLOCK_MARGIN_NS) // SECOND * SECOND
            mine = [t for t in caught if t.instrument == A]
            assert mine and all(t.ts_event >= window for t in mine)

    run(scenario)
