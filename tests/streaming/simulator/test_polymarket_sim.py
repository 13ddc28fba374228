"""The Polymarket simulator: the CLOB market channel and the Data API on the real server, read by the real parser."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from contracts.records import BookUpdate, Trade
from streaming.errors import ParseError
from streaming.feeds.polymarket import feed as polymarket_feed
from streaming.simulator import polymarket_wire
from streaming.simulator.market import Market, SimTrade, iter_trades
from streaming.simulator.polymarket import PolymarketSim
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import polymarket
from ticklake.settings import DEFAULT_INSTRUMENTS

A, B = DEFAULT_INSTRUMENTS["polymarket"]  # the outcomes of one simulated market
C = "POLYMARKET:71321045679252212594626385532706912750332728571942532289631379312455583992563"  # a market alone
INSTRUMENTS = [A, B, C]
ASSET = {instrument: polymarket.to_symbol(instrument) for instrument in INSTRUMENTS}
TIMEOUT = 20.0
T0_MS = 1_790_000_000_000


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "polymarket", INSTRUMENTS, seed=11, rate=200.0)


def ws_url(sim: SimulatorHandle) -> str:
    return f"{sim.url('polymarket')}/ws/market"


async def http_get(url: str) -> tuple[int, bytes]:
    """GET a URL off the event loop: (status, body), errors included."""

    def get() -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, bytes(error.read())

    return await asyncio.to_thread(get)


def parse_trade(frame: str | bytes) -> Trade:
    parsed = polymarket.parse(frame, 5)
    assert parsed.control is None and parsed.channel == "market", frame
    (trade,) = parsed.records
    assert isinstance(trade, Trade)
    return trade


def expected_trade(trade: SimTrade, received: int = 5) -> Trade:
    """The Trade the parser must read from a simulated trade's frame."""
    return Trade(
        venue="polymarket",
        instrument=trade.instrument,
        symbol=ASSET[trade.instrument],
        trade_id=polymarket_wire.transaction_hash(trade),
        price=trade.price,
        size=trade.size,
        side=trade.side,
        ts_event=trade.ts_ms * 1_000_000,
        ts_recv=received,
    )


def is_trade_frame(frame: str | bytes) -> bool:
    """Whether a frame is a ``last_trade_price`` or a malformed cut of one (books: test_polymarket_books_sim.py)."""
    return isinstance(frame, str) and frame.startswith('{"event_type":"last_trade_price"')


async def next_trade_frame(ws: ClientConnection) -> str:
    """The next ``last_trade_price`` frame (book and market-event frames skipped)."""
    while not is_trade_frame(frame := await ws.recv()):
        pass
    assert isinstance(frame, str)
    return frame


async def frames_until_pong(ws: ClientConnection) -> list[str]:
    """Send PING and return every frame received before its PONG."""
    await ws.send(polymarket.PING_MESSAGE)
    frames = []
    while (frame := await ws.recv()) != "PONG":
        assert isinstance(frame, str)
        frames.append(frame)
    return frames


# --- wire format ---------------------------------------------------------------------------------


