"""The Kraken Futures feed against the real simulator: subscriptions, trade ``seq`` reading, gap repair over REST."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from testkit import run_bounded
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from contracts.records import BookUpdate, Gap, Ticker, Trade
from streaming.book_sync import BookSync
from streaming.errors import StreamingError
from streaming.feeds import krakenfutures as kf_feed
from streaming.feeds.krakenfutures import Anchor, KrakenFuturesReader, SeqAnchors, SequencedFrame, gap_trades
from streaming.feeds.registry import FEEDS
from streaming.gaps import SequenceTracker
from streaming.simulator import krakenfutures_wire as wire
from streaming.simulator.krakenfutures import KrakenFuturesSim
from streaming.simulator.market import Market, SimTrade
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import krakenfutures
from ticklake.settings import Settings, load_settings

VENUE = "krakenfutures"
INSTRUMENTS = ["BTC-USD-PERP", "ETH-USD-PERP"]
TIMEOUT = 30.0


run = functools.partial(run_bounded, timeout=TIMEOUT)


def sim_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"instruments": {VENUE: INSTRUMENTS}, "sim_seed": 21, "sim_rate": 300.0}
    values.update(overrides)
    return load_settings(**values)


def connect(url: str) -> ws_connect:
    """A client that queues whatever it does not read, so that closing it never waits on the flow control."""
    return ws_connect(url, max_queue=None)


def feed_settings(sim: SimulatorHandle) -> Settings:
    """Settings pointing the feed at a running simulator."""
    return sim_settings(ws_urls={VENUE: sim.url(VENUE)}, rest_urls={VENUE: sim.rest_url(VENUE)})


def key(trade: Trade) -> tuple[Any, ...]:
    """A trade without its receive time."""
    return (trade.symbol, trade.trade_id, trade.price, trade.size, trade.side, trade.ts_event)


def sim_key(trade: SimTrade) -> tuple[Any, ...]:
    (parsed,) = krakenfutures.parse(wire.trade_message(trade), 0).records
    assert isinstance(parsed, Trade)
    return key(parsed)


def gap_of(stream: str, first: int, last: int) -> Gap:
    return Gap(VENUE, stream, "conn", first, last, last - first + 1, 0)


async def frames_until(ws: ClientConnection, done: Callable[[list[bytes]], bool]) -> list[bytes]:
    frames: list[bytes] = []
    while not done(frames):
        message = await ws.recv()
        frames.append(message.encode() if isinstance(message, str) else message)
    return frames


def test_feed_url_subscriptions_and_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KrakenFuturesSim, "heartbeat_seconds", 0.2)  # the venue's 5 s, shortened
    assert FEEDS[VENUE] is kf_feed.feed
    real = kf_feed.feed(sim_settings(ws_urls={VENUE: "wss://futures.kraken.com"}))
    assert real.url == "wss://futures.kraken.com/ws/v1"
    assert kf_feed.feed(sim_settings(sim_port=8999)).url == "ws://127.0.0.1:8999/krakenfutures/ws/v1"
    assert real.sequences_per_connection is False and real.catch_up is None and real.repair is not None
    # books: resynchronised by resubscribing; the whole book, no checksum, a book seq of its own per product
    assert real.keeps_books and real.book_resubscribe is not None and real.book_snapshot is None
    assert (real.book_depth, real.book_checksum, real.book_gaps) == (None, None, None)

    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=[VENUE]) as sim:
            feed = kf_feed.feed(feed_settings(sim))
            assert feed.on_connect is not None
            async with connect(feed.url) as ws:
                await feed.on_connect(ws)
                frames = await frames_until(ws, lambda got: sum(b'"heartbeat"' in f for f in got) >= 2)
        parsed = [feed.parse(frame, 0) for frame in frames]
        controls = [json.loads(frame) for frame, p in zip(frames, parsed, strict=True) if p.control == "ack"]
        assert controls == [
            {"event": "info", "version": 1},
            {"event": "subscribed", "feed": "trade", "product_ids": ["PF_XBTUSD", "PF_ETHUSD"]},
            {"event": "subscribed", "feed": "book", "product_ids": ["PF_XBTUSD", "PF_ETHUSD"]},
            {"event": "subscribed", "feed": "ticker", "product_ids": ["PF_XBTUSD", "PF_ETHUSD"]},
            {"event": "subscribed", "feed": "heartbeat"},
        ]
        assert [p.control for p in parsed].count("heartbeat") == 1  # the feed's heartbeat follows its ack
        # data of every subscription; each book starts with its snapshot, the only one
        assert {p.channel for p in parsed if p.control is None} == {
            f"{feed}:{product}" for feed in ("trade", "book", "ticker") for product in ("PF_XBTUSD", "PF_ETHUSD")
        }
        books = [r for p in parsed for r in p.records if isinstance(r, BookUpdate)]
        for instrument in INSTRUMENTS:
            kinds = [b.kind for b in books if b.instrument == instrument]
            assert kinds[0] == "snapshot" and kinds.count("snapshot") == 1
        assert all(isinstance(r, Ticker) for p in parsed if p.channel.startswith("ticker:") for r in p.records)

    run(scenario)


def test_sequence_reader_on_real_frames() -> None:
    settings = sim_settings(sim_skip_every=6)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim:
            feed = kf_feed.feed(feed_settings(sim))
            assert feed.on_connect is not None and feed.sequences is not None
            async with connect(feed.url) as ws:
                await feed.on_connect(ws)
                frames = await frames_until(ws, lambda got: sum(b'"feed":"trade"' in f for f in got) >= 120)
                reference = Market(settings.sim_seed, INSTRUMENTS)
                expected_seqs = {
                    f"trade:{wire.product_id_of(i)}": [
                        reference.next_trade(i, 0).trade_id for _ in sim.venues[VENUE].trades_from(i)
                    ]
                    for i in INSTRUMENTS
                }
                read: dict[str, list[int]] = {}
                for frame in frames:
                    parsed = feed.parse(frame, 0)
                    pairs = list(feed.sequences(parsed))
                    trades = [r for r in parsed.records if isinstance(r, Trade)]
                    if not trades:
                        assert pairs == [] and not isinstance(parsed, SequencedFrame)
                        continue
                    (trade,) = trades
                    (stream, seq) = pairs[0]
                    assert len(pairs) == 1 and stream == parsed.channel == f"trade:{trade.symbol}"
                    assert seq == json.loads(frame)["seq"]
                    read.setdefault(stream, []).append(seq)
                for stream, seqs in read.items():  # the seeded tape's numbers, less the lost ones
                    assert set(seqs) < set(expected_seqs[stream])
                    assert seqs == sorted(seqs) and seqs[-1] - seqs[0] + 1 > len(seqs)
                # a later subscriber's snapshot: its trades' numbers, ascending and consecutive (lost ones too)
                async with connect(feed.url) as late:
                    await late.send(krakenfutures.subscribe_message("trade", ["PF_ETHUSD"]))
                    while b"trade_snapshot" not in (snapshot := str(await late.recv()).encode()):
                        pass
                history = sim.venues[VENUE].trades_from("ETH-USD-PERP")
            parsed = feed.parse(snapshot, 0)
            assert isinstance(parsed, SequencedFrame) and len(parsed.records) > 50
            seqs = [seq for _, seq in feed.sequences(parsed)]
            assert seqs == [t.trade_id for t in history if t.trade_id <= seqs[-1]][-100:]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    run(scenario)


def test_repair_returns_exactly_each_gaps_missing_trades() -> None:
    settings = sim_settings(sim_max_trades=500, sim_skip_every=5, sim_reorder_every=23)

    async def scenario() -> tuple[list[tuple[Gap, list[Trade]]], list[tuple[str, int]], dict[int, SimTrade]]:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim:
            feed = kf_feed.feed(feed_settings(sim))
            assert feed.on_connect is not None and feed.sequences is not None and feed.repair is not None
            async with connect(feed.url) as ws:
                await feed.on_connect(ws)
                await asyncio.wait_for(sim.tasks[VENUE], TIMEOUT)
                await ws.send(krakenfutures.unsubscribe_message("heartbeat", []))
                frames = await frames_until(ws, lambda got: bool(got) and b'"unsubscribed"' in got[-1])
            tracker = SequenceTracker()
            gaps = []
            arrivals = []
            for frame in frames:
                for stream, seq in feed.sequences(feed.parse(frame, 0)):
                    arrivals.append((stream, seq))
                    seen = tracker.observe(stream, seq)
                    if seen.outcome == "gap":
                        assert seen.missing_from is not None and seen.missing_to is not None
                        gaps.append(gap_of(stream, seen.missing_from, seen.missing_to))
            repaired = [(gap, await asyncio.to_thread(feed.repair, gap)) for gap in gaps]
            tape = {t.trade_id: t for i in INSTRUMENTS for t in sim.venues[VENUE].trades_from(i)}
            return repaired, arrivals, tape

    repaired, arrivals, tape = run(scenario)
    for gap, trades in repaired:  # each repair: exactly the gap's trades, in order
        assert [key(t) for t in trades] == [sim_key(tape[n]) for n in range(gap.first_missing, gap.last_missing + 1)]
        assert all(t.ts_recv > 0 for t in trades)
    covered = {(gap.stream, n) for gap, _ in repaired for n in range(gap.first_missing, gap.last_missing + 1)}
    delivered = set(arrivals)
    lost = set()
    for instrument in INSTRUMENTS:
        stream = f"trade:{wire.product_id_of(instrument)}"
        seqs = [seq for name, seq in arrivals if name == stream]
        lost |= {(stream, n) for n in range(min(seqs), max(seqs)) if (stream, n) not in delivered}
    assert lost <= covered and len(lost) >= 500 // 5 - 4  # every trade the wire lost is a gap...
    late = covered - lost  # ...and so is every trade delivered after the one that followed it (reordered)
    assert late and all(
        any(name == stream and seq > n for name, seq in arrivals[: arrivals.index((stream, n))]) for stream, n in late
    )
    assert {gap.stream for gap, _ in repaired} == {"trade:PF_XBTUSD", "trade:PF_ETHUSD"}


def test_repair_across_a_reconnect_pages_through_the_history() -> None:
    settings = sim_settings(sim_rate=1000.0, instruments={VENUE: ["BTC-USD-PERP"]})

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim:
            venue = sim.venues[VENUE]
            feed = kf_feed.feed(feed_settings(sim))
            assert feed.on_connect is not None and feed.sequences is not None and feed.repair is not None
            tracker = SequenceTracker()
            gaps = []

            def observe(frames: list[bytes]) -> None:
                for frame in frames:
                    for stream, seq in feed.sequences(feed.parse(frame, 0)):
                        seen = tracker.observe(stream, seq)
                        if seen.outcome == "gap":
                            assert seen.missing_from is not None and seen.missing_to is not None
                            gaps.append(gap_of(stream, seen.missing_from, seen.missing_to))

            async with connect(f"{sim.url(VENUE)}/ws/v1") as keeper:  # keeps the product trading meanwhile
                await keeper.send(krakenfutures.subscribe_message("trade", ["PF_XBTUSD"]))
                async with connect(feed.url) as first:
                    await feed.on_connect(first)
                    observe(await frames_until(first, lambda got: sum(b'"feed":"trade"' in f for f in got) >= 50))
                left_at = venue.generated
                while venue.generated < left_at + 1400:
                    await keeper.recv()
                async with connect(feed.url) as second:  # numbering goes on: the snapshot reveals the gap
                    await feed.on_connect(second)
                    observe(await frames_until(second, lambda got: bool(got) and b"trade_snapshot" in got[-1]))
            (gap,) = gaps
            assert gap.missing > 1000  # more than one page of the history
            trades = await asyncio.to_thread(feed.repair, gap)
            by_seq = {t.trade_id: t for t in venue.trades_from("BTC-USD-PERP")}
            assert [key(t) for t in trades] == [
                sim_key(by_seq[n]) for n in range(gap.first_missing, gap.last_missing + 1)
            ]

    run(scenario)


def test_repair_without_the_trade_before_the_gap_counts_back_from_the_one_after() -> None:
    settings = sim_settings(sim_max_trades=300, sim_skip_every=4, instruments={VENUE: ["ETH-USD-PERP"]})

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim:
            async with connect(f"{sim.url(VENUE)}/ws/v1") as ws:
                await ws.send(krakenfutures.subscribe_message("trade", ["PF_ETHUSD"]))
                await asyncio.wait_for(sim.tasks[VENUE], TIMEOUT)
            history = sim.venues[VENUE].trades_from("ETH-USD-PERP")
            anchors = SeqAnchors()
            target = history[200]
            anchors.add("trade:PF_ETHUSD", target.trade_id, Anchor(wire.uid_of(target), target.ts_ms))
            repair = kf_feed.repairer(feed_settings(sim), anchors)
            gap = gap_of("trade:PF_ETHUSD", history[190].trade_id, history[199].trade_id)
            trades = await asyncio.to_thread(repair, gap)
            assert [key(t) for t in trades] == [sim_key(t) for t in history[190:200]]
            with pytest.raises(StreamingError):
                repair(gap_of("trade:PF_ETHUSD", history[10].trade_id, history[12].trade_id))

    run(scenario)


def test_gap_trades_between_anchors() -> None:
    listed = [
        Trade(VENUE, "BTC-USD-PERP", "PF_XBTUSD", f"u{i}", Decimal("1"), Decimal("1"), "buy", i, 0) for i in range(10)
    ]
    assert gap_trades(listed, "u2", "u6", 3) == listed[3:6]
    assert gap_trades(listed, None, "u6", 2) == listed[4:6]
    assert gap_trades(listed, "u2", None, 2) == listed[3:5]
    assert gap_trades(listed, "u2", "u3", 0) == []
    assert gap_trades(listed, "x", "y", 2) == []
    reader = KrakenFuturesReader()
    assert reader.sequences(krakenfutures.parse(wire.info_message(), 0)) == ()


def test_book_resubscribe_gets_a_fresh_snapshot_that_the_diffs_continue() -> None:
    settings = sim_settings(sim_max_trades=2_000)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim:
            feed = kf_feed.feed(feed_settings(sim))
            assert feed.on_connect is not None and feed.book_resubscribe is not None
            sync = BookSync(VENUE)
            async with connect(feed.url) as ws:
                await feed.on_connect(ws)

                async def read(done: Callable[[list[tuple[bytes, Any]]], bool]) -> list[tuple[bytes, Any]]:
                    got: list[tuple[bytes, Any]] = []
                    while not done(got):
                        message = await ws.recv()
                        raw = message.encode() if isinstance(message, str) else message
                        parsed = feed.parse(raw, 0)
                        got.append((raw, parsed))
                        for record in parsed.records:
                            if isinstance(record, BookUpdate):
                                actions = sync.update(record)
                                assert actions.gap is None and not actions.snapshot_wanted
                    return got

                def deltas(got: list[tuple[bytes, Any]], product: str) -> list[int]:
                    return [
                        r.sequence
                        for _, p in got
                        for r in p.records
                        if isinstance(r, BookUpdate) and r.symbol == product and r.kind == "delta" and r.sequence
                    ]

                before = await read(lambda got: len(deltas(got, "PF_XBTUSD")) >= 40)
                await feed.book_resubscribe(ws, "BTC-USD-PERP")
                after = await read(lambda got: bool(got) and b'"feed":"book_snapshot"' in got[-1][0])
                after += await read(lambda got: len(deltas(got, "PF_XBTUSD")) >= 10)
            events = [json.loads(raw) for raw, p in after if p.control is not None]
            assert {"event": "unsubscribed", "feed": "book", "product_ids": ["PF_XBTUSD"]} in events
            assert {"event": "subscribed", "feed": "book", "product_ids": ["PF_XBTUSD"]} in events
            position = next(i for i, (raw, _) in enumerate(after) if b"book_snapshot" in raw)
            (snapshot,) = after[position][1].records
            assert snapshot.symbol == "PF_XBTUSD" and snapshot.sequence >= deltas(before, "PF_XBTUSD")[-1]
            unsubscribed_at = next(i for i, (raw, _) in enumerate(after) if b'"unsubscribed"' in raw)
            assert not deltas(after[unsubscribed_at:position], "PF_XBTUSD")  # nothing between the two
            continued = deltas(after[position:], "PF_XBTUSD")
            assert continued == list(range(snapshot.sequence + 1, snapshot.sequence + 1 + len(continued)))
            eth = deltas(before + after, "PF_ETHUSD")  # the other product's book is not touched
            assert eth == list(range(eth[0], eth[0] + len(eth))) and len(eth) > 40
            book = sync.book("BTC-USD-PERP")
            assert book.synced and book.sequence == snapshot.sequence + len(continued)

    run(scenario)
