"""The simulated Kraken Futures books and tickers: pure renderings parsed back by the real parser, and the ``book``
and ``ticker`` feeds served by the real server (snapshot then consecutive ``seq``, the drop fault, resubscription,
unsubscription, the final books and tickers)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from contracts.records import BookUpdate, Level, Ticker, Trade
from streaming.book import OrderBook
from streaming.simulator import krakenfutures_wire as wire
from streaming.simulator.books import SimBook, text
from streaming.simulator.krakenfutures import KrakenFuturesSim, ProductStats, book_drops
from streaming.simulator.market import iter_trades
from streaming.simulator.server import open_simulator
from streaming.venues import krakenfutures

VENUE = "krakenfutures"
INSTRUMENTS = ["BTC-USD-PERP", "ETH-USD-PERP"]
PRODUCTS = ["PF_XBTUSD", "PF_ETHUSD"]
TIMEOUT = 30.0


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, VENUE, INSTRUMENTS, seed=11, rate=300.0)


def connect(url: str) -> ws_connect:
    """A client that queues whatever it does not read, so that closing it never waits on the flow control."""
    return ws_connect(url, max_queue=None)


def levels(pairs: Any) -> dict[Decimal, Decimal]:
    """Simulated ``(price, size)`` units as exact decimals."""
    return {Decimal(text(price)): Decimal(text(size)) for price, size in pairs}


def sim_book_levels(book: SimBook) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    snapshot = book.snapshot()
    return levels(snapshot.bids), levels(snapshot.asks)


def only(frame: Any) -> Any:
    (record,) = frame.records
    return record


# --- pure renderings -----------------------------------------------------------------------------


def test_book_messages_rebuild_the_simulated_book_one_level_at_a_time_without_crossing() -> None:
    sim_book = SimBook(11, "BTC-USD-PERP", ["book"])
    seq = wire.first_book_seq(11, "BTC-USD-PERP")
    assert seq == wire.first_book_seq(11, "BTC-USD-PERP") != wire.first_book_seq(12, "BTC-USD-PERP")
    opening = sim_book.snapshot()
    frame = krakenfutures.parse(
        wire.book_snapshot_message("PF_XBTUSD", seq, 1_790_000_000_000, opening.bids, opening.asks), 5
    )
    snapshot = only(frame)
    assert frame.channel == "book:PF_XBTUSD" and isinstance(snapshot, BookUpdate)
    assert (snapshot.kind, snapshot.sequence, snapshot.prev_sequence, snapshot.checksum) == (
        "snapshot",
        seq,
        None,
        None,
    )
    assert snapshot.ts_event == 1_790_000_000_000_000_000 and snapshot.ts_recv == 5
    assert [level.price for level in snapshot.bids] == sorted((level.price for level in snapshot.bids), reverse=True)
    assert [level.price for level in snapshot.asks] == sorted(level.price for level in snapshot.asks)
    book = OrderBook(VENUE, "BTC-USD-PERP")
    assert book.apply(snapshot).status == "ok"
    assert (book.bids, book.asks) == sim_book_levels(sim_book)
    messages = 0
    for trade in iter_trades(11, ["BTC-USD-PERP"], range(1_790_000_000_000, 1_790_000_000_400)):
        sim_book.on_trade(trade)
        diff = sim_book.drain("book")
        assert diff is not None
        changes = wire.book_changes(diff)
        assert sorted(changes) == sorted(
            [("buy", price, size) for price, size in diff.bids] + [("sell", price, size) for price, size in diff.asks]
        )
        for side, price, qty in changes:
            seq += 1
            raw = wire.book_message("PF_XBTUSD", side, seq, price, qty, trade.ts_ms)
            update = only(krakenfutures.parse(raw, 6))
            assert isinstance(update, BookUpdate) and update.kind == "delta"
            assert (update.first_sequence, update.sequence, update.prev_sequence) == (seq, seq, seq - 1)
            assert update.ts_event == trade.ts_ms * 1_000_000
            level = Level(Decimal(text(price)), Decimal(text(qty)))
            assert (update.bids, update.asks) == (((level,), ()) if side == "buy" else ((), (level,)))
            assert json.loads(raw, parse_float=str)["qty"] == wire.units_number(qty)
            assert book.apply(update).status == "ok"  # continues the book, and never crosses it
            messages += 1
        assert (book.bids, book.asks) == sim_book_levels(sim_book)
    assert book.sequence == seq and messages > 400  # one message per changed level
    assert [wire.units_number(n) for n in (0, 1, 6_500_001_000_000, 150_000_000)] == [
        "0.0",
        "0.00000001",
        "65000.01",
        "1.5",
    ]


def expected_ticker(fields: wire.TickerFields, received_at: int) -> Ticker:
    return Ticker(
        venue=VENUE,
        instrument=krakenfutures.to_instrument(fields.product_id),
        symbol=fields.product_id,
        ts_event=fields.time_ms * 1_000_000,
        ts_recv=received_at,
        best_bid=fields.bid,
        best_bid_size=fields.bid_size,
        best_ask=fields.ask,
        best_ask_size=fields.ask_size,
        last_price=fields.last,
        volume_24h=fields.volume,
        funding_rate=fields.relative_funding_rate,
        mark_price=fields.mark_price,
        index_price=fields.index,
        open_interest=fields.open_interest,
    )


def test_tickers_are_derived_from_the_market_and_parse_back() -> None:
    time_ms = 1_790_359_997_224  # 2026-09-25T16:53:17.224Z
    state = wire.MarketState(
        best_bid=(10_000_000_000, 2_500_000),  # 100.0 x 0.025
        best_ask=(10_020_000_000, 100_000_000),  # 100.2 x 1
        last=10_000_000_000,
        volume=350_000_000,  # 3.5
        volume_quote=351 * 10**16,
        open_price=8_000_000_000,  # 80.0
        open_interest=123_450_000_000,
    )
    linear = wire.ticker_fields("PF_XBTUSD", time_ms, state)
    # mark = mid 100.1, index = last 100.0: the spread 0.001 is 0.1 % (premium) and 0.001 / 24 per hour
    assert (linear.mark_price, linear.index, linear.premium) == (Decimal("100.1"), Decimal("100.0"), Decimal("0.1"))
    assert linear.relative_funding_rate == Decimal("0.000041666667")
    assert linear.funding_rate == Decimal("0.004166666700")  # times the index, per contract
    assert linear.next_funding_rate_time == 1_790_362_800_000  # 17:00
    assert (linear.change, linear.volume, linear.volume_quote) == (Decimal("25"), Decimal("3.5"), Decimal("351"))
    assert (linear.dtm, linear.maturity_time, linear.tag, linear.pair) == (0, 0, "perpetual", "XBT:USD")
    raw = wire.ticker_message(linear)
    frame = krakenfutures.parse(raw, 7)
    assert frame.channel == "ticker:PF_XBTUSD" and only(frame) == expected_ticker(linear, 7)
    message = json.loads(raw, parse_float=str)
    assert message["relative_funding_rate"] == message["relative_funding_rate_prediction"] == "0.000041666667"
    assert message["funding_rate"] == "0.0041666667" and message["openInterest"] == "1234.5"
    assert (message["suspended"], message["post_only"], message["leverage"]) == (False, False, "50x")

    inverse = wire.ticker_fields("PI_XBTUSD", time_ms, state)  # settles in BTC: the rate divided by the index
    assert inverse.funding_rate == Decimal("4.16666670E-7") and inverse.relative_funding_rate == Decimal(
        "0.000041666667"
    )
    assert only(krakenfutures.parse(wire.ticker_message(inverse), 1)).funding_rate == Decimal("0.000041666667")

    dated = wire.ticker_fields("FF_ETHUSD_261225", time_ms, state)  # a fixed-maturity future funds nothing
    assert (dated.funding_rate, dated.relative_funding_rate, dated.next_funding_rate_time) == (None, None, None)
    assert dated.maturity_time == 1_798_214_400_000 and dated.dtm == 90 and dated.tag == "month"
    dated_raw = wire.ticker_message(dated)
    assert "funding" not in dated_raw
    assert only(krakenfutures.parse(dated_raw, 2)) == expected_ticker(dated, 2)

    # No spread between mark and index: a zero rate is not sent (the documentation's rule), read as None.
    flat = wire.MarketState((9_990_000_000, 1), (10_010_000_000, 1), 10_000_000_000, 1, 1, 10_000_000_000, 0)
    flat_fields = wire.ticker_fields("PF_XBTUSD", time_ms, flat)
    assert flat_fields.relative_funding_rate is None and flat_fields.funding_rate is None
    flat_raw = wire.ticker_message(flat_fields)
    assert '"funding_rate"' not in flat_raw and '"next_funding_rate_time":1790362800000' in flat_raw
    assert only(krakenfutures.parse(flat_raw, 3)) == expected_ticker(flat_fields, 3)

    # Before any trade and with an empty side: last and index are null, the mark is unknown.
    empty = wire.MarketState(None, (10_010_000_000, 1), None, 0, 0, None, 0)
    empty_fields = wire.ticker_fields("PF_ETHUSD", time_ms, empty)
    empty_raw = wire.ticker_message(empty_fields)
    assert '"bid":null' in empty_raw and '"last":null' in empty_raw and '"markPrice":null' in empty_raw
    parsed = only(krakenfutures.parse(empty_raw, 4))
    assert parsed == expected_ticker(empty_fields, 4)
    assert (parsed.best_bid, parsed.last_price, parsed.mark_price, parsed.volume_24h) == (None, None, None, 0)


def test_product_stats_follow_the_tape_over_24_hours() -> None:
    tape = list(iter_trades(11, ["ETH-USD-PERP"], [1_000_000, 1_030_000, 1_070_000, 90_000_000]))
    stats = ProductStats(11, "ETH-USD-PERP")
    opening = stats.open_interest
    assert opening > 0 and opening == ProductStats(11, "ETH-USD-PERP").open_interest
    for trade in tape[:3]:
        stats.on_trade(trade)
    size = [Decimal(t.size_text) for t in tape]
    price = [Decimal(t.price_text) for t in tape]
    state = stats.state(1_080_000, None, None)
    assert Decimal(state.volume) / 10**8 == sum(size[:3])
    assert Decimal(state.volume_quote) / 10**16 == sum(p * s for p, s in zip(price[:3], size[:3], strict=True))
    assert Decimal(state.open_price or 0) / 10**8 == price[0] and Decimal(state.last or 0) / 10**8 == price[2]
    signed = sum((s if t.trade_id % 3 else -s) for t, s in zip(tape[:3], size[:3], strict=True))
    assert Decimal(state.open_interest - opening) / 10**8 == signed
    stats.on_trade(tape[3])  # a day later: the first two minutes' trades are out of the window
    late = stats.state(90_000_000, None, None)
    assert Decimal(late.volume) / 10**8 == size[3] and Decimal(late.open_price or 0) / 10**8 == price[3]


def test_book_drops_withhold_every_nth_message_but_never_a_batchs_last() -> None:
    assert book_drops(0, 7, None, False) == ((False,) * 7, False)
    assert book_drops(0, 7, 3, False) == ((False, False, True, False, False, True, False), False)
    # the 3rd falls on a batch's last message: the drop moves to the next batch's first
    assert book_drops(0, 3, 3, False) == ((False, False, False), True)
    assert book_drops(3, 1, 3, True) == ((False,), True)
    assert book_drops(4, 2, 3, True) == ((True, False), True)  # the 6th is due as well, and waits
    assert book_drops(6, 4, 3, True) == ((True, False, True, False), False)
    # over many batches: one drop per N messages, none last in its batch
    counted, owed, dropped = 0, False, 0
    for size in itertools.islice(itertools.cycle([1, 2, 5, 3, 4]), 200):
        drops, owed = book_drops(counted, size, 4, owed)
        counted += size
        dropped += sum(drops)
        assert not drops[-1]
    assert counted // 4 - 1 <= dropped <= counted // 4


# --- the server ----------------------------------------------------------------------------------


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    value = json.loads(await ws.recv())
    assert isinstance(value, dict)
    return value


async def subscribe(ws: ClientConnection, feed: str, products: list[str] = PRODUCTS) -> None:
    """Send a subscription and check its ack (the next frame: nothing else is subscribed yet)."""
    await ws.send(krakenfutures.subscribe_message(feed, products))  # type: ignore[arg-type]
    assert await recv_json(ws) == {"event": "subscribed", "feed": feed, "product_ids": products}


class BookClient:
    """A consumer of the book feed: an OrderBook per product, resubscribing on a gap like the collector."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.books = {i: OrderBook(VENUE, i) for i in INSTRUMENTS}
        self.gaps: list[tuple[str, int, int]] = []
        self.snapshots: list[BookUpdate] = []
        self.seqs: dict[str, list[int]] = {p: [] for p in PRODUCTS}
        self.tickers: list[Ticker] = []
        self.trades: list[Trade] = []
        self.events: list[dict[str, Any]] = []

    async def consume(self) -> None:
        while True:
            raw = await self.ws.recv()
            frame = krakenfutures.parse(raw, time.time_ns())
            if frame.control is not None:
                self.events.append(json.loads(raw))
            for record in frame.records:
                if isinstance(record, Ticker):
                    self.tickers.append(record)
                elif isinstance(record, Trade):
                    self.trades.append(record)
                elif isinstance(record, BookUpdate):
                    await self.on_book(record)

    async def on_book(self, update: BookUpdate) -> None:
        assert update.sequence is not None
        book = self.books[update.instrument]
        if update.kind == "snapshot":
            self.snapshots.append(update)
        else:
            self.seqs[update.symbol].append(update.sequence)
        was_synced = book.synced
        result = book.apply(update)
        assert result.status in ("ok", "gap", "unsynced"), result
        if result.status == "gap":
            assert was_synced and result.expected is not None and result.received is not None
            self.gaps.append((update.symbol, result.expected, result.received - 1))
            await self.ws.send(krakenfutures.unsubscribe_message("book", [update.symbol]))
            await self.ws.send(krakenfutures.subscribe_message("book", [update.symbol]))

    def converged(self, venue: KrakenFuturesSim) -> bool:
        for instrument in INSTRUMENTS:
            book = self.books[instrument]
            if not book.synced or book.sequence != venue.book_seqs[instrument]:
                return False
            if (book.bids, book.asks) != sim_book_levels(venue.books[instrument]):
                return False
        return True


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.02)