def test_trade_frames_and_rest_rows_parse_back_to_the_trade() -> None:
    markets = polymarket_wire.sim_markets(INSTRUMENTS)
    assert markets[A] is markets[B] and markets[C] is not markets[A]
    assert markets[A].assets == (ASSET[A], ASSET[B]) and markets[C].outcomes == ("Yes",)
    tape = list(iter_trades(3, INSTRUMENTS, range(T0_MS, T0_MS + 300 * 37, 37)))
    assert len({polymarket_wire.transaction_hash(t) for t in tape}) == len(tape) == 300
    sim = PolymarketSim(sim_settings())
    for trade in tape:
        market = markets[trade.instrument]
        frame = polymarket_wire.trade_frame(trade, market.condition_id)
        assert parse_trade(frame) == expected_trade(trade)
        message = json.loads(frame)
        assert list(message) == [
            "event_type",
            "asset_id",
            "market",
            "price",
            "size",
            "fee_rate_bps",
            "side",
            "timestamp",
            "transaction_hash",
        ]
        assert message["price"] == polymarket_wire.decimal_text(trade.price_text) and "." in message["price"]
        assert not message["price"].endswith("0") and not message["size"].endswith(".")
        assert message["side"] == trade.side.upper() and message["market"] == market.condition_id
        assert polymarket.asset_markets(frame) == {ASSET[trade.instrument]: market.condition_id}
        # The ground truth is exactly what the parser reads.
        truth = json.loads(sim.ground_truth_line(trade, "market"))
        assert (truth["trade_id"], Decimal(truth["price"]), Decimal(truth["size"]), truth["ts_event"]) == (
            message["transaction_hash"],
            trade.price,
            trade.size,
            trade.ts_ms * 1_000_000,
        )
        # The Data API row of the same trade: same id, price, size and side; time in whole seconds.
        taker = polymarket_wire.rest_trade_row(trade, market)
        maker = polymarket_wire.rest_trade_row(trade, market, taker=False)
        body = polymarket_wire.rest_trades_body([taker, maker])
        row = json.loads(taker)
        assert isinstance(row["price"], float) and isinstance(row["size"], (int, float))
        rest_taker, rest_maker = polymarket.parse_rest_trades(body, 9, trade.instrument)
        assert rest_taker == Trade(
            venue="polymarket",
            instrument=trade.instrument,
            symbol=ASSET[trade.instrument],
            trade_id=polymarket_wire.transaction_hash(trade),
            price=trade.price,
            size=trade.size,
            side=trade.side,
            ts_event=trade.ts_ms // 1000 * 1_000_000_000,
            ts_recv=9,
        )
        assert rest_maker.trade_id == rest_taker.trade_id and rest_maker.side != rest_taker.side
        other = B if trade.instrument == A else A
        assert polymarket.parse_rest_trades(body, 9, other) == []  # another outcome's rows are not its trades


@pytest.mark.parametrize("last", ["0.01000000", "0.50000000", "0.48000000", "0.99000000"])
def test_book_snapshots_carry_the_venue_hash(last: str) -> None:
    market = polymarket_wire.sim_markets(INSTRUMENTS)[A].condition_id
    summary = polymarket_wire.book_summary(ASSET[A], market, last, T0_MS)
    body = polymarket_wire.rest_book_body(summary)
    assert polymarket.verify_rest_book_hash(body)
    rest_book = polymarket.parse_rest_book(body, 3, A)
    frame = polymarket_wire.books_frame([summary, polymarket_wire.book_summary(ASSET[B], market, "0.3", T0_MS)])
    parsed = polymarket.parse(frame, 3)
    book, other = parsed.records
    assert isinstance(book, BookUpdate) and isinstance(other, BookUpdate)
    assert (book.kind, book.symbol, other.symbol) == ("snapshot", ASSET[A], ASSET[B])
    assert (book.bids, book.asks, book.ts_event) == (rest_book.bids, rest_book.asks, T0_MS * 1_000_000)
    assert book.bids or book.asks
    bids = [level.price for level in book.bids]
    asks = [level.price for level in book.asks]
    assert bids == sorted(bids) and asks == sorted(asks, reverse=True)  # best last on both sides
    assert all(Decimal("0.01") <= price <= Decimal("0.99") for price in bids + asks)
    if bids and asks:
        assert bids[-1] < Decimal(last) < asks[-1]
    message = json.loads(frame)[0]
    assert message["event_type"] == "book" and message["hash"] == summary["hash"]
    assert "neg_risk" not in message and "min_order_size" not in message


# --- the market channel --------------------------------------------------------------------------


