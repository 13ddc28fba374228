"""The Kalshi feed: its API key, signed handshake, one subscription per market, the seq reader on real frames,
and REST repair of gaps and catch-up against the real simulator."""

from __future__ import annotations

import asyncio
import functools
import json
import stat
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from testkit import free_port, run_bounded
from websockets.asyncio.client import connect

from contracts.records import BookUpdate, Gap, Lifecycle, Ticker, Trade
from streaming.book_sync import BookSync
from streaming.errors import ParseError, StreamingError
from streaming.feeds.base import VenueFeed
from streaming.feeds.kalshi import LIFECYCLE_STREAM, KalshiFeed, SequencedFrame, between, feed, stream_of
from streaming.feeds.kalshi_keys import DEV_KEY_FILE, DEV_KEY_ID, generate_private_key, public_key_pem, resolve_key
from streaming.feeds.registry import FEEDS
from streaming.gaps import SequenceTracker
from streaming.simulator import kalshi_wire
from streaming.simulator.kalshi import KalshiSim
from streaming.simulator.kalshi_book import KalshiBook, LevelChange
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import kalshi
from ticklake.errors import ConfigError
from ticklake.settings import Settings, load_settings

BTC, ETH = "KXBTCD-26NOV2117-T95999.99", "KXETHD-26NOV2117-T3499.99"
INSTRUMENTS = [f"KALSHI:{BTC}", f"KALSHI:{ETH}"]
TIMEOUT = 30.0
NS = 1_000_000_000


run = functools.partial(run_bounded, timeout=TIMEOUT)


def feed_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "venues": ["kalshi"],
        "instruments": {"kalshi": INSTRUMENTS},
        "sim_port": free_port(),
        "sim_seed": 13,
        "sim_rate": 300.0,
    }
    values.update(overrides)
    return load_settings(**values)


def gap(stream: str, first: int, last: int) -> Gap:
    return Gap("kalshi", stream, "conn", first, last, last - first + 1, 0)


def trade(ticker: str, trade_id: str, ts_event: int = 1_790_000_000 * NS) -> Trade:
    return Trade("kalshi", f"KALSHI:{ticker}", ticker, trade_id, Decimal("0.5"), Decimal(1), "buy", ts_event, 0)


# --- the key ---------------------------------------------------------------------------------------


