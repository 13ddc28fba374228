"""The Kraken spot feed: subscriptions, the trade-id sequence reader on real frames, gap repair over REST, and the
book settings (depth 10, CRC32) and resubscription the collector keeps Kraken books with."""

from __future__ import annotations

import asyncio
import functools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from testkit import free_port, run_bounded
from websockets.asyncio.client import connect

from contracts.records import BookUpdate, Gap, Trade
from streaming.book import OrderBook
from streaming.feeds import kraken as kraken_feed
from streaming.feeds.base import VenueFeed
from streaming.feeds.registry import FEEDS
from streaming.gaps import SequenceTracker
from streaming.simulator.market import SimTrade
from streaming.simulator.server import open_simulator
from streaming.venues import kraken
from ticklake.settings import Settings, load_settings
from ticklake.timeutil import now_ns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kraken"
FRAMES = {
    frame["name"]: frame
    for frame in (json.loads(line) for line in (FIXTURES / "frames.jsonl").read_text().splitlines() if line)
}
TIMEOUT = 30.0


run = functools.partial(run_bounded, timeout=TIMEOUT)


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
    # books: kept by the collector with Kraken's depth and CRC32, resynchronised by resubscribing
    assert feed.keeps_books and feed.book_resubscribe is not None and feed.book_snapshot is None
    assert feed.book_depth == kraken_feed.BOOK_DEPTH == 10 and feed.book_checksum is kraken.book_checksum
    assert feed.book_gaps is None  # no sequence spans several books


def test_book_depth_and_checksum_verify_the_captured_book() -> None:
    """The feed's book settings on a live capture: a snapshot, then an update that moves a level into the top 10."""
    feed = kraken_feed.feed(load_settings())
    book = OrderBook("kraken", "ETH-USD", depth=feed.book_depth, checksum=feed.book_checksum)
    for name in ("book_snapshot_capture_ethusd", "book_update_capture_ethusd"):
        frame = FRAMES[name]
        (update,) = kraken.parse(frame["raw"], frame["received_at"]).records
        assert isinstance(update, BookUpdate)
        assert book.apply(update).status == "ok", name
    assert len(book.asks) == 10 and min(book.asks) == Decimal("1797.25") and Decimal("1797.52") in book.asks
    tampered = FRAMES["book_update_capture_ethusd"]["raw"].replace("1.56601318", "1.56601319")
    (update,) = kraken.parse(tampered, 0).records
    assert isinstance(update, BookUpdate) and book.apply(update).status == "checksum_mismatch"


# --- against the simulator -------------------------------------------------------------------------


def test_on_connect_subscribes_every_configured_pair() -> None:
    settings = sim_settings()
    feed = kraken_feed.feed(settings)

    async def scenario() -> list[dict[str, Any]]:
        async with open_simulator(settings, venues=["kraken"]), connect(feed.url) as ws:
            assert feed.on_connect is not None
            await feed.on_connect(ws)
            replies: list[dict[str, Any]] = []
            while len(replies) < 7:  # status, then one ack per channel and pair
                message = json.loads(await ws.recv())
                if message.get("channel") not in ("trade", "book", "ticker", "heartbeat"):
                    replies.append(message)
            return replies

    status, *acks = run(scenario)
    assert status["channel"] == "status"
    assert [(a["success"], a["req_id"], a["result"]) for a in acks] == [
        (True, 1, {"channel": "trade", "snapshot": True, "symbol": "BTC/USD"}),
        (True, 1, {"channel": "trade", "snapshot": True, "symbol": "ETH/USD"}),
        (True, 2, {"channel": "book", "depth": 10, "snapshot": True, "symbol": "BTC/USD"}),
        (True, 2, {"channel": "book", "depth": 10, "snapshot": True, "symbol": "ETH/USD"}),
        (True, 3, {"channel": "ticker", "event_trigger": "trades", "snapshot": True, "symbol": "BTC/USD"}),
        (True, 3, {"channel": "ticker", "event_trigger": "trades", "snapshot": True, "symbol": "ETH/USD"}),
    ]


def test_book_resubscribe_brings_a_fresh_snapshot_of_that_pair_only() -> None:
    settings = sim_settings(sim_rate=300.0)
    feed = kraken_feed.feed(settings)

    async def scenario() -> None:
        async with open_simulator(settings, venues=["kraken"]), connect(feed.url) as ws:
            assert feed.on_connect is not None and feed.book_resubscribe is not None
            await feed.on_connect(ws)
            books = {
                i: OrderBook("kraken", i, depth=feed.book_depth, checksum=feed.book_checksum)
                for i in ("BTC-USD", "ETH-USD")
            }
            kinds: dict[str, list[tuple[str, str]]] = {i: [] for i in books}
            replies: list[tuple[str, str, int]] = []  # (method, symbol, how many BTC book frames came before)

            async def take() -> None:
                message = await ws.recv(decode=False)
                document = json.loads(message)
                if document.get("method") in ("subscribe", "unsubscribe") and document["result"]["channel"] == "book":
                    replies.append((document["method"], document["result"]["symbol"], len(kinds["BTC-USD"])))
                for record in feed.parse(message, now_ns()).records:
                    if isinstance(record, BookUpdate):
                        kinds[record.instrument].append((record.kind, books[record.instrument].apply(record).status))

            while min(len(k) for k in kinds.values()) < 20:
                await take()
            before = len(kinds["BTC-USD"])
            await feed.book_resubscribe(ws, "BTC-USD")
            while len(kinds["BTC-USD"]) < before + 20:
                await take()
            eth = kinds["ETH-USD"]
            assert eth[0] == ("snapshot", "ok") and set(eth[1:]) == {("delta", "ok")}  # ETH/USD untouched
            btc = kinds["BTC-USD"]
            assert btc[0] == ("snapshot", "ok") and set(btc[1:before]) == {("delta", "ok")}
            # the unsubscribe is answered, no BTC/USD book frame comes until the subscription's ack and snapshot
            (unsubscribed,) = [r for r in replies if r[0] == "unsubscribe"]
            resubscribed = [r for r in replies if r[0] == "subscribe" and r[1] == "BTC/USD"][-1]
            assert unsubscribed[1] == "BTC/USD" and unsubscribed[2] >= before
            assert resubscribed[2] == unsubscribed[2]
            assert btc[resubscribed[2]] == ("snapshot", "ok")
            assert set(btc[resubscribed[2] + 1 :]) == {("delta", "ok")}

    run(scenario)


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
                frame = feed.parse(await ws.recv(decode=False), now_ns())
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
