"""The simulated Kraken books and tickers: fixed-decimal frames with Kraken's CRC32, checked by an independent
subscriber written from the checksum guide, and served by the real server (snapshot on subscribe, updates, the
drop fault as a checksum mismatch, resubscribe for a fresh snapshot, unsubscribe), parsed back by the real parser."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
import zlib
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect

from contracts.records import BookUpdate, Level, Ticker, Trade
from streaming.book import OrderBook
from streaming.simulator import kraken_wire
from streaming.simulator.books import SimBook, text
from streaming.simulator.kraken import KrakenSim
from streaming.simulator.market import SimTrade, iter_trades
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import kraken

SEED = 13
INSTRUMENTS = ["BTC-USD", "ETH-USD"]
TIMEOUT = 30.0
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kraken"
FRAMES = {
    frame["name"]: frame
    for frame in (json.loads(line) for line in (FIXTURES / "frames.jsonl").read_text().splitlines() if line)
}


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "kraken", INSTRUMENTS, seed=SEED, rate=300.0)


# --- an independent subscriber, from the checksum guide ----------------------------------------------


def guide_checksum(bids: dict[str, str], asks: dict[str, str]) -> int:
    """CRC32 of the 10 best asks (low to high) then the 10 best bids (high to low): each price then qty token with
    the '.' removed and leading zeros stripped (https://docs.kraken.com/api/docs/guides/spot-ws-book-v2)."""
    best_asks = sorted(asks.items(), key=lambda level: Decimal(level[0]))[:10]
    best_bids = sorted(bids.items(), key=lambda level: Decimal(level[0]), reverse=True)[:10]
    tokens = [token for level in (*best_asks, *best_bids) for token in level]
    return zlib.crc32("".join(token.replace(".", "").lstrip("0") for token in tokens).encode())


class TextBook:
    """A subscriber's book kept as the frames' number tokens (never decoded), truncated to its depth."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}

    def apply(self, frame: str) -> bool:
        """Apply a book frame of one pair; whether its checksum matches the book after it."""
        (entry,) = json.loads(frame, parse_float=str, parse_int=str)["data"]
        if json.loads(frame)["type"] == "snapshot":
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, entry["bids"]), (self.asks, entry["asks"])):
            for level in levels:
                if Decimal(level["qty"]):
                    side[level["price"]] = level["qty"]
                else:
                    side.pop(level["price"], None)
        for side, best_first in ((self.bids, True), (self.asks, False)):
            for price in sorted(side, key=Decimal, reverse=best_first)[self.depth :]:
                del side[price]
        return guide_checksum(self.bids, self.asks) == int(entry["checksum"])

    def levels(self) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        return (
            {Decimal(p): Decimal(q) for p, q in self.bids.items()},
            {Decimal(p): Decimal(q) for p, q in self.asks.items()},
        )


def as_decimals(levels: tuple[tuple[int, int], ...]) -> dict[Decimal, Decimal]:
    return {Decimal(text(price)): Decimal(text(qty)) for price, qty in levels}


def test_guide_checksum_reproduces_the_guides_example_and_a_capture() -> None:
    for name in ("book_snapshot_checksum_guide", "book_snapshot_capture_ethusd"):
        book = TextBook(10)
        assert book.apply(FRAMES[name]["raw"]), name
    # the captured update that followed the ETH/USD snapshot verifies on the truncated book too
    book = TextBook(10)
    assert book.apply(FRAMES["book_snapshot_capture_ethusd"]["raw"])
    assert book.apply(FRAMES["book_update_capture_ethusd"]["raw"])
    assert not book.apply(FRAMES["book_update_capture_ethusd"]["raw"].replace("1.56601318", "1.56601319"))


# --- wire format (pure) ------------------------------------------------------------------------------


def test_amounts_are_printed_with_fixed_decimals_exactly() -> None:
    assert kraken_wire.amount_text(6_500_001_000_000, 2) == "65000.01"
    assert kraken_wire.amount_text(6_500_000_000_000, 2) == "65000.00"
    assert kraken_wire.amount_text(200_000, 8) == "0.00200000"
    assert kraken_wire.amount_text(0, 8) == "0.00000000"
    assert kraken_wire.amount_text(-17_000, 5) == "-0.00017"
    assert kraken_wire.amount_text(700_000_000, 0) == "7"
    with pytest.raises(ValueError):
        kraken_wire.amount_text(6_500_001_000_000, 1)  # 65000.01 has two decimals
    with pytest.raises(ValueError):
        kraken_wire.amount_text(1, 9)
    assert [kraken_wire.price_precision(i) for i in ("BTC-USD", "XRP-USD", "DOGE-USD", "ADA-EUR")] == [2, 4, 5, 4]


@pytest.mark.parametrize(("instrument", "depth"), [("BTC-USD", 10), ("ETH-USD", 25), ("DOGE-USD", 10)])
def test_updates_rebuild_every_view_and_carry_the_guides_checksum(instrument: str, depth: int) -> None:
    book = SimBook(13, instrument)
    old = book.snapshot(depth)
    subscriber = TextBook(depth)
    opening = kraken_wire.book_snapshot(instrument, old.bids, old.asks, 1_790_000_000_000_000_000)
    assert subscriber.apply(opening)
    reducer = OrderBook("kraken", instrument, depth=depth, checksum=kraken.book_checksum)
    (snapshot,) = kraken.parse(opening, 5).records
    assert isinstance(snapshot, BookUpdate) and reducer.apply(snapshot).status == "ok"
    assert subscriber.levels() == (as_decimals(old.bids), as_decimals(old.asks))
    updates = removals = entering = 0
    for trade in iter_trades(13, [instrument], range(1_790_000_000_000, 1_790_000_000_000 + 700)):
        book.on_trade(trade)
        new = book.snapshot(depth)
        bids = kraken_wire.book_changes(old.bids, new.bids, depth, "bid")
        asks = kraken_wire.book_changes(old.asks, new.asks, depth, "ask")
        if not bids and not asks:
            assert (old.bids, old.asks) == (new.bids, new.asks)
            continue
        frame = kraken_wire.book_update(instrument, (bids, asks), (new.bids, new.asks), trade.ts_ms * 1_000_000)
        assert subscriber.apply(frame), "the checksum of the book after the update"
        assert subscriber.levels() == (as_decimals(new.bids), as_decimals(new.asks))
        updates += 1
        removals += sum(1 for _, qty in (*bids, *asks) if qty == 0)
        entering += sum(1 for price, _ in bids if price < old.bids[-1][0])  # came into scope from below
        # the parser reads the same levels, exactly, and the reducer with Kraken's depth and CRC32 agrees
        (update,) = kraken.parse(frame, 5).records
        assert isinstance(update, BookUpdate) and update.kind == "delta" and update.sequence is None
        assert update.bids == tuple(Level(Decimal(text(p)), Decimal(text(q))) for p, q in bids)
        assert update.asks == tuple(Level(Decimal(text(p)), Decimal(text(q))) for p, q in asks)
        assert update.ts_event == trade.ts_ms * 1_000_000
        assert reducer.apply(update).status == "ok"
        assert (reducer.bids, reducer.asks) == (as_decimals(new.bids), as_decimals(new.asks))
        old = new
    assert updates > 400 and removals > 50 and entering > 10


def test_frames_print_the_pairs_fixed_decimals_and_parse_back_exactly() -> None:
    book = SimBook(13, "BTC-USD")
    for trade in iter_trades(13, ["BTC-USD"], range(1_790_000_000_000, 1_790_000_000_000 + 50)):
        book.on_trade(trade)
    view = book.snapshot(10)
    frame = kraken_wire.book_snapshot("BTC-USD", view.bids, view.asks, 1_790_000_000_123_456_789)
    entry = json.loads(frame, parse_float=str)["data"][0]
    assert list(entry) == ["symbol", "bids", "asks", "checksum", "timestamp"]
    assert entry["timestamp"] == "2026-09-21T14:13:20.123456Z"  # 1790000000 s, to the microsecond
    assert all(len(level["price"].partition(".")[2]) == 2 for level in entry["bids"] + entry["asks"])
    assert all(len(level["qty"].partition(".")[2]) == 8 for level in entry["bids"] + entry["asks"])
    parsed = kraken.parse(frame, 5)
    (snapshot,) = parsed.records
    assert parsed.channel == "book" and isinstance(snapshot, BookUpdate) and snapshot.kind == "snapshot"
    assert snapshot.bids == tuple(Level(Decimal(text(p)), Decimal(text(q))) for p, q in view.bids)
    assert snapshot.asks == tuple(Level(Decimal(text(p)), Decimal(text(q))) for p, q in view.asks)
    assert snapshot.ts_event == 1_790_000_000_123_456_000
    assert snapshot.checksum == kraken.book_checksum(snapshot.bids, snapshot.asks)  # the parser's CRC32 agrees
    assert snapshot.checksum == guide_checksum(
        {level["price"]: level["qty"] for level in entry["bids"]},
        {level["price"]: level["qty"] for level in entry["asks"]},
    )
    # a removal prints qty 0 with the fixed decimals, as Kraken does
    removal = kraken_wire.book_update("BTC-USD", (((view.bids[0][0], 0),), ()), (view.bids[1:], view.asks), 0)
    assert '"qty":0.00000000' in removal


def expected_stats(trades: list[SimTrade], decimals: int) -> dict[str, Decimal]:
    """The 24-hour ticker statistics computed with Decimal, independently of the renderer."""
    last = trades[-1]
    window = [t for t in trades if t.ts_ms > last.ts_ms - 86_400_000]
    volume = sum((t.size for t in window), Decimal(0))
    quantum = Decimal(1).scaleb(-decimals)
    vwap = (sum((t.price * t.size for t in window), Decimal(0)) / volume).quantize(quantum, ROUND_HALF_EVEN)
    change = last.price - window[0].price
    return {
        "last": last.price,
        "volume": volume,
        "vwap": vwap,
        "low": min(t.price for t in window),
        "high": max(t.price for t in window),
        "change": change,
        "change_pct": (change / window[0].price * 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN),
    }


def test_ticker_statistics_cover_the_last_24_hours_and_parse_back() -> None:
    day = 86_400_000
    start = 1_790_000_000_000
    times = [start + i for i in range(300)] + [start + day + 100 + i for i in range(200)]  # half the tape expires
    tape = list(iter_trades(13, ["ETH-USD"], times))
    stats = kraken_wire.TickerStats("ETH-USD")
    opening = stats.values()
    assert opening["last"] == "3000.00" and opening["volume"] == "0.00000000" and opening["change_pct"] == "0.00"
    for count, trade in enumerate(tape, 1):
        stats.add(trade)
        if count in (1, 150, 300, 301, 420, 500):
            values = stats.values()
            assert {k: Decimal(v) for k, v in values.items()} == expected_stats(tape[:count], 2), count
            assert len(values["vwap"].partition(".")[2]) == 2 and len(values["volume"].partition(".")[2]) == 8
    bid, ask = (299_950_000_000, 120_000), (300_010_000_000, 5)
    frame = kraken_wire.ticker_frame("ETH-USD", "update", stats, bid, ask, 1_790_000_000_000_001_999)
    entry = json.loads(frame, parse_float=str)["data"][0]
    assert list(entry) == [
        *("symbol", "bid", "bid_qty", "ask", "ask_qty", "last", "volume", "vwap", "low", "high", "change"),
        *("change_pct", "timestamp"),
    ]
    (ticker,) = kraken.parse(frame, 9).records
    assert ticker == Ticker(
        venue="kraken",
        instrument="ETH-USD",
        symbol="ETH/USD",
        ts_event=1_790_000_000_000_001_000,
        ts_recv=9,
        best_bid=Decimal("2999.50"),
        best_bid_size=Decimal("0.00120000"),
        best_ask=Decimal("3000.10"),
        best_ask_size=Decimal("0.00000005"),
        last_price=tape[-1].price,
        volume_24h=sum((t.size for t in tape[300:]), Decimal(0)),
    )


# --- against the real server -------------------------------------------------------------------------


async def recv_text(ws: ClientConnection) -> str:
    """The next frame that is not a heartbeat, as sent."""
    while True:
        message = await ws.recv()
        assert isinstance(message, str)
        if json.loads(message).get("channel") != "heartbeat":
            return message


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a heartbeat, decoded."""
    value = json.loads(await recv_text(ws))
    assert isinstance(value, dict)
    return value


async def reply_to(ws: ClientConnection, req_id: int, frames: list[str] | None = None) -> dict[str, Any]:
    """The next reply carrying ``req_id`` (the data frames before it are kept in ``frames`` when given)."""
    while True:
        message = await ws.recv()
        assert isinstance(message, str)
        document = json.loads(message)
        if document.get("req_id") == req_id:
            return document  # type: ignore[no-any-return]
        if frames is not None:
            frames.append(message)


def final_views(sim: SimulatorHandle, depth: int = 10) -> dict[str, tuple[dict[Decimal, Decimal], ...]]:
    venue = sim.venues["kraken"]
    assert isinstance(venue, KrakenSim)
    views = {instrument: venue.books[instrument].snapshot(depth) for instrument in INSTRUMENTS}
    return {i: (as_decimals(v.bids), as_decimals(v.asks)) for i, v in views.items()}


def test_snapshot_then_updates_and_a_dropped_update_is_a_checksum_mismatch_healed_by_resubscribing() -> None:
    settings = sim_settings(sim_max_trades=900, sim_book_drop_every=9)

    async def scenario() -> None:
        async with (
            open_simulator(settings, port=0, venues=["kraken"]) as sim,
            connect(f"{sim.url('kraken')}/v2") as ws,
        ):
            venue = sim.venues["kraken"]
            assert isinstance(venue, KrakenSim)
            assert (await recv_json(ws))["channel"] == "status"
            await ws.send(kraken.subscribe_message("trade", ["BTC/USD", "ETH/USD"], 1))
            await ws.send(kraken.subscribe_message("book", ["BTC/USD", "ETH/USD"], 2, depth=10))
            await ws.send(kraken.subscribe_message("ticker", ["BTC/USD", "ETH/USD"], 3))
            books = {i: OrderBook("kraken", i, depth=10, checksum=kraken.book_checksum) for i in INSTRUMENTS}
            independent = {i: TextBook(10) for i in INSTRUMENTS}
            first_kind: dict[str, str] = {}
            statuses: Counter[tuple[str, str]] = Counter()
            acks: list[dict[str, Any]] = []
            tickers: dict[str, Ticker] = {}
            trades: set[tuple[str, str]] = set()
            req_ids = iter(range(10, 10_000))

            async def consume() -> None:
                while True:
                    message = await ws.recv()
                    assert isinstance(message, str)
                    frame = kraken.parse(message, time.time_ns())
                    if frame.control == "ack":
                        acks.append(json.loads(message)["result"])
                    assert frame.control != "error", message
                    for record in frame.records:
                        if isinstance(record, Trade):
                            trades.add((record.instrument, record.trade_id))
                        elif isinstance(record, Ticker):
                            tickers[record.instrument] = record
                        elif isinstance(record, BookUpdate):
                            instrument = record.instrument
                            first_kind.setdefault(instrument, record.kind)
                            checked = record.kind == "snapshot" or books[instrument].synced
                            result = books[instrument].apply(record)
                            statuses[(record.kind, result.status)] += 1
                            matches = independent[instrument].apply(message)
                            if checked:  # both subscribers agree on every frame they can check
                                assert matches == (result.status != "checksum_mismatch"), message
                            if result.status == "checksum_mismatch":
                                symbol = [record.symbol]
                                await ws.send(kraken.unsubscribe_message("book", symbol, next(req_ids), depth=10))
                                await ws.send(kraken.subscribe_message("book", symbol, next(req_ids), depth=10))

            consumer = asyncio.create_task(consume())
            await asyncio.wait_for(sim.tasks["kraken"], TIMEOUT)  # trading ended, the last changes sent
            final = final_views(sim)
            deadline = time.monotonic() + TIMEOUT
            while not all(b.synced and (b.bids, b.asks) == final[i] for i, b in books.items()):
                assert not consumer.done(), consumer
                assert time.monotonic() < deadline, "the books did not converge"
                await asyncio.sleep(0.05)
            consumer.cancel()
            assert first_kind == {"BTC-USD": "snapshot", "ETH-USD": "snapshot"}
            mismatches = statuses[("delta", "checksum_mismatch")]
            assert venue.book_updates_dropped >= 4 and mismatches >= 2
            assert statuses[("snapshot", "ok")] == 2 + mismatches  # each mismatch resubscribed: one new snapshot
            assert statuses[("delta", "ok")] > 100 and statuses[("delta", "crossed")] == 0
            assert {"channel": "book", "depth": 10, "snapshot": True, "symbol": "BTC/USD"} in acks
            unsubscribed = [a for a in acks if a["channel"] == "book" and "snapshot" not in a]
            assert len(unsubscribed) == mismatches  # every resubscription was acknowledged
            assert {a["symbol"] for a in unsubscribed} <= {"BTC/USD", "ETH/USD"}
            assert {"channel": "ticker", "event_trigger": "trades", "snapshot": True, "symbol": "ETH/USD"} in acks
            for instrument in INSTRUMENTS:  # the independent subscriber ends with the same book
                assert independent[instrument].levels() == final[instrument]
                tape = venue.trades_from(instrument)
                ticker = tickers[instrument]
                book = venue.books[instrument]
                bid, ask = book.best_bid(), book.best_ask()
                assert bid is not None and ask is not None
                assert (ticker.best_bid, ticker.best_bid_size, ticker.best_ask, ticker.best_ask_size) == (
                    Decimal(text(bid[0])),
                    Decimal(text(bid[1])),
                    Decimal(text(ask[0])),
                    Decimal(text(ask[1])),
                )
                assert ticker.last_price == tape[-1].price
                assert ticker.volume_24h == sum((t.size for t in tape), Decimal(0))
            assert len(trades) == 900  # trades are untouched by the book fault

    run(scenario)


def test_unsubscribe_stops_the_book_and_a_new_subscription_starts_from_a_snapshot() -> None:
    settings = sim_settings(instruments={"kraken": ["ETH-USD"]}, sim_rate=400.0)

    async def scenario() -> None:
        async with (
            open_simulator(settings, port=0, venues=["kraken"]) as sim,
            connect(f"{sim.url('kraken')}/v2") as ws,
        ):
            venue = sim.venues["kraken"]
            assert isinstance(venue, KrakenSim)
            await recv_json(ws)
            await ws.send(kraken.subscribe_message("trade", ["ETH/USD"], 1, snapshot=False))
            await ws.send(kraken.subscribe_message("book", ["ETH/USD"], 2, depth=25))
            await ws.send(kraken.subscribe_message("ticker", ["ETH/USD"], 3, event_trigger="bbo"))
            book = OrderBook("kraken", "ETH-USD", depth=25, checksum=kraken.book_checksum)
            statuses: Counter[tuple[str, str]] = Counter()
            tops: list[tuple[Any, ...]] = []

            def take(message: str) -> None:
                for record in kraken.parse(message, 0).records:
                    if isinstance(record, BookUpdate):
                        statuses[(record.kind, book.apply(record).status)] += 1
                    elif isinstance(record, Ticker):
                        tops.append((record.best_bid, record.best_bid_size, record.best_ask, record.best_ask_size))

            while statuses[("delta", "ok")] < 40:
                take(await ws.recv())  # type: ignore[arg-type]
            assert statuses[("snapshot", "ok")] == 1 and set(statuses) == {("snapshot", "ok"), ("delta", "ok")}
            assert len(book.bids) >= 20 and len(book.asks) >= 20  # a depth-25 view of a 20..40-level book
            assert len(tops) >= 10 and all(a != b for a, b in itertools.pairwise(tops))  # bbo: on change
            # a wrong depth is not the subscription: refused; the right one unsubscribes
            await ws.send(kraken.unsubscribe_message("book", ["ETH/USD"], 4, depth=10))
            backlog: list[str] = []
            refused = await reply_to(ws, 4, backlog)
            assert (refused["success"], refused["error"]) == (False, "Subscription Not Found")
            await ws.send(kraken.unsubscribe_message("book", ["ETH/USD"], 5, depth=25))
            done = await reply_to(ws, 5, backlog)
            assert done["result"] == {"channel": "book", "depth": 25, "symbol": "ETH/USD"} and done["success"]
            for message in backlog:
                take(message)
            assert not venue.subscribers("book", "ETH-USD")
            after: Counter[str] = Counter()
            while after["trade"] < 60:  # trading goes on, and no book frame comes any more
                after[json.loads(await ws.recv())["channel"]] += 1
            assert after["book"] == 0 and after["trade"] == 60
            # subscribing again: an ack, a snapshot of the book now, then updates that continue it
            await ws.send(kraken.subscribe_message("book", ["ETH/USD"], 6, depth=10))
            later: list[str] = []
            ack = await reply_to(ws, 6, later)
            assert ack["result"] == {"channel": "book", "depth": 10, "snapshot": True, "symbol": "ETH/USD"}
            assert all(json.loads(m)["channel"] != "book" for m in later)
            fresh = OrderBook("kraken", "ETH-USD", depth=10, checksum=kraken.book_checksum)
            kinds: list[tuple[str, str]] = []
            while len(kinds) < 20:
                for record in kraken.parse(await ws.recv(), 0).records:
                    if isinstance(record, BookUpdate):
                        kinds.append((record.kind, fresh.apply(record).status))
            assert kinds == [("snapshot", "ok")] + [("delta", "ok")] * 19

    run(scenario)


def test_book_and_ticker_requests_are_checked_as_kraken_does() -> None:
    async def scenario() -> None:
        async with (
            open_simulator(sim_settings(), port=0, venues=["kraken"]) as sim,
            connect(f"{sim.url('kraken')}/v2") as ws,
        ):
            await recv_json(ws)
            requests: list[tuple[str, dict[str, Any]]] = [
                (
                    json.dumps(
                        {
                            "method": "subscribe",
                            "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 15},
                            "req_id": 1,
                        }
                    ),
                    {"error": "Subscription depth not supported", "req_id": 1, "success": False},
                ),
                (
                    json.dumps(
                        {
                            "method": "subscribe",
                            "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": True},
                            "req_id": 2,
                        }
                    ),
                    {"error": "Subscription depth not supported", "req_id": 2, "success": False},
                ),
                (
                    json.dumps(
                        {
                            "method": "subscribe",
                            "params": {"channel": "ticker", "symbol": ["BTC/USD"], "depth": 10},
                            "req_id": 3,
                        }
                    ),
                    {"error": "Unsupported field: 'depth' for the given msg type: subscribe ticker", "success": False},
                ),
                (
                    json.dumps(
                        {
                            "method": "subscribe",
                            "params": {"channel": "ticker", "symbol": ["BTC/USD"], "event_trigger": "x"},
                            "req_id": 4,
                        }
                    ),
                    {"req_id": 4, "success": False},
                ),
                (
                    json.dumps(
                        {
                            "method": "unsubscribe",
                            "params": {"channel": "book", "symbol": ["BTC/USD"], "snapshot": True},
                            "req_id": 5,
                        }
                    ),
                    {
                        "error": "Unsupported field: 'snapshot' for the given msg type: unsubscribe book",
                        "success": False,
                    },
                ),
                (
                    kraken.unsubscribe_message("ticker", ["BTC/USD"], 6),
                    {"error": "Subscription Not Found", "symbol": "BTC/USD", "success": False},
                ),
                (
                    kraken.subscribe_message("book", ["DOGE/USD"], 7),
                    {"error": "Currency pair not supported DOGE/USD", "symbol": "DOGE/USD", "success": False},
                ),
                (
                    json.dumps(
                        {"method": "subscribe", "params": {"channel": "ohlc", "symbol": ["BTC/USD"]}, "req_id": 8}
                    ),
                    {"req_id": 8, "success": False},
                ),
            ]
            for request, expected in requests:
                await ws.send(request)
                reply = await recv_json(ws)
                assert kraken.parse(json.dumps(reply), 0).control == "error", (request, reply)
                assert expected.items() <= reply.items(), (request, reply)
            # a ticker subscription without snapshot gets no snapshot; a repeat is refused
            await ws.send(kraken.subscribe_message("ticker", ["BTC/USD"], 9, snapshot=False))
            ack = await recv_json(ws)
            assert ack["result"] == {
                "channel": "ticker",
                "event_trigger": "trades",
                "snapshot": False,
                "symbol": "BTC/USD",
            }
            await ws.send(kraken.subscribe_message("ticker", ["BTC/USD"], 10))
            assert (await recv_json(ws))["error"] == "Already subscribed"  # nothing trades: no ticker came between
            await ws.send(kraken.unsubscribe_message("ticker", ["BTC/USD"], 11, event_trigger="trades"))
            assert (await recv_json(ws))["result"] == {
                "channel": "ticker",
                "event_trigger": "trades",
                "symbol": "BTC/USD",
            }
            # a book snapshot before any trade: the opening book, with its checksum
            await ws.send(kraken.subscribe_message("book", ["BTC/USD"], 12))
            assert (await recv_json(ws))["result"]["depth"] == 10
            snapshot = await recv_text(ws)
            assert json.loads(snapshot)["type"] == "snapshot"
            opening = SimBook(SEED, "BTC-USD").snapshot(10)
            independent = TextBook(10)
            assert independent.apply(snapshot)
            assert independent.levels() == (as_decimals(opening.bids), as_decimals(opening.asks))

    run(scenario)