def test_snapshot_then_consecutive_seqs_tickers_and_the_final_books() -> None:
    settings = sim_settings(sim_max_trades=600)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim, connect(f"{sim.url(VENUE)}/ws/v1") as ws:
            venue = sim.venues[VENUE]
            assert isinstance(venue, KrakenFuturesSim)
            assert await recv_json(ws) == {"event": "info", "version": 1}
            opening = {i: venue.book_seqs[i] for i in INSTRUMENTS}
            await subscribe(ws, "book")
            client = BookClient(ws)
            for product, instrument in zip(PRODUCTS, INSTRUMENTS, strict=True):  # nothing trades yet: opening books
                raw = await ws.recv()
                snapshot = json.loads(raw)
                assert snapshot["feed"] == "book_snapshot" and snapshot["product_id"] == product
                assert snapshot["seq"] == opening[instrument] and snapshot["tickSize"] is None
                assert abs(snapshot["timestamp"] - time.time() * 1000) < 60_000
                await client.on_book(only(krakenfutures.parse(raw, 0)))
                book = client.books[instrument]
                assert (book.bids, book.asks) == sim_book_levels(venue.books[instrument])
            await subscribe(ws, "ticker")
            for product in PRODUCTS:  # a ticker at once
                assert only(krakenfutures.parse(await ws.recv(), 0)).symbol == product
            consumer = asyncio.create_task(client.consume())
            await ws.send(krakenfutures.subscribe_message("trade", PRODUCTS))  # now the products trade
            await asyncio.wait_for(sim.tasks[VENUE], TIMEOUT)
            await until(lambda: client.converged(venue), "the client's books to reach the simulator's final books")
            await until(lambda: len(client.tickers) + 2 == venue.tickers_sent, "the last tickers")
            consumer.cancel()
            assert not client.gaps and venue.book_messages_dropped == 0
            for product, instrument in zip(PRODUCTS, INSTRUMENTS, strict=True):
                seqs = client.seqs[product]  # every change, in order, from the snapshot's seq on
                assert seqs == list(range(opening[instrument] + 1, venue.book_seqs[instrument] + 1))
            assert sum(map(len, client.seqs.values())) == venue.book_messages_sent > 2 * 600
            # the last ticker of each product (sent when trading ended) is the final market
            for instrument in INSTRUMENTS:
                ticker = [t for t in client.tickers if t.instrument == instrument][-1]
                tape = venue.trades_from(instrument)
                bid, ask = venue.books[instrument].best_bid(), venue.books[instrument].best_ask()
                assert bid is not None and ask is not None
                assert (ticker.best_bid, ticker.best_bid_size) == (Decimal(text(bid[0])), Decimal(text(bid[1])))
                assert (ticker.best_ask, ticker.best_ask_size) == (Decimal(text(ask[0])), Decimal(text(ask[1])))
                assert ticker.last_price == ticker.index_price == tape[-1].price
                assert ticker.volume_24h == sum(t.size for t in tape)
                assert ticker.mark_price == (Decimal(text(bid[0])) + Decimal(text(ask[0]))) / 2
                fields = venue.ticker(instrument, ticker.ts_event // 1_000_000)
                assert ticker == expected_ticker(fields, ticker.ts_recv)
            assert len(client.tickers) >= 2  # at least the last ones, sent when trading ended
            assert len(client.trades) == venue.trades_sent == 600

    run(scenario)


def test_drop_fault_gaps_are_repaired_by_resubscribing_and_unsubscribe_is_honoured() -> None:
    settings = sim_settings(sim_max_trades=900, sim_book_drop_every=7)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim:
            venue = sim.venues[VENUE]
            assert isinstance(venue, KrakenFuturesSim)
            async with connect(f"{sim.url(VENUE)}/ws/v1") as ws, connect(f"{sim.url(VENUE)}/ws/v1") as other:
                assert await recv_json(ws) == {"event": "info", "version": 1}
                assert await recv_json(other) == {"event": "info", "version": 1}
                await subscribe(ws, "book")
                client = BookClient(ws)
                consumer = asyncio.create_task(client.consume())
                # another connection: trades and the ETH book, then no ETH book any more
                await subscribe(other, "trade")
                await other.send(krakenfutures.subscribe_message("book", ["PF_ETHUSD"]))
                before: list[dict[str, Any]] = []
                while sum(m.get("feed") == "book" for m in before) < 30:
                    before.append(await recv_json(other))
                assert {"event": "subscribed", "feed": "book", "product_ids": ["PF_ETHUSD"]} in before
                await other.send(krakenfutures.unsubscribe_message("book", ["PF_ETHUSD"]))
                while (message := await recv_json(other)).get("event") is None:
                    pass
                assert message == {"event": "unsubscribed", "feed": "book", "product_ids": ["PF_ETHUSD"]}
                after = [await recv_json(other) for _ in range(150)]
                assert {m["feed"] for m in after} == {"trade"}  # its trades go on, its book does not
                await other.send(krakenfutures.unsubscribe_message("book", ["PF_ETHUSD"]))
                while (message := await recv_json(other)).get("event") is None:
                    pass
                assert message == {"event": "unsubscribed_failed", "feed": "book", "product_ids": ["PF_ETHUSD"]}
                await asyncio.wait_for(sim.tasks[VENUE], TIMEOUT)
                await until(lambda: client.converged(venue), "the resynchronised books to reach the final books")
                consumer.cancel()
            assert venue.book_messages_dropped >= 10 and client.gaps
            assert {symbol for symbol, _, _ in client.gaps} == set(PRODUCTS)
            assert len(client.gaps) <= venue.book_messages_dropped
            for symbol, first, last in client.gaps:  # a dropped message is one seq that never came
                assert first == last and first not in client.seqs[symbol]
                assert any(
                    s.symbol == symbol and s.sequence is not None and s.sequence > last for s in client.snapshots
                )
            resubscribed = [e for e in client.events if e.get("event") == "unsubscribed"]
            assert len(resubscribed) == len(client.gaps)  # one unsubscribe + subscribe (and snapshot) per gap
            assert len(client.snapshots) == len(client.gaps) + 2
            for symbol in PRODUCTS:  # between two snapshots, the seqs a client got are those sent
                assert client.seqs[symbol] == sorted(client.seqs[symbol])

    run(scenario)


def test_unsimulated_and_unknown_book_and_ticker_subscriptions_fail() -> None:
    async def scenario() -> None:
        async with (
            open_simulator(sim_settings(), port=0, venues=[VENUE]) as sim,
            connect(f"{sim.url(VENUE)}/ws/v1") as ws,
        ):
            assert await recv_json(ws) == {"event": "info", "version": 1}
            await ws.send(krakenfutures.subscribe_message("book", ["PF_SOLUSD", "pf_xbtusd"]))
            assert await recv_json(ws) == {"event": "subscribed", "feed": "book", "product_ids": ["PF_XBTUSD"]}
            assert await recv_json(ws) == {"event": "subscribed_failed", "feed": "book", "product_ids": ["PF_SOLUSD"]}
            assert (await recv_json(ws))["feed"] == "book_snapshot"
            await ws.send(krakenfutures.subscribe_message("book", ["PF_XBTUSD"]))  # already: no second snapshot
            assert await recv_json(ws) == {"event": "subscribed", "feed": "book", "product_ids": ["PF_XBTUSD"]}
            await ws.send(json.dumps({"event": "subscribe", "feed": "ticker_lite", "product_ids": ["PF_XBTUSD"]}))
            assert await recv_json(ws) == {
                "event": "subscribed_failed",
                "feed": "ticker_lite",
                "product_ids": ["PF_XBTUSD"],
            }
            await ws.send(krakenfutures.unsubscribe_message("ticker", ["PF_XBTUSD"]))
            assert await recv_json(ws) == {
                "event": "unsubscribed_failed",
                "feed": "ticker",
                "product_ids": ["PF_XBTUSD"],
            }
            with pytest.raises(TimeoutError):  # nothing trades: no book message, no ticker
                await asyncio.wait_for(ws.recv(), 0.3)

    run(scenario)
