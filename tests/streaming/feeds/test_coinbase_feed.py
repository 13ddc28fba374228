"""The Coinbase feed against the real simulator: subscriptions, the trade-id and frame-number reader, books kept by
resubscribing, REST repair of gaps; and the Exchange feed (matches, heartbeats, their trade-id reader)."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from testkit import free_port, run_bounded
from websockets.asyncio.client import connect

from contracts.records import BookUpdate, Gap, Ticker, Trade
from streaming.errors import ParseError, StreamingError
from streaming.feeds.coinbase import (
    FRAMES_STREAM,
    ExchangeHeartbeat,
    NumberedFrame,
    exchange_trade_ids,
    feed,
    heartbeat_horizons,
    parse_exchange,
    resubscribe_book,
    sequences,
    trade_ids,
)
from streaming.feeds.registry import FEEDS
from streaming.gaps import SequenceTracker
from streaming.simulator import coinbase_wire as wire
from streaming.simulator.market import SimTrade
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import coinbase
from streaming.venues.base import ParsedFrame
from ticklake.settings import Settings, load_settings

INSTRUMENTS = ["BTC-USD", "ETH-USD"]
TIMEOUT = 30.0
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "coinbase"


run = functools.partial(run_bounded, timeout=TIMEOUT)


def feed_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "venues": ["coinbase"],
        "instruments": {"coinbase": INSTRUMENTS},
        "sim_port": free_port(),
        "sim_seed": 11,
        "sim_rate": 400.0,
    }
    values.update(overrides)
    return load_settings(**values)


def gap(stream: str, first: int, last: int) -> Gap:
    return Gap("coinbase", stream, "conn", first, last, last - first + 1, 0)


def key(trade: Trade) -> tuple[Any, ...]:
    return (trade.symbol, trade.trade_id, trade.price, trade.size, trade.side, trade.ts_event)


def tape_key(trade: SimTrade) -> tuple[Any, ...]:
    return (trade.instrument, str(trade.trade_id), trade.price, trade.size, trade.side, trade.ts_ms * 1_000_000)


async def trade_until_exhausted(sim: SimulatorHandle) -> None:
    async with connect(sim.url("coinbase"), max_queue=None) as ws:  # unread frames must not block the close
        await ws.send(coinbase.subscribe_message(INSTRUMENTS, "market_trades"))
        await asyncio.wait_for(sim.tasks["coinbase"], TIMEOUT)


def test_feed_connects_at_the_root_and_subscribes_trades_books_tickers_and_heartbeats() -> None:
    settings = feed_settings()
    coinbase_feed = feed(settings)
    assert FEEDS["coinbase"] is feed
    assert coinbase_feed.url == settings.ws_url("coinbase") == f"ws://127.0.0.1:{settings.sim_port}/coinbase"
    assert coinbase_feed.sequences_per_connection is False and coinbase_feed.catch_up is None
    assert coinbase_feed.connection_streams == frozenset({FRAMES_STREAM})
    assert coinbase_feed.keeps_books and coinbase_feed.book_snapshot is None
    assert coinbase_feed.book_resubscribe is resubscribe_book
    assert (coinbase_feed.book_depth, coinbase_feed.book_checksum) == (None, None)
    assert coinbase_feed.on_connect is not None

    async def scenario() -> None:
        async with (
            open_simulator(settings, venues=["coinbase"]) as sim,
            connect(coinbase_feed.url) as ws,
        ):
            assert coinbase_feed.on_connect is not None
            await coinbase_feed.on_connect(ws)
            acks = []
            trades: list[Trade] = []
            books: list[BookUpdate] = []
            tickers: list[Ticker] = []
            numbers: list[int] = []
            beats = 0
            while beats < 1:
                parsed = coinbase_feed.parse(await ws.recv(decode=False), 0)
                assert isinstance(parsed, NumberedFrame)
                numbers.append(parsed.sequence_num)
                if parsed.control == "ack":
                    acks.append(parsed)
                beats += parsed.control == "heartbeat"
                trades += [record for record in parsed.records if isinstance(record, Trade)]
                books += [record for record in parsed.records if isinstance(record, BookUpdate)]
                tickers += [record for record in parsed.records if isinstance(record, Ticker)]
            assert len(acks) == 4 and numbers == list(range(len(numbers)))
            assert {trade.instrument for trade in trades} == set(INSTRUMENTS)
            # each book starts with its snapshot; the ticker snapshot lists both products
            assert [(b.instrument, b.kind) for b in books[:2]] == [(i, "snapshot") for i in INSTRUMENTS]
            assert {(b.instrument, b.kind) for b in books[2:]} <= {(i, "delta") for i in INSTRUMENTS}
            assert {ticker.instrument for ticker in tickers} == set(INSTRUMENTS)
            assert [c.subscriptions for c in sim.venues["coinbase"].clients] == [
                {
                    ("market_trades", "BTC-USD"): None,
                    ("market_trades", "ETH-USD"): None,
                    ("level2", "BTC-USD"): None,
                    ("level2", "ETH-USD"): None,
                    ("ticker", "BTC-USD"): None,
                    ("ticker", "ETH-USD"): None,
                    ("heartbeats", "heartbeats"): None,
                }
            ]

    run(scenario)


def test_the_frame_number_reader_and_book_gaps_on_captured_frames() -> None:
    frames = {
        frame["name"]: frame["raw"] for frame in map(json.loads, (FIXTURES / "frames.jsonl").read_text().splitlines())
    }
    coinbase_feed = feed(feed_settings())
    assert coinbase_feed.sequences is sequences and coinbase_feed.book_gaps is not None
    # every Advanced Trade frame yields its sequence_num on the connection's stream, after its trade ids
    sweep = coinbase_feed.parse(frames["adv_market_trades_sweep_down"], 0)
    assert list(sequences(sweep)) == [
        *(("trades:BTC-USD", n) for n in range(1100253449, 1100253456)),
        (FRAMES_STREAM, 8),
    ]
    for name, number in [("adv_l2_update_one_bid", 6), ("adv_heartbeats", 3), ("adv_subscriptions_ack", 11)]:
        parsed = coinbase_feed.parse(frames[name], 0)
        plain = coinbase.parse(frames[name], 0)
        assert parsed == NumberedFrame(plain.channel, plain.records, plain.control, sequence_num=number), name
        assert list(sequences(parsed)) == [(FRAMES_STREAM, number)], name
    # the frame keeps what the parser read; error frames carry no number
    (update,) = coinbase_feed.parse(frames["adv_l2_update_one_bid"], 0).records
    assert isinstance(update, BookUpdate) and update.sequence is None
    error = coinbase_feed.parse(frames["adv_error"], 0)
    assert not isinstance(error, NumberedFrame) and list(sequences(error)) == []
    with pytest.raises(ParseError):
        coinbase_feed.parse(b'{"channel":"l2_data"}', 0)
    # a jump of the frame numbers leaves every configured book unknown; a trade-id jump none
    assert list(coinbase_feed.book_gaps(FRAMES_STREAM)) == INSTRUMENTS
    assert list(coinbase_feed.book_gaps("trades:BTC-USD")) == []


def test_resubscribing_a_book_brings_a_fresh_snapshot_after_its_acks() -> None:
    settings = feed_settings(sim_rate=300.0)
    coinbase_feed = feed(settings)

    async def scenario() -> None:
        async with (
            open_simulator(settings, venues=["coinbase"]) as sim,
            connect(coinbase_feed.url) as ws,
        ):
            assert coinbase_feed.on_connect is not None
            await coinbase_feed.on_connect(ws)
            tracker = SequenceTracker()

            async def next_frame() -> tuple[dict[str, Any], NumberedFrame]:
                raw = await ws.recv(decode=False)
                parsed = coinbase_feed.parse(raw, 0)
                assert isinstance(parsed, NumberedFrame)
                for stream, number in sequences(parsed):
                    tracker.observe(stream, number)
                return json.loads(raw), parsed

            flowing: set[str] = set()
            while flowing != set(INSTRUMENTS):  # both books are past their snapshots
                _, parsed = await next_frame()
                flowing |= {r.instrument for r in parsed.records if isinstance(r, BookUpdate) and r.kind == "delta"}
            await resubscribe_book(ws, "ETH-USD")
            acks: list[list[str]] = []
            eth: list[str] = []  # ETH-USD book frames after the first ack
            btc = 0  # BTC-USD book frames after the second ack
            while not eth or btc < 3:
                message, parsed = await next_frame()
                if parsed.control == "ack":
                    acks.append(message["events"][0]["subscriptions"]["level2"])
                for record in parsed.records:
                    if isinstance(record, BookUpdate) and acks:
                        if record.instrument == "ETH-USD":
                            eth.append(record.kind)
                        elif len(acks) == 2:
                            btc += 1
            # unsubscribed (the ack lists BTC-USD only), subscribed again, then the snapshot comes first
            assert acks == [["BTC-USD"], ["BTC-USD", "ETH-USD"]] and eth[0] == "snapshot"
            assert tracker.gaps == 0 and tracker.duplicates == 0  # acks and snapshot are numbered like any frame
            (client,) = sim.venues["coinbase"].clients
            assert ("level2", "ETH-USD") in client.subscriptions

    run(scenario)


def test_the_sequence_reader_on_captured_frames() -> None:
    frames = {
        frame["name"]: frame["raw"] for frame in map(json.loads, (FIXTURES / "frames.jsonl").read_text().splitlines())
    }
    # a snapshot lists trades newest first: the reader yields them in ascending order
    sweep = list(trade_ids(coinbase.parse(frames["adv_market_trades_sweep_down"], 0)))
    assert sweep == [("trades:BTC-USD", n) for n in range(1100253449, 1100253456)]
    assert list(trade_ids(coinbase.parse(frames["adv_market_trades_update_two"], 0))) == [
        ("trades:ETH-USD", 846149798),
        ("trades:ETH-USD", 846149799),
    ]
    for name in ("adv_heartbeats", "adv_subscriptions_ack", "adv_error", "adv_l2_update_one_bid", "ex_match"):
        assert list(trade_ids(coinbase.parse(frames[name], 0))) == [], name


def test_the_sequence_reader_across_a_reconnect_reports_exactly_what_the_wire_lost() -> None:
    """Trade ids do not restart per connection: what a reconnect skipped is a gap, the snapshot fills the rest."""
    settings = feed_settings(sim_rate=300.0)

    async def scenario() -> tuple[list[str], list[int]]:
        async with (
            open_simulator(settings, venues=["coinbase"]) as sim,
            connect(sim.url("coinbase"), max_queue=None) as keeper,  # keeps BTC-USD trading; never read
        ):
            await keeper.send(coinbase.subscribe_message(["BTC-USD"], "market_trades"))
            venue = sim.venues["coinbase"]
            frames: list[str] = []
            async with connect(sim.url("coinbase")) as first:
                await first.send(coinbase.subscribe_message(["BTC-USD"], "market_trades"))
                while len(frames) < 30:
                    frames.append(str(await first.recv()))
            generated = venue.generated
            while venue.generated < generated + 120:  # more than the snapshot's 50 trades pass unseen
                await asyncio.sleep(0.05)
            async with connect(sim.url("coinbase")) as second:
                await second.send(coinbase.subscribe_message(["BTC-USD"], "market_trades"))
                for _ in range(30):
                    frames.append(str(await second.recv()))
            return frames, [trade.trade_id for trade in venue.trades_from("BTC-USD")]

    frames, history = run(scenario)
    tracker = SequenceTracker()  # not reset between connections: sequences_per_connection is False
    delivered: set[int] = set()
    missing: set[int] = set()
    for frame in frames:
        for stream, number in trade_ids(coinbase.parse(frame, 0)):
            assert stream == "trades:BTC-USD"
            delivered.add(number)
            seen = tracker.observe(stream, number)
            if seen.outcome == "gap":
                assert seen.missing_from is not None and seen.missing_to is not None
                missing |= set(range(seen.missing_from, seen.missing_to + 1))
    assert missing == set(range(min(delivered), max(delivered) + 1)) - delivered
    assert len(missing) >= 50 and tracker.gaps == 1 and missing <= set(history)


def test_repair_fetches_exactly_the_gap_paging_the_exchange_history() -> None:
    settings = feed_settings(sim_rate=500.0, sim_max_trades=2600)
    repair = feed(settings).repair
    assert repair is not None

    async def scenario() -> None:
        async with open_simulator(settings, venues=["coinbase"]) as sim:
            await trade_until_exhausted(sim)
            venue = sim.venues["coinbase"]
            btc = venue.trades_from("BTC-USD")
            eth = venue.trades_from("ETH-USD")
            assert len(btc) + len(eth) == 2600 and len(btc) > 1200
            first = btc[0].trade_id
            # more than one page (1000 a page): 1151 trades
            wide = await asyncio.to_thread(repair, gap("trades:BTC-USD", first + 100, first + 1250))
            assert [key(t) for t in wide] == [tape_key(t) for t in btc[100:1251]]
            assert all(t.venue == "coinbase" and t.instrument == "BTC-USD" for t in wide)
            one = await asyncio.to_thread(repair, gap("trades:ETH-USD", eth[7].trade_id, eth[7].trade_id))
            assert [key(t) for t in one] == [tape_key(eth[7])]
            # beyond the history at either end: only what exists
            last = btc[-1].trade_id
            tail = await asyncio.to_thread(repair, gap("trades:BTC-USD", last - 2, last + 40))
            assert [key(t) for t in tail] == [tape_key(t) for t in btc[-3:]]
            head = await asyncio.to_thread(repair, gap("trades:BTC-USD", first - 30, first + 1))
            assert [key(t) for t in head] == [tape_key(t) for t in btc[:2]]
            with pytest.raises(StreamingError):  # HTTP 404: a product the venue does not list
                await asyncio.to_thread(repair, gap("trades:DOGE-USD", 5, 6))
            with pytest.raises(ParseError):
                await asyncio.to_thread(repair, gap("trades:doge", 5, 6))

    run(scenario)


# --- the Exchange feed (settings.coinbase_feed == "exchange") ------------------------------------------------


def exchange_frames(*specs: tuple[str, str, int]) -> list[ParsedFrame]:
    """Exchange frames rendered like the venue's, parsed by the feed: ``("match" | "beat", product, trade id)``."""
    parsed: list[ParsedFrame] = []
    for kind, product, number in specs:
        if kind == "beat":
            raw = wire.exchange_heartbeat_frame(product, last_trade_id=number, timestamp_ns=10**18)
        else:
            trade = SimTrade(product, number, number, "100.00000000", "0.50000000", "buy", 1_790_000_000_000)
            raw = wire.exchange_match_frame(trade, last=kind == "last")
        parsed.append(parse_exchange(raw.encode(), 0))
    return parsed


