"""The Kraken spot feed: subscription, the trade-id sequence reader on real frames, and gap repair over REST."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from testkit import free_port
from websockets.asyncio.client import connect

from contracts.records import Gap, Trade
from streaming.feeds import kraken as kraken_feed
from streaming.feeds.base import VenueFeed
from streaming.feeds.registry import FEEDS
from streaming.gaps import SequenceTracker
from streaming.simulator.market import SimTrade
from streaming.simulator.server import open_simulator
from streaming.venues import kraken
from ticklake.settings import Settings, load_settings
from ticklake.timeutil import now_ns

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kraken"
FRAMES = {
    frame["name"]: frame
    for frame in (json.loads(line) for line in (FIXTURES / "frames.jsonl").read_text().splitlines() if line)
}
TIMEOUT = 30.0


def run(scenario: Callable[[], Coroutine[Any, Any, T]], timeout: float = TIMEOUT) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


def sim_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"sim_port": free_port(), "sim_seed": 5, "sim_rate": 300.0}
    values.update(overrides)
    return load_settings(**values)


def tape_key(trade: SimTrade) -> tuple[Any, ...]:
    """A tape trade as the parser must read it (independent of the renderer)."""
    return (
        trade.instrument,
        trade.instrument.replace("-", "/"),
        str(trade.trade_id),
        Decimal(trade.price_text),
        Decimal(trade.size_text),
        trade.side,
        trade.ts_ms * 1_000_000,
    )


def key(trade: Trade) -> tuple[Any, ...]:
    return (trade.instrument, trade.symbol, trade.trade_id, trade.price, trade.size, trade.side, trade.ts_event)


# --- pure ------------------------------------------------------------------------------------------


def test_sequence_reader_on_captured_and_documented_frames() -> None:
    def read(name: str) -> list[tuple[str, int]]:
        frame = FRAMES[name]
        return list(kraken_feed.trade_ids(kraken.parse(frame["raw"], frame["received_at"])))

    assert read("trade_snapshot_docs") == [("trades:MATIC/USD", 4665846), ("trades:MATIC/USD", 4665847)]
    assert read("trade_update_docs") == [("trades:MATIC/USD", 4665906)]
    assert read("trade_update_capture_btcusd") == [("trades:BTC/USD", 97184416)]
    assert read("trade_update_constructed_exact_numbers") == [
        ("trades:ALGO/USD", 7000001),
        ("trades:ALGO/USD", 7000002),
    ]
    assert read("trade_snapshot_constructed_empty") == []
    for name in (
        "heartbeat",
        "status_docs",
        "subscribe_ack_ticker_capture",
        "pong_constructed",
        "book_update_docs_matic",
    ):
        assert read(name) == [], name
    assert read("ticker_snapshot_docs") == []
    # the documented snapshot then update: the tracker sees a jump 4665848..4665905 (to be confirmed over REST)
    tracker = SequenceTracker()
    outcomes = [
        tracker.observe(stream, number)
        for name in ("trade_snapshot_docs", "trade_update_docs")
        for stream, number in read(name)
    ]
    assert [o.outcome for o in outcomes] == ["first", "next", "gap"]
    assert (outcomes[-1].missing_from, outcomes[-1].missing_to) == (4665848, 4665905)


def test_gap_anchors_follow_the_tracker() -> None:
    anchors = kraken_feed.GapAnchors(capacity=2)
    for trade_id, ts in [(10, 100), (11, 110), (14, 140), (12, 120), (14, 141), (15, 150), (20, 200), (30, 300)]:
        anchors.observe("trades:BTC/USD", trade_id, ts)
    anchors.observe("trades:ETH/USD", 5, 50)
    assert anchors.since("trades:BTC/USD", 12) is None  # forgotten: capacity 2
    assert anchors.since("trades:BTC/USD", 16) == 150
    assert anchors.since("trades:BTC/USD", 21) == 200
    assert anchors.since("trades:ETH/USD", 6) is None


def test_feed_definition() -> None:
    settings = load_settings(sim_port=8765)
    feed = FEEDS["kraken"](settings)
    assert isinstance(feed, VenueFeed)
    assert feed.url == "ws://127.0.0.1:8765/kraken/v2"
    assert feed.parse is kraken.parse and feed.sequences is not None and feed.repair is not None
    assert feed.sequences_per_connection is False and feed.catch_up is None
    real = kraken_feed.feed(load_settings(ws_urls={"kraken": "wss://ws.kraken.com/"}))
    assert real.url == "wss://ws.kraken.com/v2"


# --- against the simulator -------------------------------------------------------------------------


def test_on_connect_subscribes_every_configured_pair() -> None:
    settings = sim_settings()
    feed = kraken_feed.feed(settings)

    async def scenario() -> list[dict[str, Any]]:
        async with open_simulator(settings, venues=["kraken"]), connect(feed.url) as ws:
            assert feed.on_connect is not None
            await feed.on_connect(ws)
            replies = []
            while len(replies) < 3:  # status, then one ack per pair
                message = json.loads(await ws.recv())
                if message.get("channel") not in ("trade", "heartbeat"):
                    replies.append(message)
            return replies

    status, *acks = run(scenario)
    assert status["channel"] == "status"
    assert [(a["success"], a["req_id"], a["result"]["symbol"]) for a in acks] == [
        (True, 1, "BTC/USD"),
        (True, 1, "ETH/USD"),
    ]


def test_repair_returns_exactly_each_gaps_missing_trades() -> None:
    settings = sim_settings(sim_skip_every=9, sim_rate=300.0)
    feed = kraken_feed.feed(settings)
    # the feed's own parts, to look at the anchors the reader notes
    anchors = kraken_feed.GapAnchors()
    reader = kraken_feed.sequence_reader(anchors)
    repair = kraken_feed.repairer(settings, anchors)

    async def scenario() -> None:
        async with open_simulator(settings, venues=["kraken"]) as sim, connect(feed.url) as ws:
            assert feed.on_connect is not None
            await feed.on_connect(ws)
            tracker = SequenceTracker()
            gaps: list[Gap] = []
            while len(gaps) < 8:
                frame = feed.parse(await ws.recv(), now_ns())
                for stream, number in reader(frame):
                    seen = tracker.observe(stream, number)
                    if seen.outcome == "gap":
                        assert seen.missing_from is not None and seen.missing_to is not None
                        gaps.append(
                            Gap("kraken", stream, "c", seen.missing_from, seen.missing_to, seen.missing, now_ns())
                        )
            # stop the stream (the history stays): read up to the unsubscribe acks, then nothing more comes
            await ws.send(kraken.unsubscribe_message("trade", ["BTC/USD", "ETH/USD"], 2))
            acks = 0
            while acks < 2:
                acks += json.loads(await ws.recv()).get("method") == "unsubscribe"
            for gap in gaps:
                instrument = kraken.to_instrument(gap.stream.removeprefix("trades:"))
                tape = sim.venues["kraken"].trades_from(instrument)
                (before,) = [t for t in tape if t.trade_id == gap.first_missing - 1]
                assert anchors.since(gap.stream, gap.first_missing) == before.ts_ms * 1_000_000
                repaired = await asyncio.to_thread(repair, gap)
                wanted = [t for t in tape if gap.first_missing <= t.trade_id <= gap.last_missing]
                assert len(wanted) == gap.missing
                assert [key(t) for t in repaired] == [tape_key(t) for t in wanted]
                assert all(t.venue == "kraken" for t in repaired)

    run(scenario)


def test_repair_pages_through_the_history() -> None:
    settings = sim_settings(sim_rate=500.0, sim_max_trades=1400, instruments={"kraken": ["BTC-USD"]})
    feed = kraken_feed.feed(settings)  # a fresh feed: no anchor for the gap, the history is read from far back

    async def scenario() -> None:
        async with open_simulator(settings, venues=["kraken"]) as sim, connect(feed.url) as ws:
            await ws.send(kraken.subscribe_message("trade", ["BTC/USD"], 1))
            await asyncio.wait_for(sim.tasks["kraken"], TIMEOUT)
            tape = sim.venues["kraken"].trades_from("BTC-USD")
            assert len(tape) == 1400
            first, last = tape[1200].trade_id, tape[1204].trade_id
            gap = Gap("kraken", "trades:BTC/USD", "c", first, last, last - first + 1, now_ns())
            assert feed.repair is not None
            repaired = await asyncio.to_thread(feed.repair, gap)
            assert [key(t) for t in repaired] == [tape_key(t) for t in tape[1200:1205]]
            await ws.send(kraken.ping_message(2))  # drain what was sent before closing
            while json.loads(await ws.recv()).get("method") != "pong":
                pass

    run(scenario)