def test_subscription_gets_books_then_the_seeded_tape() -> None:
    settings = sim_settings(sim_rate=300.0)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["polymarket"]) as sim, connect(ws_url(sim)) as ws:
            venue = sim.venues["polymarket"]
            assert isinstance(venue, PolymarketSim)
            assert not venue.trades_sent  # nothing trades before a subscription
            await ws.send(polymarket.subscribe_message([ASSET[A], ASSET[B]]))
            books = polymarket.parse(await ws.recv(), 1)  # no ack: the books come first
            assert [(r.symbol, type(r), getattr(r, "kind", None)) for r in books.records] == [
                (ASSET[A], BookUpdate, "snapshot"),
                (ASSET[B], BookUpdate, "snapshot"),
            ]
            received = [(frame, parse_trade(frame)) for frame in [await next_trade_frame(ws) for _ in range(120)]]
            reference = Market(settings.sim_seed, settings.instruments_of("polymarket"))
            for frame, trade in received:
                expected = reference.next_trade(trade.instrument, 0)
                assert trade.trade_id == polymarket_wire.transaction_hash(expected)
                assert (trade.price, trade.size, trade.side) == (expected.price, expected.size, expected.side)
                assert abs(trade.ts_event - time.time_ns()) < 60 * 10**9
                assert json.loads(frame)["market"] == venue.markets[trade.instrument].condition_id
            assert {trade.instrument for _, trade in received} == {A, B}

    run(scenario)


def test_ping_subscription_updates_and_bad_requests() -> None:
    async def scenario() -> None:
        async with (
            open_simulator(sim_settings(), port=0, venues=["polymarket"]) as sim,
            connect(ws_url(sim)) as ws,
        ):
            await ws.send("PING")
            pong = await ws.recv()
            assert pong == "PONG" and polymarket.parse(pong, 0).control == "heartbeat"
            for request in [
                "not json",
                "[]",
                json.dumps({"assets_ids": [ASSET[A]]}),  # neither an initial type nor an operation
                json.dumps({"assets_ids": ["12345"], "type": "market"}),  # an asset the venue does not list
                json.dumps({"assets_ids": [], "type": "market"}),
                json.dumps({"assets_ids": ASSET[A], "type": "market"}),
                json.dumps({"assets_ids": [ASSET[A]], "type": "user"}),
                json.dumps({"assets_ids": [ASSET[A]], "operation": "frob"}),
                polymarket.update_subscription_message([ASSET[A], "999"], "subscribe"),
            ]:
                await ws.send(request)
                reply = await ws.recv()
                assert reply == "INVALID OPERATION", request
                assert polymarket.parse(reply, 0).control == "error"
            assert not sim.venues["polymarket"].trades_sent
            await ws.send(polymarket.subscribe_message([ASSET[A]], custom_feature_enabled=False))  # no new_market
            (book,) = polymarket.parse(await ws.recv(), 0).records
            assert isinstance(book, BookUpdate) and book.symbol == ASSET[A]
            # A second initial message is refused (the venue wants "operation" updates on an open connection).
            await ws.send(polymarket.subscribe_message([ASSET[C]]))
            while (reply := await ws.recv()) != "INVALID OPERATION":
                assert {r.instrument for r in polymarket.parse(reply, 0).records} == {A}
            await ws.send(polymarket.update_subscription_message([ASSET[C]], "subscribe"))
            while not (frame := await ws.recv()).startswith("["):  # A's frames until the books of the subscription
                assert {r.instrument for r in polymarket.parse(frame, 0).records} == {A}
            records = polymarket.parse(frame, 0).records
            assert [(r.symbol, type(r)) for r in records] == [(ASSET[C], BookUpdate)]
            seen: set[str] = set()
            while seen != {A, C}:
                seen.add(parse_trade(await next_trade_frame(ws)).instrument)
            # Unsubscribed before the PING was answered: nothing of A after the PONG.
            await ws.send(polymarket.update_subscription_message([ASSET[A]], "unsubscribe"))
            await frames_until_pong(ws)
            after = [polymarket.parse(await ws.recv(), 0) for _ in range(60)]
            assert {record.instrument for frame in after for record in frame.records} == {C}

    run(scenario)


