"""The simulated Kalshi books, tickers and lifecycle: a deterministic pure YES/NO book, its wire frames parsed back
with the real parser, and the real server's orderbook_snapshot/orderbook_delta (seq per sid, the drop fault, a
resubscription), ticker_v2 and market_lifecycle_v2/event_lifecycle messages."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect

from contracts.records import BookUpdate, Level, Lifecycle, Ticker, Trade
from streaming.book import OrderBook
from streaming.feeds.kalshi_keys import resolve_key
from streaming.simulator import kalshi_wire
from streaming.simulator.kalshi import KalshiSim
from streaming.simulator.kalshi_book import DEPTH, KalshiBook, KalshiBookSnapshot, LevelChange
from streaming.simulator.market import iter_trades
from streaming.simulator.server import open_simulator
from streaming.venues import kalshi
from ticklake.settings import Settings

BTC, ETH, FED = "KXBTCD-26NOV2117-T95999.99", "KXETHD-26NOV2117-T3499.99", "FED-23DEC-T3.00"
INSTRUMENTS = [f"KALSHI:{ticker}" for ticker in (BTC, ETH, FED)]
TIMEOUT = 20.0
NS = 1_000_000_000


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "kalshi", INSTRUMENTS, seed=7, rate=200.0, alone=True)


def as_dict(levels: tuple[Level, ...]) -> dict[Decimal, Decimal]:
    return {level.price: level.size for level in levels}


def apply(book: dict[str, dict[int, int]], change: LevelChange) -> None:
    side = book[change.side]
    size = side.get(change.price, 0) + change.delta
    assert size >= 0, change
    if size:
        side[change.price] = size
    else:
        side.pop(change.price, None)


# --- the pure book and its frames ----------------------------------------------------------------


def test_book_is_deterministic_uncrossed_and_its_changes_rebuild_it() -> None:
    books = [KalshiBook(7, INSTRUMENTS[0]) for _ in range(2)]
    start = books[0].snapshot()
    assert len(start.yes) == len(start.no) == DEPTH
    assert max(start.yes)[0] < 50 < 100 - max(start.no)[0]  # the opening book sits around 50 cents
    rebuilt = {"yes": dict(start.yes), "no": dict(start.no)}
    changes = 0
    tape = list(iter_trades(7, INSTRUMENTS[:1], range(1_000, 3_000)))
    assert len({t.price_text for t in tape}) > 10 and {t.side for t in tape} == {"buy", "sell"}
    for trade in tape:
        made = books[0].on_trade(trade)
        assert made == books[1].on_trade(trade)  # same seed and tape, same changes
        assert made and all(change.delta != 0 and 1 <= change.price <= 99 for change in made)
        for change in made:
            apply(rebuilt, change)
        changes += len(made)
        book = books[0]
        assert max(book.yes) + max(book.no) < 100, "the book never crosses"  # best YES bid < best YES ask
        assert len(book.yes) <= 2 * DEPTH and len(book.no) <= 2 * DEPTH
        cents = int(Decimal(trade.price_text) * 100)
        if trade.side == "buy":  # a YES buyer took the asks below the price, and no bid is left at or above it
            assert max(book.yes) < cents <= 100 - max(book.no)
        else:
            assert max(book.yes) <= cents < 100 - max(book.no)
    final = books[0].snapshot()
    assert (dict(final.yes), dict(final.no)) == (rebuilt["yes"], rebuilt["no"])
    assert final == books[1].snapshot() and changes > len(tape)
    assert [p for p, _ in final.yes] == sorted(p for p, _ in final.yes)  # ascending, as Kalshi lists them
    assert KalshiBook(8, INSTRUMENTS[0]).snapshot() != start  # the seed matters


def test_wire_frames_parse_back_through_the_real_parser() -> None:
    instrument = INSTRUMENTS[2]
    book = KalshiBook(3, instrument)
    snapshot = book.snapshot()
    (update,) = kalshi.parse(kalshi_wire.snapshot_frame(instrument, snapshot, 4, 1), 9).records
    assert isinstance(update, BookUpdate) and update.kind == "snapshot" and update.sequence == 1
    assert (update.instrument, update.symbol, update.ts_event) == (instrument, FED, 9)
    bids, asks = kalshi_wire.yes_axis(snapshot)
    assert (as_dict(update.bids), as_dict(update.asks)) == (bids, asks)
    assert update.bids[0].price == Decimal(max(snapshot.yes)[0]) / 100  # best first
    assert update.asks[0].price == 1 - Decimal(max(snapshot.no)[0]) / 100  # a NO bid at q is a YES ask at 1 - q
    message = json.loads(kalshi_wire.snapshot_frame(instrument, snapshot, 4, 1))["msg"]
    assert message["yes"] == [list(level) for level in snapshot.yes]  # both encodings of a level agree
    assert message["yes_dollars_fp"][0] == [f"0.{snapshot.yes[0][0]:02d}00", f"{snapshot.yes[0][1]}.00"]
    one_sided = KalshiBookSnapshot(yes=((35, 12),), no=())
    assert "no" not in json.loads(kalshi_wire.snapshot_frame(instrument, one_sided, 4, 2))["msg"]
    (empty,) = kalshi.parse(kalshi_wire.snapshot_frame(instrument, one_sided, 4, 2), 0).records
    assert isinstance(empty, BookUpdate) and empty.asks == () and empty.bids == (Level(Decimal("0.35"), Decimal(12)),)

    replayed = OrderBook("kalshi", instrument)
    assert replayed.apply(update).status == "ok"
    seq = 1
    for trade in iter_trades(3, [instrument], range(1_790_000_000_000, 1_790_000_000_400)):
        for change in book.on_trade(trade):
            seq += 1
            frame = kalshi_wire.delta_frame(instrument, change, 4, seq, trade.ts_ms)
            (delta,) = kalshi.parse(frame, 11).records
            assert isinstance(delta, BookUpdate) and delta.kind == "increment"
            assert (delta.sequence, delta.ts_event) == (seq, trade.ts_ms * 1_000_000)
            price = Decimal(change.price) / 100
            level = (
                Level(price, Decimal(change.delta)) if change.side == "yes" else Level(1 - price, Decimal(change.delta))
            )
            assert (delta.bids, delta.asks) == (((level,), ()) if change.side == "yes" else ((), (level,)))
            assert replayed.apply(delta).status == "ok"  # the reducer adds the signed change
    assert seq > 400 and (replayed.bids, replayed.asks) == kalshi_wire.yes_axis(book.snapshot())

    (ticker,) = kalshi.parse(kalshi_wire.ticker_v2_frame(instrument, 48, 45, 53, 7, 1_790_000_000, 2), 5).records
    assert (
        isinstance(ticker, Ticker)
        and kalshi.envelope(kalshi_wire.ticker_v2_frame(instrument, 48, 45, 53, 7, 1, 2)).seq is None
    )
    assert (ticker.last_price, ticker.best_bid, ticker.best_ask, ticker.ts_event) == (
        Decimal("0.48"),
        Decimal("0.45"),
        Decimal("0.53"),
        1_790_000_000 * NS,
    )

    event = kalshi_wire.event_ticker_of(instrument)
    assert event == "FED-23DEC"
    messages = [
        ("event_lifecycle", kalshi_wire.event_created_message(event), "created", "event_created", None, event, 5),
        (
            "market_lifecycle_v2",
            kalshi_wire.market_created_message(instrument, 1_790_000_000),
            "created",
            "created",
            None,
            FED,
            5,
        ),
        (
            "market_lifecycle_v2",
            kalshi_wire.market_determined_message(instrument, "no", 1_790_000_100),
            "determined",
            "determined",
            "no",
            FED,
            1_790_000_100 * NS,
        ),
        (
            "market_lifecycle_v2",
            kalshi_wire.market_settled_message(instrument, 1_790_000_200),
            "settled",
            "settled",
            None,
            FED,
            1_790_000_200 * NS,
        ),
    ]
    for seq, (kind, body, record_event, status, result, symbol, ts_event) in enumerate(messages, start=1):
        frame = kalshi_wire.lifecycle_frame(kind, body, 6, seq)
        (record,) = kalshi.parse(frame, 5).records
        assert isinstance(record, Lifecycle) and kalshi.subscription_sequence(frame) == (6, seq)
        assert (record.event, record.status, record.result, record.symbol, record.ts_event) == (
            record_event,
            status,
            result,
            symbol,
            ts_event,
        )
    created = json.loads(kalshi.parse(kalshi_wire.lifecycle_frame(*messages[1][:2], 6, 2), 0).records[0].details or "")  # type: ignore[union-attr]
    assert created["close_ts"] == 1_790_000_000 + kalshi_wire.SECONDS_PER_DAY
    assert created["additional_metadata"]["event_ticker"] == event


# --- the server -------------------------------------------------------------------------------------


def signed(settings: Settings) -> dict[str, str]:
    key_id, pem = resolve_key(settings)
    return kalshi.auth_headers(key_id, pem, time.time_ns() // 1_000_000)


class Reader:
    """Reads every frame of a connection, parses it with the real parser and keeps a book per market.

    A book whose sid skips a ``seq`` is resubscribed: unsubscribe its sid, subscribe the market again.
    """

    def __init__(self, ws: ClientConnection, books_of: dict[int, list[str]]) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.records: list[tuple[dict[str, Any], Any]] = []
        self.books_of = books_of  # book sid -> its markets
        self.books: dict[str, OrderBook] = {}
        self.last_seq: dict[int, int] = {}
        self.holes: dict[int, int] = defaultdict(int)
        self.resubscribe_sids: set[int] = set()  # book sids that resubscribe their market on a hole
        self.unsubscribed: dict[int, int] = {}  # sid -> index of its unsubscribed reply
        self.requests: dict[int, str] = {}  # pending book subscriptions: request id -> market
        self.next_id = 100
        self.resubscribed = 0

    async def read(self) -> None:
        while True:
            raw = await self.ws.recv()
            message = json.loads(raw)
            parsed = kalshi.parse(raw, time.time_ns())
            self.frames.append(message)
            for record in parsed.records:
                self.records.append((message, record))
            sid, seq = message.get("sid"), message.get("seq")
            if message["type"] == "subscribed" and message.get("id") in self.requests:
                market = self.requests.pop(message["id"])
                self.books_of[message["msg"]["sid"]] = [market]
                self.resubscribe_sids.add(message["msg"]["sid"])
            if message["type"] == "unsubscribed":
                self.unsubscribed[sid] = len(self.frames) - 1
            if sid is None or seq is None:
                continue
            hole = seq > self.last_seq.get(sid, 0) + 1
            if hole:
                self.holes[sid] += seq - self.last_seq.get(sid, 0) - 1
            self.last_seq[sid] = seq
            (update,) = parsed.records or (None,)
            if not isinstance(update, BookUpdate):
                continue
            book = self.books.setdefault(update.symbol, OrderBook("kalshi", update.instrument))
            if update.kind == "snapshot" or sid in self.resubscribe_sids:
                status = book.apply(update).status
                if hole and sid in self.resubscribe_sids:
                    status = "gap"  # the sid's seq spans only this market: the hole is this book's
                    book.synced = False
                if status == "gap":
                    await self.resubscribe(sid, update.symbol)

    async def resubscribe(self, sid: int, market: str) -> None:
        self.resubscribe_sids.discard(sid)
        self.resubscribed += 1
        self.next_id += 2
        self.requests[self.next_id + 1] = market
        await self.ws.send(kalshi.unsubscribe_message([sid], self.next_id))
        await self.ws.send(kalshi.subscribe_message(["orderbook_delta"], [market], self.next_id + 1))


def test_server_streams_books_tickers_and_lifecycle_with_seq_per_sid_and_drops() -> None:
    settings = sim_settings(sim_max_trades=360, sim_book_drop_every=9)

    async def scenario() -> tuple[Reader, KalshiSim]:
        async with (
            open_simulator(settings, port=0, venues=["kalshi"]) as sim,
            connect(sim.url("kalshi") + kalshi.WS_PATH, additional_headers=signed(settings), max_queue=None) as ws,
        ):
            venue = sim.venues["kalshi"]
            assert isinstance(venue, KalshiSim) and venue.book_drop_every == 9
            reader = Reader(ws, {3: [BTC], 4: [ETH, FED]})
            reader.resubscribe_sids.add(3)  # BTC's own sid resyncs on a hole; ETH and FED share sid 4, left as is
            await ws.send(kalshi.subscribe_message(["market_lifecycle_v2"], [], 1))
            await ws.send(kalshi.subscribe_message(["ticker_v2"], [BTC, ETH], 2))
            await ws.send(kalshi.subscribe_message(["orderbook_delta"], [BTC], 3))
            await ws.send(kalshi.subscribe_message(["orderbook_delta"], [ETH, FED], 4))
            await ws.send(kalshi.subscribe_message(["trade"], [], 5))
            consumer = asyncio.create_task(reader.read())
            await asyncio.wait_for(sim.tasks["kalshi"], TIMEOUT)  # trading ended: last changes and closes sent
            btc = venue.books[f"KALSHI:{BTC}"]
            deadline = time.monotonic() + TIMEOUT
            while not (
                BTC in reader.books
                and reader.books[BTC].synced
                and (reader.books[BTC].bids, reader.books[BTC].asks) == kalshi_wire.yes_axis(btc.snapshot())
                and not reader.requests
            ):
                assert time.monotonic() < deadline and not consumer.done(), "the BTC book did not converge"
                await asyncio.sleep(0.05)
            # The shared sid 4 is resubscribed for both markets at once, now that nothing changes any more.
            await ws.send(kalshi.unsubscribe_message([4], 90))
            await ws.send(kalshi.subscribe_message(["orderbook_delta"], [ETH, FED], 91))
            # A book sid takes more markets with update_subscription: ok, then the added market's snapshot.
            await ws.send(json.dumps({"id": 92, "cmd": "list_subscriptions"}))
            while not any(f.get("id") == 92 for f in reader.frames):
                assert time.monotonic() < deadline and not consumer.done(), "no reply to list_subscriptions"
                await asyncio.sleep(0.05)
            consumer.cancel()
            return reader, venue

    reader, venue = run(scenario)
    frames = reader.frames
    shared = next(f["msg"]["sid"] for f in frames if f.get("id") == 91 and f["type"] == "subscribed")
    reader.books_of[shared] = [ETH, FED]
    assert venue.deltas_dropped >= 10 and venue.deltas_sent >= 6 * venue.deltas_dropped  # about 1 in 9
    # Every dropped delta is one seq hole of the sid covering its market, revealed by a later delta.
    assert sum(reader.holes.values()) == venue.deltas_dropped
    assert reader.resubscribed >= 1 and reader.holes[4] >= 1
    assert {sid for sid in reader.holes} <= set(reader.books_of)  # only book sids skip: trades, lifecycle do not
    # Snapshot first: right after its subscribed reply, each book sid sends one snapshot per market, seq 1, 2...
    for sid, markets in reader.books_of.items():
        of_sid = [f for f in frames if f.get("sid") == sid and f["type"] != "unsubscribed"]
        head = [(f["type"], f["msg"]["market_ticker"], f["seq"]) for f in of_sid[: len(markets)]]
        assert head == [("orderbook_snapshot", m, n) for n, m in enumerate(markets, start=1)], sid
        assert all(f["type"] == "orderbook_delta" for f in of_sid[len(markets) :])
        numbers = [f["seq"] for f in frames if f.get("sid") == sid]
        assert numbers == sorted(set(numbers)), sid  # increasing, never repeated
    # Unsubscribe is honoured: nothing of a sid after its unsubscribed reply, which takes the sid's next seq.
    assert set(reader.unsubscribed) >= {3, 4}
    for sid, index in reader.unsubscribed.items():
        assert not [f for f in frames[index + 1 :] if f.get("sid") == sid]
        assert frames[index]["seq"] == max(f["seq"] for f in frames[:index] if f.get("sid") == sid) + 1
    # After the last resubscription every book equals the simulator's final book.
    final_sids = {
        BTC: max(sid for sid, markets in reader.books_of.items() if markets == [BTC]),
        ETH: shared,
        FED: shared,
    }
    for market in (BTC, ETH, FED):
        truth = kalshi_wire.yes_axis(venue.books[f"KALSHI:{market}"].snapshot())
        last = [
            r
            for f, r in reader.records
            if isinstance(r, BookUpdate) and r.symbol == market and f["sid"] == final_sids[market]
        ]
        book = OrderBook("kalshi", f"KALSHI:{market}")
        statuses = [book.apply(update).status for update in last]
        assert last[0].kind == "snapshot" and set(statuses) <= {"ok"}
        assert (book.bids, book.asks) == truth, market
    assert reader.books[BTC].synced and (reader.books[BTC].bids, reader.books[BTC].asks) == kalshi_wire.yes_axis(
        venue.books[f"KALSHI:{BTC}"].snapshot()
    )

    # Trades: the sid 5 tape, contiguous.
    trades = [(f, r) for f, r in reader.records if isinstance(r, Trade)]
    assert len(trades) == 360 and [f["seq"] for f, _ in trades] == list(range(1, 361))
    # Tickers: ticker_v2 for the subscribed markets only, without seq; the last one is the final quote.
    tickers = [(f, r) for f, r in reader.records if isinstance(r, Ticker)]
    assert {r.symbol for _, r in tickers} == {BTC, ETH} and all("seq" not in f and f["sid"] == 2 for f, _ in tickers)
    assert venue.tickers_sent == len(tickers)
    for market in (BTC, ETH):
        sim_book = venue.books[f"KALSHI:{market}"]
        last_trade = [r for _, r in trades if r.symbol == market][-1]
        bid, ask = sim_book.best_bid(), sim_book.best_ask()
        assert bid is not None and ask is not None
        (last_ticker,) = [r for _, r in tickers if r.symbol == market][-1:]
        assert (last_ticker.last_price, last_ticker.best_bid, last_ticker.best_ask) == (
            last_trade.price,
            Decimal(bid[0]) / 100,
            Decimal(ask[0]) / 100,
        )
        volume = sum(int(f["msg"]["volume_delta"]) for f, r in tickers if r.symbol == market)
        assert volume == sum(int(r.size) for _, r in trades if r.symbol == market)  # every contract, once
    # Lifecycle: each event once, then each market created before its first trade; determined, settled at the end.
    lifecycle = [(f, r) for f, r in reader.records if isinstance(r, Lifecycle)]
    assert [f["seq"] for f, _ in lifecycle] == list(range(1, 13)) and {f["sid"] for f, _ in lifecycle} == {1}
    assert venue.lifecycle_sent == 12
    position = {id(f): index for index, f in enumerate(frames)}
    for market in (BTC, ETH, FED):
        event = kalshi_wire.event_ticker_of(f"KALSHI:{market}")
        mine = [(f, r) for f, r in lifecycle if r.symbol in (market, event)]
        assert [(r.status, r.symbol) for _, r in mine] == [
            ("event_created", event),
            ("created", market),
            ("determined", market),
            ("settled", market),
        ]
        first_trade = next(f for f, r in trades if r.symbol == market)
        last_delta = max(
            position[id(f)] for f in frames if f["type"] == "orderbook_delta" and f["msg"]["market_ticker"] == market
        )
        assert position[id(mine[1][0])] < position[id(first_trade)]
        assert position[id(mine[2][0])] > max(last_delta, max(position[id(f)] for f, _ in trades))
        result = "yes" if venue.last_price[f"KALSHI:{market}"] >= 50 else "no"
        assert mine[2][1].result == result and mine[3][1].event == "settled"
    listed = next(f for f in frames if f.get("id") == 92)["msg"]
    assert {(s["channel"], s["sid"]) for s in listed} >= {("market_lifecycle_v2", 1), ("ticker_v2", 2), ("trade", 5)}
    assert not {3, 4} & {s["sid"] for s in listed}  # unsubscribed sids are gone


def test_update_subscription_adds_a_market_to_a_book_sid_with_its_snapshot() -> None:
    settings = sim_settings(sim_max_trades=60)

    async def scenario() -> tuple[list[dict[str, Any]], KalshiSim]:
        async with (
            open_simulator(settings, port=0, venues=["kalshi"]) as sim,
            connect(sim.url("kalshi") + kalshi.WS_PATH, additional_headers=signed(settings)) as ws,
        ):
            venue = sim.venues["kalshi"]
            assert isinstance(venue, KalshiSim)
            await ws.send(kalshi.subscribe_message(["orderbook_delta", "trade"], [BTC], 1))
            await asyncio.wait_for(sim.tasks["kalshi"], TIMEOUT)
            update = {"sids": [1], "action": "add_markets", "market_tickers": [FED]}
            await ws.send(json.dumps({"id": 2, "cmd": "update_subscription", "params": update}))
            frames: list[dict[str, Any]] = []
            while (
                not frames
                or frames[-1].get("type") != "orderbook_snapshot"
                or frames[-1]["msg"]["market_ticker"] != FED
            ):
                frames.append(json.loads(await ws.recv()))
            return frames, venue

    frames, venue = run(scenario)
    assert [f["msg"] for f in frames[:3:2]] == [
        {"channel": "orderbook_delta", "sid": 1},
        {"channel": "trade", "sid": 2},
    ]
    assert (frames[1]["type"], frames[1]["seq"]) == ("orderbook_snapshot", 1)  # each channel's ack, then its data
    book_frames = [f for f in frames if f.get("sid") == 1]
    assert [f["seq"] for f in book_frames] == list(range(1, len(book_frames) + 1))  # no drop fault: no hole
    ok, snapshot = book_frames[-2:]
    assert ok["type"] == "ok" and ok["id"] == 2 and ok["msg"] == {"market_tickers": [BTC, FED]}
    (update,) = kalshi.parse(json.dumps(snapshot), 0).records
    assert isinstance(update, BookUpdate) and update.symbol == FED
    assert (as_dict(update.bids), as_dict(update.asks)) == kalshi_wire.yes_axis(venue.books[f"KALSHI:{FED}"].snapshot())
    assert venue.deltas_dropped == 0 and venue.snapshots_sent == 2