def test_development_key_is_generated_once_private_and_shared(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")
    path = tmp_path / "state" / DEV_KEY_FILE
    assert not path.exists()
    results: list[tuple[str, bytes]] = []
    barrier = threading.Barrier(4)

    def resolve() -> None:
        barrier.wait()
        results.append(resolve_key(settings))

    threads = [threading.Thread(target=resolve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 4 and len(set(results)) == 1  # racing processes agree on one key
    key_id, pem = results[0]
    assert key_id == DEV_KEY_ID and path.read_bytes() == pem and pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [DEV_KEY_FILE]  # no file left aside
    assert resolve_key(settings) == (DEV_KEY_ID, pem)  # reused, not regenerated
    headers = kalshi.auth_headers(key_id, pem, 1_790_000_000_000)
    assert kalshi.verify_signature(
        public_key_pem(pem), headers["KALSHI-ACCESS-SIGNATURE"], 1_790_000_000_000, "GET", kalshi.WS_PATH
    )


def test_a_configured_key_file_is_used_and_bad_key_settings_fail(tmp_path: Path) -> None:
    key_file = tmp_path / "kalshi.pem"
    key_file.write_bytes(generate_private_key())
    state = tmp_path / "state"
    settings = load_settings(state_dir=state, kalshi_api_key_id="abc-123", kalshi_private_key_path=key_file)
    assert resolve_key(settings) == ("abc-123", key_file.read_bytes())
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kalshi_api_key_id": "abc-123"}, "KALSHI_PRIVATE_KEY_PATH"),
        ({"kalshi_private_key_path": key_file}, "KALSHI_API_KEY_ID"),
        ({"kalshi_api_key_id": "abc-123", "kalshi_private_key_path": tmp_path / "missing.pem"}, "cannot read"),
        ({"kalshi_api_key_id": "abc-123", "kalshi_private_key_path": garbage}, "not a usable Kalshi private key"),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match=message):
            feed(load_settings(state_dir=state, **overrides))
    assert not state.exists()  # no development key where a real one is configured


def test_feed_url_signed_headers_and_settings() -> None:
    settings = feed_settings()
    kalshi_feed = feed(settings)
    assert FEEDS["kalshi"] is feed
    assert kalshi_feed.url == f"ws://127.0.0.1:{settings.sim_port}/kalshi/trade-api/ws/v2"
    real = feed(feed_settings(ws_urls={"kalshi": "wss://api.elections.kalshi.com"}))
    assert real.url == "wss://api.elections.kalshi.com/trade-api/ws/v2"
    assert kalshi_feed.sequences_per_connection is True
    assert kalshi_feed.repair is not None and kalshi_feed.catch_up is not None and kalshi_feed.headers is not None
    _, pem = resolve_key(settings)
    before = time.time_ns() // 1_000_000
    first, second = kalshi_feed.headers(), kalshi_feed.headers()
    for headers in (first, second):  # fresh and valid per connection attempt
        assert headers["KALSHI-ACCESS-KEY"] == DEV_KEY_ID
        stamp = int(headers["KALSHI-ACCESS-TIMESTAMP"])
        assert before <= stamp <= time.time_ns() // 1_000_000
        signature = headers["KALSHI-ACCESS-SIGNATURE"]
        assert kalshi.verify_signature(public_key_pem(pem), signature, stamp, "GET", kalshi.WS_PATH)
    assert first["KALSHI-ACCESS-SIGNATURE"] != second["KALSHI-ACCESS-SIGNATURE"]


# --- against the simulator ---------------------------------------------------------------------------


async def read_feed(
    kalshi_feed: VenueFeed, ws: Any, tracker: SequenceTracker, until: Callable[[dict[str, Any]], bool]
) -> tuple[list[Trade], list[Gap], list[tuple[str, int]]]:
    """Parse frames with the feed and track their numbers, up to the frame ``until`` accepts."""
    assert kalshi_feed.sequences is not None
    trades: list[Trade] = []
    gaps: list[Gap] = []
    numbers: list[tuple[str, int]] = []
    while True:
        message = await ws.recv()
        raw = message.encode() if isinstance(message, str) else message
        parsed = kalshi_feed.parse(raw, time.time_ns())
        for stream, number in kalshi_feed.sequences(parsed):
            numbers.append((stream, number))
            seen = tracker.observe(stream, number)
            if seen.outcome == "gap":
                assert seen.missing_from is not None and seen.missing_to is not None
                gaps.append(gap(stream, seen.missing_from, seen.missing_to))
        trades += [r for r in parsed.records if isinstance(r, Trade)]
        if until(json.loads(raw)):
            return trades, gaps, numbers


def after_trades(count: int) -> Callable[[dict[str, Any]], bool]:
    seen = [0]

    def done(message: dict[str, Any]) -> bool:
        seen[0] += message.get("type") == "trade"
        return seen[0] >= count

    return done


def listed(request_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get("id") == request_id and message.get("type") == "ok"


async def capture_all(sim: SimulatorHandle, kalshi_feed: VenueFeed) -> tuple[list[Trade], list[Gap]]:
    """One signed connection through the feed until the simulator is exhausted: its trades and gaps."""
    assert kalshi_feed.on_connect is not None and kalshi_feed.headers is not None
    async with connect(kalshi_feed.url, additional_headers=kalshi_feed.headers()) as ws:
        await kalshi_feed.on_connect(ws)
        await asyncio.wait_for(sim.tasks["kalshi"], TIMEOUT)
        await ws.send(json.dumps({"id": 99, "cmd": "list_subscriptions"}))
        trades, gaps, _ = await read_feed(kalshi_feed, ws, SequenceTracker(), listed(99))
        return trades, gaps


def test_sequence_reader_on_real_frames_across_reconnects() -> None:
    settings = feed_settings()
    kalshi_feed = feed(settings)
    assert kalshi_feed.on_connect is not None and kalshi_feed.headers is not None and kalshi_feed.sequences
    on_connect, headers, sequences = kalshi_feed.on_connect, kalshi_feed.headers, kalshi_feed.sequences

    async def scenario() -> list[tuple[list[Trade], list[tuple[str, int]]]]:
        connections = []
        async with open_simulator(settings, venues=["kalshi"]) as sim:
            for _ in range(2):  # numbering restarts with every connection
                async with connect(kalshi_feed.url, additional_headers=headers(), max_queue=None) as ws:
                    await on_connect(ws)
                    trades, gaps, numbers = await read_feed(kalshi_feed, ws, SequenceTracker(), after_trades(80))
                    assert not gaps
                    connections.append((trades, numbers))
            assert sim.venues["kalshi"].trades_sent >= 160
        return connections

    trade_streams = {stream_of(BTC), stream_of(ETH)}
    lifecycle_lengths = []
    for trades, numbers in run(scenario):
        per_stream: dict[str, list[int]] = defaultdict(list)
        for stream, number in numbers:
            per_stream[stream].append(number)
        assert set(per_stream) == trade_streams | {LIFECYCLE_STREAM}  # book sids are left to the book sync
        for stream, sequence in per_stream.items():  # the subscribed reply is 0, then every message +1
            assert sequence == list(range(len(sequence))), stream
        assert len(trades) == 80 == sum(len(s) - 1 for stream, s in per_stream.items() if stream in trade_streams)
        assert [stream_of(t.symbol) for t in trades] == [s for s, n in numbers if n > 0 and s in trade_streams]
        lifecycle_lengths.append(len(per_stream[LIFECYCLE_STREAM]))
    assert lifecycle_lengths == [5, 1]  # two events and two markets opened during the first connection
    heartbeat = kalshi_feed.parse(kalshi_wire.HEARTBEAT, 1)
    assert heartbeat.control == "heartbeat" and list(sequences(heartbeat)) == []
    frame = kalshi_feed.parse(kalshi_wire.unsubscribed(5, 1, 9).encode(), 1)
    assert isinstance(frame, SequencedFrame) and (frame.sid, frame.seq, frame.request_id) == (1, 9, 5)
    with pytest.raises(ParseError):
        kalshi_feed.parse(b'{"type":"trade","sid":1,"seq":3,"msg":{"market_t', 1)


def test_repair_returns_exactly_each_gaps_trades(tmp_path: Path) -> None:
    truth_file = tmp_path / "truth.jsonl"
    settings = feed_settings(sim_max_trades=300, sim_skip_every=7, sim_ground_truth=truth_file)
    kalshi_feed = feed(settings)
    assert kalshi_feed.repair is not None

    async def scenario() -> tuple[list[Trade], list[tuple[Gap, list[Trade]]]]:
        async with open_simulator(settings, venues=["kalshi"]) as sim:
            trades, gaps = await capture_all(sim, kalshi_feed)
            assert kalshi_feed.repair is not None
            return trades, [(g, await asyncio.to_thread(kalshi_feed.repair, g)) for g in gaps]

    received, repairs = run(scenario)
    lines = [json.loads(line) for line in truth_file.read_text().splitlines()]
    truth = {line["trade_id"]: line for line in lines}
    assert [t.trade_id for t in received] == [line["trade_id"] for line in lines if line["sent"]]
    assert len(repairs) >= 15
    position = {line["trade_id"]: index for index, line in enumerate(lines)}
    repaired: list[str] = []
    for found_gap, trades in repairs:
        assert len(trades) == found_gap.missing  # exactly the gap's trades...
        assert all(stream_of(t.symbol) == found_gap.stream for t in trades)
        assert all(not truth[t.trade_id]["sent"] for t in trades)  # ...which the wire lost...
        indexes = [position[t.trade_id] for t in trades]
        assert indexes == sorted(indexes)  # ...oldest first
        for t in trades:
            line = truth[t.trade_id]
            assert (str(t.price), str(t.size), t.side) == (line["price"], line["size"], line["side"])
            assert t.ts_event // NS * NS == line["ts_event"]
        repaired += [t.trade_id for t in trades]
    # Every lost trade that a later trade of its market revealed is repaired, once.
    last_sent = {line["symbol"]: index for index, line in enumerate(lines) if line["sent"]}
    revealed = [line["trade_id"] for i, line in enumerate(lines) if not line["sent"] and i < last_sent[line["symbol"]]]
    assert sorted(repaired) == sorted(revealed)


def test_repair_without_anchors_fetches_the_window_and_refuses_unknown_streams() -> None:
    settings = feed_settings(sim_max_trades=120)
    kalshi_feed = feed(settings)
    assert kalshi_feed.repair is not None

    async def scenario() -> tuple[list[Trade], list[Trade], SimulatorHandle]:
        async with open_simulator(settings, venues=["kalshi"]) as sim:
            received, _ = await capture_all(sim, kalshi_feed)
            assert kalshi_feed.repair is not None
            window = await asyncio.to_thread(kalshi_feed.repair, gap(stream_of(ETH), 1000, 1001))
            with pytest.raises(StreamingError, match="not the trade stream"):
                await asyncio.to_thread(kalshi_feed.repair, gap("sid:7", 3, 4))
            return received, window, sim

    received, window, sim = run(scenario)
    last_eth = max(t.ts_event for t in received if t.symbol == ETH)
    history = sim.venues["kalshi"].trades_from(INSTRUMENTS[1])
    expected = [kalshi_wire.trade_id_of(s) for s in history if s.ts_ms > (last_eth // NS - 1) * 1000]
    assert [t.trade_id for t in window] == expected and expected  # since the market's last trade seen


def test_catch_up_fetches_each_markets_trades_since_its_last_event() -> None:
    settings = feed_settings(sim_max_trades=200)
    kalshi_feed = feed(settings)
    assert kalshi_feed.catch_up is not None

    async def scenario() -> tuple[list[Trade], list[Trade], SimulatorHandle]:
        async with open_simulator(settings, venues=["kalshi"]) as sim:
            received, _ = await capture_all(sim, kalshi_feed)
            btc = [t for t in received if t.symbol == BTC]
            since = {INSTRUMENTS[0]: btc[len(btc) // 2].ts_event, "BTC-USD": 0}
            assert kalshi_feed.catch_up is not None
            return btc, await asyncio.to_thread(kalshi_feed.catch_up, since), sim

    btc, caught, sim = run(scenario)
    since = btc[len(btc) // 2].ts_event
    history = sim.venues["kalshi"].trades_from(INSTRUMENTS[0])
    assert [t.trade_id for t in caught] == [kalshi_wire.trade_id_of(s) for s in history if s.ts_ms * 10**6 >= since]
    assert {t.trade_id for t in btc if t.ts_event >= since} <= {t.trade_id for t in caught}
    assert all(t.symbol == BTC for t in caught)


def test_between_picks_the_trades_between_the_anchors() -> None:
    window = [trade(BTC, f"t{n}") for n in range(9, 0, -1)]  # newest first: t9 ... t1
    before, after = window[6], window[2]  # t3 and t7
    assert [t.trade_id for t in between(window, before, after, 3) or []] == ["t4", "t5", "t6"]
    assert between(window, before, after, 2) is None  # the gap does not match what is between
    assert [t.trade_id for t in between(window, None, after, 2) or []] == ["t5", "t6"]  # gap at the start
    assert between(window, None, after, 7) is None
    assert between(window, trade(BTC, "gone"), after, 3) is None
    assert between(window, before, trade(BTC, "gone"), 3) is None
    assert between(window, after, before, 3) is None  # anchors the wrong way round


# --- books, tickers, lifecycle ------------------------------------------------------------------------


def test_subscriptions_cover_lifecycle_tickers_trades_and_one_book_sid_per_market() -> None:
    settings = feed_settings()
    state = KalshiFeed(settings, *resolve_key(settings))
    commands = state.subscriptions()
    assert commands == [
        (1, "market_lifecycle_v2", ()),
        (2, "ticker_v2", (BTC, ETH)),
        (3, "trade", (BTC,)),
        (4, "orderbook_delta", (BTC,)),
        (5, "trade", (ETH,)),
        (6, "orderbook_delta", (ETH,)),
    ]
    kalshi_feed = feed(settings)
    assert kalshi_feed.book_resubscribe is not None and kalshi_feed.keeps_books
    assert (kalshi_feed.book_depth, kalshi_feed.book_checksum, kalshi_feed.book_gaps) == (None, None, None)
    with pytest.raises(StreamingError, match="no history"):
        assert kalshi_feed.repair is not None
        kalshi_feed.repair(gap(LIFECYCLE_STREAM, 3, 3))


class Sent:
    """Stands for a connection: records what is sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def test_resubscribe_unsubscribes_the_book_sid_and_subscribes_the_market_again() -> None:
    settings = feed_settings()
    state = KalshiFeed(settings, *resolve_key(settings))

    def reply(raw: str) -> list[tuple[str, int]]:
        return state.sequences(state.parse(raw.encode(), 1))

    async def scenario() -> list[dict[str, Any]]:
        ws, other = Sent(), Sent()
        await state.on_connect(ws)  # type: ignore[arg-type]
        assert [m["params"]["channels"] for m in ws.sent] == [[c] for _, c, _ in state.subscriptions()]
        with pytest.raises(StreamingError, match="no live orderbook_delta subscription"):
            await state.resubscribe_book(ws, INSTRUMENTS[0])  # type: ignore[arg-type]  # no subscribed reply yet
        assert reply(kalshi_wire.subscribed(1, "market_lifecycle_v2", 1)) == [(LIFECYCLE_STREAM, 0)]
        assert reply(kalshi_wire.subscribed(2, "ticker_v2", 2)) == []
        assert reply(kalshi_wire.subscribed(3, "trade", 3)) == [(stream_of(BTC), 0)]
        assert reply(kalshi_wire.subscribed(4, "orderbook_delta", 4)) == []
        book = kalshi_wire.delta_frame(INSTRUMENTS[0], LevelChange("yes", 40, 5), 4, 9, 1_790_000_000_000)
        assert reply(book) == []  # a book sid: the book sync checks its seq
        lifecycle = kalshi_wire.lifecycle_frame("event_lifecycle", kalshi_wire.event_created_message("E-1"), 1, 1)
        assert reply(lifecycle) == [(LIFECYCLE_STREAM, 1)]
        assert reply(kalshi_wire.ticker_v2_frame(INSTRUMENTS[0], 40, 39, 41, 2, 1, 2)) == []
        ws.sent.clear()
        with pytest.raises(StreamingError, match="replaced"):
            await state.resubscribe_book(other, INSTRUMENTS[0])  # type: ignore[arg-type]
        await state.resubscribe_book(ws, INSTRUMENTS[0])  # type: ignore[arg-type]
        with pytest.raises(StreamingError, match="no live"):  # being renewed: not twice
            await state.resubscribe_book(ws, INSTRUMENTS[0])  # type: ignore[arg-type]
        renewal = ws.sent[1]["id"]
        assert reply(kalshi_wire.unsubscribed(ws.sent[0]["id"], 4, 10)) == []
        assert reply(kalshi_wire.subscribed(renewal, "orderbook_delta", 7)) == []
        assert reply(kalshi_wire.snapshot_frame(INSTRUMENTS[0], KalshiBook(1, INSTRUMENTS[0]).snapshot(), 7, 1)) == []
        sent = list(ws.sent)
        await state.resubscribe_book(ws, INSTRUMENTS[0])  # type: ignore[arg-type]  # the new sid is the one renewed
        return [*sent, *ws.sent[len(sent) :]]

    first_unsubscribe, first_subscribe, second_unsubscribe, second_subscribe = run(scenario)
    assert first_unsubscribe == {"id": 7, "cmd": "unsubscribe", "params": {"sids": [4]}}
    assert first_subscribe == {
        "id": 8,
        "cmd": "subscribe",
        "params": {"channels": ["orderbook_delta"], "market_tickers": [BTC], "use_yes_price": False},
    }
    assert second_unsubscribe["params"] == {"sids": [7]} and second_subscribe["id"] == 10


def test_books_resync_by_resubscribing_and_end_as_the_simulators_books() -> None:
    settings = feed_settings(sim_max_trades=400, sim_book_drop_every=7)
    kalshi_feed = feed(settings)
    assert kalshi_feed.on_connect is not None and kalshi_feed.headers is not None and kalshi_feed.sequences
    assert kalshi_feed.book_resubscribe is not None
    on_connect, resubscribe, sequences = kalshi_feed.on_connect, kalshi_feed.book_resubscribe, kalshi_feed.sequences
    headers = kalshi_feed.headers

    async def scenario() -> tuple[list[Any], list[Gap], int, KalshiSim]:
        async with open_simulator(settings, venues=["kalshi"]) as sim:
            venue = sim.venues["kalshi"]
            assert isinstance(venue, KalshiSim)
            sync = BookSync("kalshi")
            records: list[Any] = []
            gaps: list[Gap] = []
            book_gaps = [0]
            tracker = SequenceTracker()
            async with connect(kalshi_feed.url, additional_headers=headers(), max_queue=None) as ws:
                await on_connect(ws)

                async def consume() -> None:
                    while True:
                        message = await ws.recv()
                        parsed = kalshi_feed.parse(message.encode() if isinstance(message, str) else message, 1)
                        for stream, number in sequences(parsed):
                            seen = tracker.observe(stream, number)
                            if seen.outcome == "gap":
                                gaps.append(gap(stream, seen.missing_from or 0, seen.missing_to or 0))
                        for record in parsed.records:
                            records.append(record)
                            if isinstance(record, BookUpdate):
                                actions = sync.update(record)
                                if actions.gap is not None:
                                    assert actions.gap.missing == 1  # one dropped delta: one seq
                                    book_gaps[0] += 1
                                if actions.snapshot_wanted:
                                    await resubscribe(ws, record.instrument)

                consumer = asyncio.create_task(consume())
                await asyncio.wait_for(sim.tasks["kalshi"], TIMEOUT)
                deadline = time.monotonic() + TIMEOUT
                while not all(
                    i in sync.instruments
                    and sync.instruments[i].state == "synced"
                    and (sync.book(i).bids, sync.book(i).asks) == kalshi_wire.yes_axis(venue.books[i].snapshot())
                    for i in INSTRUMENTS
                ):
                    assert time.monotonic() < deadline and not consumer.done(), "the books did not converge"
                    await asyncio.sleep(0.05)
                consumer.cancel()
            return records, gaps, book_gaps[0], venue

    records, gaps, book_gaps, venue = run(scenario)
    assert not gaps  # no trade or lifecycle message was lost
    assert venue.deltas_dropped >= 5 and 1 <= book_gaps <= venue.deltas_dropped
    snapshots = [r for r in records if isinstance(r, BookUpdate) and r.kind == "snapshot"]
    assert len(snapshots) == len(INSTRUMENTS) + book_gaps  # the first of each book, then one per resubscription
    assert {r.kind for r in records if isinstance(r, BookUpdate)} == {"snapshot", "increment"}
    lifecycle = [(r.symbol, r.status) for r in records if isinstance(r, Lifecycle)]
    assert sorted(lifecycle) == sorted(
        [(kalshi_wire.event_ticker_of(i), "event_created") for i in INSTRUMENTS]
        + [(t, status) for t in (BTC, ETH) for status in ("created", "determined", "settled")]
    )
    tickers = [r for r in records if isinstance(r, Ticker)]
    for instrument in INSTRUMENTS:
        last = [t for t in tickers if t.instrument == instrument][-1]
        bid, ask = venue.books[instrument].best_bid(), venue.books[instrument].best_ask()
        assert bid is not None and ask is not None
        assert (last.best_bid, last.best_ask, last.last_price) == (
            Decimal(bid[0]) / 100,
            Decimal(ask[0]) / 100,
            Decimal(venue.last_price[instrument]) / 100,
        )