def test_unknown_paths_are_refused_with_404() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=["polymarket"]) as sim:
            base = f"ws://127.0.0.1:{sim.port}"
            for path in [
                "/",
                "/polymarket",
                "/polymarket/ws",
                "/polymarket/ws/user",
                "/polymarket/nope",
                "/x/ws/market",
            ]:
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(base + path):
                        pass
                assert refused.value.response.status_code == 404, path
            status, _ = await http_get(f"{sim.rest_url('polymarket')}/data/trades")
            assert status == 404
            assert not sim.venues["polymarket"].trades_sent

    run(scenario)


# --- REST ----------------------------------------------------------------------------------------


def test_rest_trades_pages_newest_first_and_book() -> None:
    settings = sim_settings(sim_rate=300.0, sim_max_trades=150)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["polymarket"]) as sim, connect(ws_url(sim)) as ws:
            venue = sim.venues["polymarket"]
            assert isinstance(venue, PolymarketSim)
            await ws.send(polymarket.subscribe_message(list(ASSET.values())))
            await asyncio.wait_for(sim.tasks["polymarket"], TIMEOUT)
            frames = await frames_until_pong(ws)  # the books, every trade (drained: a clean close)
            assert frames[0].startswith("[") and len([f for f in frames if is_trade_frame(f)]) == 150
            rest = sim.rest_url("polymarket")
            pair, alone = venue.markets[A].condition_id, venue.markets[C].condition_id
            pages: list[list[dict[str, Any]]] = []
            bodies: list[bytes] = []
            while not pages or len(pages[-1]) == 40:
                path, params = polymarket.rest_trades_request(A, pair, limit=40, offset=40 * len(pages), base_url=rest)
                status, body = await http_get(path + "?" + "&".join(f"{k}={v}" for k, v in params.items()))
                assert status == 200
                pages.append(json.loads(body))
                bodies.append(body)
            rows = [row for page in pages for row in page]
            history = {i: venue.trades_from(i) for i in INSTRUMENTS}
            assert len(rows) == len(history[A]) + len(history[B]) and len(pages) >= 3
            assert [row["timestamp"] for row in rows] == sorted((row["timestamp"] for row in rows), reverse=True)
            for instrument in (A, B):
                parsed = [t for body in bodies for t in polymarket.parse_rest_trades(body, 1, instrument)]
                assert [t.trade_id for t in parsed] == [
                    polymarket_wire.transaction_hash(t) for t in history[instrument]
                ][::-1]
                assert [(t.price, t.size, t.side) for t in parsed] == [
                    (t.price, t.size, t.side) for t in history[instrument]
                ][::-1]
            status, body = await http_get(f"{rest}/trades?market={alone}")
            assert status == 200 and {row["asset"] for row in json.loads(body)} == {ASSET[C]}
            assert len(json.loads(body)) == min(100, len(history[C]))  # the default limit
            status, body = await http_get(f"{rest}/trades?limit=10000")
            assert status == 200 and len(json.loads(body)) == venue.generated == 150
            status, body = await http_get(f"{rest}/trades?market={pair}&takerOnly=false&limit=10000")
            both = json.loads(body)
            assert len(both) == 2 * (len(history[A]) + len(history[B]))
            assert all(
                t["transactionHash"] == m["transactionHash"] and t["side"] != m["side"]
                for t, m in zip(both[::2], both[1::2], strict=True)
            )
            status, body = await http_get(f"{rest}/trades?market=0x{'ab' * 32}")
            assert (status, json.loads(body)) == (200, [])
            for query in ["market=0x12", "limit=10001", "offset=-1", "offset=abc", "takerOnly=maybe"]:
                status, body = await http_get(f"{rest}/trades?{query}")
                assert status == 400 and "error" in json.loads(body), query
            # The CLOB book of an asset: hashed like the venue's, around the last trade price.
            path, params = polymarket.rest_book_request(A, base_url=rest)
            status, body = await http_get(f"{path}?token_id={params['token_id']}")
            assert status == 200 and polymarket.verify_rest_book_hash(body)
            assert json.loads(body)["last_trade_price"] == polymarket_wire.price_text(history[A][-1])
            assert polymarket.parse_rest_book(body, 1, A).symbol == ASSET[A]
            assert (await http_get(f"{rest}/book?token_id=42"))[0] == 404
            assert (await http_get(f"{rest}/book"))[0] == 400

    run(scenario)