def gaps_of(frames: list[ParsedFrame]) -> list[tuple[str, int, int]]:
    """Feed the Exchange readers' numbers, then horizons, to a tracker as the collector does; the gaps recorded."""
    tracker = SequenceTracker()
    found = []
    for parsed in frames:
        seen = [(stream, tracker.observe(stream, number)) for stream, number in exchange_trade_ids(parsed)]
        seen += [(stream, tracker.reveal(stream, last)) for stream, last in heartbeat_horizons(parsed)]
        for stream, observation in seen:
            if observation.outcome == "gap":
                assert observation.missing_from is not None and observation.missing_to is not None
                found.append((stream, observation.missing_from, observation.missing_to))
    return found


def test_exchange_feed_settings_url_and_no_books() -> None:
    settings = feed_settings(coinbase_feed="exchange")
    exchange = feed(settings)
    assert exchange.url == f"ws://127.0.0.1:{settings.sim_port}/coinbase/exchange"
    assert exchange.parse is parse_exchange and exchange.sequences is exchange_trade_ids
    assert exchange.horizons is heartbeat_horizons
    assert exchange.sequences_per_connection is False and exchange.connection_streams == frozenset()
    assert exchange.book_resubscribe is None and exchange.book_gaps is None and not exchange.keeps_books
    assert exchange.repair is not None and exchange.catch_up is None
    live = feed(feed_settings(coinbase_feed="exchange", ws_urls={"coinbase": "wss://ws-feed.exchange.coinbase.com"}))
    assert live.url == "wss://ws-feed.exchange.coinbase.com"
    assert feed(feed_settings()).url.endswith("/coinbase")  # the default stays Advanced Trade


