"""The Coinbase simulator's Exchange feed (``/coinbase/exchange``): wire format, protocol and faults."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect

from contracts.records import Trade
from streaming.errors import ParseError
from streaming.simulator import coinbase_wire as wire
from streaming.simulator.market import SimTrade, iter_trades
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import coinbase

INSTRUMENTS = ["BTC-USD", "ETH-USD"]
TIMEOUT = 20.0
START_MS = 1_790_000_000_000
TAPE = list(iter_trades(5, INSTRUMENTS, range(START_MS, START_MS + 300 * 137, 137)))


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "coinbase", INSTRUMENTS, seed=7, rate=200.0, alone=True)


def exchange_url(sim: SimulatorHandle) -> str:
    return sim.url("coinbase") + "/exchange"


def subscribe_request(products: list[str], *channels: Any, action: str = "subscribe") -> str:
    return json.dumps({"type": action, "product_ids": products, "channels": list(channels)})


def expected(trade: SimTrade) -> Trade:
    return Trade(
        venue="coinbase",
        instrument=trade.instrument,
        symbol=trade.instrument,
        trade_id=str(trade.trade_id),
        price=trade.price,
        size=trade.size,
        side=trade.side,
        ts_event=trade.ts_ms * 1_000_000,
        ts_recv=3,
    )


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    value = json.loads(await ws.recv())
    assert isinstance(value, dict)
    return value


@settings(max_examples=200, deadline=None)
@given(index=st.integers(0, len(TAPE) - 1), last=st.booleans())
def test_match_frames_parse_back_to_the_trade_with_the_taker_side(index: int, last: bool) -> None:
    trade = TAPE[index]
    frame = wire.exchange_match_frame(trade, last=last)
    message = json.loads(frame)
    assert message["type"] == ("last_match" if last else "match")
    assert message["side"] == {"buy": "sell", "sell": "buy"}[trade.side]  # the maker side on the wire
    assert len(message["time"].rpartition(".")[2]) == len("123456Z")
    parsed = coinbase.parse(frame, 3)
    assert (parsed.channel, parsed.control, parsed.records) == ("matches", None, (expected(trade),))
    position = coinbase.sequence_of(frame)
    assert position is not None and (position.scope, position.trade_id) == (trade.instrument, trade.trade_id)
    assert position.sequence == wire.exchange_sequence(trade.trade_id) and not position.contiguous


@settings(max_examples=100, deadline=None)
@given(trade_id=st.integers(0, 2**40), stamp=st.integers(0, 2**62), product=st.sampled_from(INSTRUMENTS))
def test_heartbeat_ack_and_error_frames_parse_back(trade_id: int, stamp: int, product: str) -> None:
    beat = wire.exchange_heartbeat_frame(product, last_trade_id=trade_id, timestamp_ns=stamp)
    assert coinbase.parse(beat, 0).control == "heartbeat"
    position = coinbase.sequence_of(beat)
    assert position is not None and (position.scope, position.trade_id) == (product, trade_id)
    assert json.loads(beat)["time"] == wire.micros_iso(stamp)
    ack = wire.exchange_subscriptions_frame({"matches": [product], "heartbeat": [product], "ticker": []})
    assert json.loads(ack)["channels"] == [
        {"name": "heartbeat", "product_ids": [product]},
        {"name": "matches", "product_ids": [product]},
    ]
    assert coinbase.parse(ack, 0).control == "ack" and coinbase.sequence_of(ack) is None
    assert coinbase.parse(wire.exchange_error_frame("Failed to subscribe", "x"), 0).control == "error"


def test_sequence_grows_with_the_trade_id_but_never_by_one() -> None:
    btc = [trade for trade in TAPE if trade.instrument == "BTC-USD"]
    numbers = [wire.exchange_sequence(trade.trade_id) for trade in btc]
    assert all(b - a > 1 for a, b in itertools.pairwise(numbers))


def test_subscribe_ack_last_match_then_contiguous_matches_and_heartbeats() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=["coinbase"]) as sim:
            venue = sim.venues["coinbase"]
            # an Advanced Trade client gets the tape going (never read: unread frames must not block the close)
            async with connect(sim.url("coinbase"), max_queue=None) as advanced:
                await advanced.send(coinbase.subscribe_message(INSTRUMENTS, "market_trades"))
                while venue.generated < 40:
                    await asyncio.sleep(0.02)
                async with connect(exchange_url(sim)) as ws:
                    await ws.send(subscribe_request(INSTRUMENTS, "matches", "heartbeat"))
                    ack = await recv_json(ws)
                    assert ack == {
                        "type": "subscriptions",
                        "channels": [
                            {"name": "heartbeat", "product_ids": INSTRUMENTS},
                            {"name": "matches", "product_ids": INSTRUMENTS},
                        ],
                    }
                    first_two = [await recv_json(ws), await recv_json(ws)]  # before any match
                    assert [m["type"] for m in first_two] == ["last_match", "last_match"]
                    matches = {message["product_id"]: [message] for message in first_two}
                    assert set(matches) == set(INSTRUMENTS)
                    beats: list[dict[str, Any]] = []
                    while len(beats) < 4:
                        message = await recv_json(ws)
                        parsed = coinbase.parse(json.dumps(message), 0)
                        if message["type"] == "heartbeat":
                            assert parsed.control == "heartbeat"
                            beats.append(message)
                            # the heartbeat's last trade id is the last match already sent of its product
                            assert message["last_trade_id"] == matches[message["product_id"]][-1]["trade_id"]
                            assert message["sequence"] == matches[message["product_id"]][-1]["sequence"]
                        else:
                            assert message["type"] == "match" and parsed.channel == "matches"
                            matches[message["product_id"]].append(message)
                    assert {beat["product_id"] for beat in beats} == set(INSTRUMENTS)
                    tape = {i: {t.trade_id: t for t in venue.trades_from(i)} for i in INSTRUMENTS}
                    for instrument, sent in matches.items():
                        ids = [m["trade_id"] for m in sent]
                        assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous per product
                        sequences = [m["sequence"] for m in sent]
                        assert sequences == sorted(set(sequences))  # increasing per product
                        for message in sent:
                            record = coinbase.parse(json.dumps(message), 3).records
                            assert record == (expected(tape[instrument][message["trade_id"]]),)
                    # an Exchange client is on the Exchange channels, not on Advanced Trade ones
                    clients = {c.path: set(c.subscriptions) for c in venue.clients}
                    assert clients["/exchange"] == {(c, i) for c in ("matches", "heartbeat") for i in INSTRUMENTS}

    run(scenario)


def test_bad_requests_are_refused_and_unsubscribe_stops_matches() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=["coinbase"]) as sim, connect(exchange_url(sim)) as ws:
            for request, message in [
                ("{", "Malformed JSON"),
                ('{"type":"hello"}', "Invalid message type"),
                (subscribe_request(["BTC-USD"], "level2"), "Failed to subscribe"),
                (subscribe_request(["DOGE-USD"], "matches"), "Failed to subscribe"),
                (subscribe_request([], "matches"), "Failed to subscribe"),
                (json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": []}), "Failed to subscribe"),
            ]:
                await ws.send(request)
                error = await recv_json(ws)
                assert error["type"] == "error" and error["message"] == message, request
                assert coinbase.parse(json.dumps(error), 0).control == "error"
            (client,) = sim.venues["coinbase"].clients
            assert client.subscriptions == {}
            # a channel object with its own products
            await ws.send(subscribe_request([], {"name": "matches", "product_ids": ["ETH-USD"]}))
            assert (await recv_json(ws))["channels"] == [{"name": "matches", "product_ids": ["ETH-USD"]}]
            while (await recv_json(ws))["type"] != "match":
                pass
            await ws.send(subscribe_request(["ETH-USD"], "matches", action="unsubscribe"))
            while (message := await recv_json(ws))["type"] != "subscriptions":
                assert message["type"] == "match"
            assert message["channels"] == [] and client.subscriptions == {}
            assert sim.venues["coinbase"].subscribers("matches", "ETH-USD") == []

    run(scenario)


def test_faults_skip_duplicate_malformed_and_heartbeats_name_the_tapes_last_trade() -> None:
    settings_ = sim_settings(
        sim_max_trades=400, sim_skip_every=9, sim_duplicate_every=11, sim_malformed_every=13, sim_rate=300.0
    )

    async def scenario() -> tuple[list[str], SimulatorHandle]:
        async with (
            open_simulator(settings_, port=0, venues=["coinbase"]) as sim,
            connect(exchange_url(sim), max_queue=None) as ws,
        ):
            await ws.send(subscribe_request(INSTRUMENTS, "matches", "heartbeat"))
            await asyncio.wait_for(sim.tasks["coinbase"], TIMEOUT)
            venue = sim.venues["coinbase"]
            last = {(i, venue.trades_from(i)[-1].trade_id) for i in INSTRUMENTS}
            frames: list[str] = []
            beats: set[tuple[str, int]] = set()
            while beats != last:  # a heartbeat of each product naming its last trade (the tape has ended)
                frames.append(str(await ws.recv()))
                if frames[-1].startswith('{"type":"heartbeat"'):
                    message = json.loads(frames[-1])
                    beats.add((message["product_id"], message["last_trade_id"]))
            return frames, sim

    frames, sim = run(scenario)
    venue = sim.venues["coinbase"]
    assert venue.generated == 400 and venue.trades_skipped > 0 and venue.duplicates_sent > 0
    delivered: dict[str, list[int]] = {i: [] for i in INSTRUMENTS}
    last_beat: dict[str, int] = {}
    malformed = 0
    for frame in frames:
        try:
            parsed = coinbase.parse(frame, 0)
        except ParseError:
            malformed += 1
            continue
        message = json.loads(frame)
        if parsed.control == "heartbeat":
            last_beat[message["product_id"]] = message["last_trade_id"]
        for record in parsed.records:
            assert isinstance(record, Trade)
            delivered[record.instrument].append(int(record.trade_id))
    assert malformed == venue.malformed_sent > 0
    skipped_total = 0
    for instrument in INSTRUMENTS:
        tape = [t.trade_id for t in venue.trades_from(instrument)]
        ids = delivered[instrument]
        skipped_total += len(set(tape) - set(ids))
        assert set(ids) <= set(tape)
        assert last_beat[instrument] == tape[-1]  # the heartbeat names the tape's last trade, sent or not
    assert skipped_total == venue.trades_skipped
    assert sum(len(ids) - len(set(ids)) for ids in delivered.values()) == venue.duplicates_sent