# --- ground truth and faults ---------------------------------------------------------------------


def test_ground_truth_is_what_the_parser_reads(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    settings = sim_settings(sim_rate=200.0, sim_max_trades=60, sim_ground_truth=truth)

    async def scenario() -> list[Trade]:
        async with open_simulator(settings, port=0, venues=["polymarket"]) as sim, connect(ws_url(sim)) as ws:
            await ws.send(polymarket.subscribe_message([ASSET[A], ASSET[C]]))
            await asyncio.wait_for(sim.tasks["polymarket"], TIMEOUT)
            frames = await frames_until_pong(ws)
            return [parse_trade(frame) for frame in frames if is_trade_frame(frame)]

    received = run(scenario)
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(received) == len(lines) == 60
    assert {(t.venue, t.instrument, t.symbol, t.trade_id, t.price, t.size, t.side, t.ts_event) for t in received} == {
        (
            line["venue"],
            line["instrument"],
            line["symbol"],
            line["trade_id"],
            Decimal(line["price"]),
            Decimal(line["size"]),
            line["side"],
            line["ts_event"],
        )
        for line in lines
    }
    assert all(line["sent"] for line in lines)


def test_faults_skip_duplicate_and_malformed(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    settings = sim_settings(
        sim_rate=300.0,
        sim_max_trades=120,
        sim_skip_every=7,
        sim_duplicate_every=5,
        sim_malformed_every=11,
        sim_ground_truth=truth,
    )

    async def scenario() -> tuple[list[str], dict[str, list[SimTrade]], PolymarketSim]:
        async with open_simulator(settings, port=0, venues=["polymarket"]) as sim, connect(ws_url(sim)) as ws:
            venue = sim.venues["polymarket"]
            assert isinstance(venue, PolymarketSim)
            await ws.send(polymarket.subscribe_message([ASSET[A], ASSET[B]]))
            await asyncio.wait_for(sim.tasks["polymarket"], TIMEOUT)
            frames = [frame for frame in await frames_until_pong(ws) if is_trade_frame(frame)]
            return frames, {i: venue.trades_from(i) for i in (A, B)}, venue

    frames, history, venue = run(scenario)
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    trades: list[Trade] = []
    malformed = 0
    for index, frame in enumerate(frames):
        try:
            trades.append(parse_trade(frame))
        except ParseError:
            malformed += 1
            assert frames[index - 1].startswith(frame)  # the preceding frame, cut short
    # skip: lost on the wire, and nothing on the wire shows it (no sequence), yet on the tape and in the history
    lost = {line["trade_id"] for line in lines if not line["sent"]}
    assert len(lost) == venue.trades_skipped == 120 // 7
    assert lost.isdisjoint(t.trade_id for t in trades)
    assert lost <= {polymarket_wire.transaction_hash(t) for i in (A, B) for t in history[i]}
    assert polymarket_feed(settings).sequences is None
    # duplicate: the very same frame twice in a row
    repeated = [a for a, b in itertools.pairwise(frames) if a == b]
    assert len(repeated) == venue.duplicates_sent > 0
    # malformed: frames the parser rejects
    assert malformed == venue.malformed_sent > 0
    assert len({t.trade_id for t in trades}) == 120 - len(lost)