def test_exchange_readers_trade_ids_and_what_heartbeats_reveal() -> None:
    frames = exchange_frames(
        ("beat", "BTC-USD", 7),  # no baseline yet: nothing known missing
        ("last", "BTC-USD", 10),
        ("match", "BTC-USD", 11),
        ("beat", "BTC-USD", 11),  # nothing missing
        ("match", "BTC-USD", 13),  # 12 lost: the next match reveals it
        ("beat", "BTC-USD", 15),  # 14..15 lost: the heartbeat reveals them at once
        ("match", "BTC-USD", 16),
        ("match", "BTC-USD", 18),  # 17 lost
        ("beat", "BTC-USD", 19),  # the tape's last trade lost, nothing after it but heartbeats
        ("beat", "ETH-USD", 3),  # another product: no baseline of its own yet
        ("match", "BTC-USD", 21),  # 20 lost right after what the heartbeat revealed: still a gap
        ("match", "BTC-USD", 14),  # a late arrival of a repaired one: no gap, nothing moves back
        ("beat", "BTC-USD", 21),
    )
    assert gaps_of(frames) == [
        ("trades:BTC-USD", 12, 12),
        ("trades:BTC-USD", 14, 15),
        ("trades:BTC-USD", 17, 17),
        ("trades:BTC-USD", 19, 19),
        ("trades:BTC-USD", 20, 20),
    ]
    assert frames[0] == ExchangeHeartbeat("heartbeat", (), "heartbeat", product="BTC-USD", last_trade_id=7)
    (trade,) = frames[10].records
    assert isinstance(trade, Trade) and trade.trade_id == "21" and trade.side == "buy"  # the taker side
    # per product: one product's heartbeat says nothing about another's trades
    assert gaps_of(
        exchange_frames(
            ("match", "ETH-USD", 1),
            ("match", "BTC-USD", 1),
            ("beat", "ETH-USD", 4),
            ("beat", "BTC-USD", 1),
        )
    ) == [("trades:ETH-USD", 2, 4)]
    with pytest.raises(ParseError):
        parse_exchange(b'{"type":"heartbeat","product_id":"BTC-USD"}', 0)


def test_exchange_feed_against_the_simulator_subscribes_matches_and_heartbeats() -> None:
    settings = feed_settings(coinbase_feed="exchange", sim_rate=300.0)
    exchange = feed(settings)

    async def scenario() -> None:
        async with (
            open_simulator(settings, venues=["coinbase"]) as sim,
            connect(exchange.url) as ws,
        ):
            assert exchange.on_connect is not None
            await exchange.on_connect(ws)
            first = exchange.parse(await ws.recv(decode=False), 0)
            assert (first.channel, first.control) == ("subscriptions", "ack")
            trades: list[Trade] = []
            beats: set[str] = set()
            while beats != set(INSTRUMENTS):
                parsed = exchange.parse(await ws.recv(decode=False), 0)
                if isinstance(parsed, ExchangeHeartbeat):
                    beats.add(parsed.product)
                else:
                    assert parsed.channel == "matches"
                    trades += [record for record in parsed.records if isinstance(record, Trade)]
            assert {trade.instrument for trade in trades} == set(INSTRUMENTS)
            (client,) = sim.venues["coinbase"].clients
            assert client.path == "/exchange"
            assert set(client.subscriptions) == {(c, i) for c in ("matches", "heartbeat") for i in INSTRUMENTS}

    run(scenario)
