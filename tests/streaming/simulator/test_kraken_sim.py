"""The Kraken spot (WebSocket v2) simulator: Kraken's wire format and protocol on the real server."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from contracts.records import Lifecycle, Trade
from streaming import rest
from streaming.errors import ParseError
from streaming.feeds import kraken as kraken_feed
from streaming.gaps import SequenceTracker
from streaming.simulator import kraken_wire
from streaming.simulator.kraken import KrakenSim, select_trades
from streaming.simulator.market import Market, SimTrade, iter_trades
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import kraken
from streaming.venues.base import ParsedFrame

INSTRUMENTS = ["BTC-USD", "ETH-USD"]
TIMEOUT = 20.0
NOW_NS = 1_790_000_000_123_456_789


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "kraken", INSTRUMENTS, seed=11, rate=200.0)


def expected_trade(trade: SimTrade, ts_recv: int) -> Trade:
    """The trade as the tape defines it, independently of the renderer: exact decimals, ms times."""
    return Trade(
        venue="kraken",
        instrument=trade.instrument,
        symbol=trade.instrument.replace("-", "/"),
        trade_id=str(trade.trade_id),
        price=Decimal(trade.price_text),
        size=Decimal(trade.size_text),
        side=trade.side,
        ts_event=trade.ts_ms * 1_000_000,
        ts_recv=ts_recv,
    )


def key(trade: Trade) -> tuple[Any, ...]:
    return (trade.instrument, trade.symbol, trade.trade_id, trade.price, trade.size, trade.side, trade.ts_event)


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    value = json.loads(await ws.recv())
    assert isinstance(value, dict)
    return value


async def next_reply(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not trade data or a heartbeat."""
    while True:
        message = await recv_json(ws)
        if message.get("channel") not in ("trade", "heartbeat"):
            return message


async def recv_updates(ws: ClientConnection, count: int) -> list[tuple[Trade, str]]:
    """The next ``count`` trade updates (heartbeats skipped), parsed by the real parser, with their text."""
    received: list[tuple[Trade, str]] = []
    while len(received) < count:
        message = await ws.recv()
        assert isinstance(message, str)
        frame = kraken.parse(message, 5)
        if frame.control == "heartbeat":
            continue
        assert frame.channel == "trade" and json.loads(message)["type"] == "update", message
        (trade,) = frame.records
        assert isinstance(trade, Trade)
        received.append((trade, message))
    return received


async def subscribe(ws: ClientConnection, symbols: list[str], req_id: int, **params: Any) -> list[dict[str, Any]]:
    """Subscribe to the trade channel and return the per-symbol replies."""
    await ws.send(kraken.subscribe_message("trade", symbols, req_id, **params))
    return [await next_reply(ws) for _ in symbols]


async def drain(ws: ClientConnection) -> list[Trade]:
    """Every trade sent so far: the frames received before the pong to a ping (emission has ended)."""
    await ws.send(kraken.ping_message(99))
    received: list[Trade] = []
    while (message := await recv_json(ws)).get("method") != "pong":
        received.extend(t for t in kraken.parse(json.dumps(message), 0).records if isinstance(t, Trade))
    return received


def get(handle: SimulatorHandle, params: dict[str, str]) -> bytes:
    return rest.get(handle.rest_url("kraken"), kraken.REST_TRADES_PATH, params)


# --- wire format (pure) ----------------------------------------------------------------------------


WIRE_INSTRUMENTS = ["BTC-USD", "ETH-USD", "XRP-USD", "DOGE-USD", "PEPE-USD", "ADA-EUR"]


def test_rendered_trades_parse_back_to_the_tape() -> None:
    tape = list(iter_trades(3, WIRE_INSTRUMENTS, range(1_790_000_000_000, 1_790_000_000_000 + 3 * 300, 3)))
    assert len(tape) == 300
    for trade in tape:
        frame = kraken_wire.trade_update(trade)
        parsed = kraken.parse(frame, 9)
        assert parsed.channel == "trade" and parsed.control is None
        assert parsed.records == (expected_trade(trade, 9),)
        entry = json.loads(frame, parse_float=str)["data"][0]  # number tokens as their text
        assert entry["price"] == kraken_wire.number_text(trade.price_text)
        assert Decimal(entry["price"]) == trade.price and Decimal(entry["qty"]) == trade.size
        assert entry["timestamp"].endswith("000Z") and len(entry["timestamp"]) == len("2026-09-21T12:26:40.000000Z")
        assert entry["ord_type"] in ("market", "limit")
    by_instrument: dict[str, list[SimTrade]] = {}
    for trade in tape:
        by_instrument.setdefault(trade.instrument, []).append(trade)
    for instrument, trades in by_instrument.items():
        snapshot = kraken.parse(kraken_wire.trade_snapshot(trades), 9)
        assert snapshot.records == tuple(expected_trade(t, 9) for t in trades)
        body = kraken_wire.rest_trades(instrument, trades, 1234)
        assert kraken.parse_rest_trades(body, 9, instrument) == [expected_trade(t, 9) for t in trades]
        assert kraken.rest_trades_next_since(body) == 1234
    assert kraken.parse(kraken_wire.trade_snapshot([]), 9).records == ()


def test_number_text_and_times_are_exact() -> None:
    assert kraken_wire.number_text("65000.01000000") == "65000.01"
    assert kraken_wire.number_text("40.00000000") == "40.0"
    assert kraken_wire.number_text("0.00001234") == "0.00001234"
    assert kraken_wire.rfc3339_micros(1_695_628_177_708_706_000) == "2023-09-25T07:49:37.708706Z"
    assert kraken.parse_timestamp(kraken_wire.rfc3339_micros(NOW_NS)) == NOW_NS // 1_000 * 1_000
    assert kraken_wire.rest_time(1_688_669_597_827) == "1688669597.827"
    assert kraken_wire.rest_time(1_688_669_597_000) == "1688669597.0"
    assert kraken_wire.rest_pair_key("BTC-USD") == "XXBTZUSD"
    assert kraken_wire.rest_pair_key("ETH-USD") == "XETHZUSD"
    assert kraken_wire.rest_pair_key("SOL-USD") == "SOLUSD"
    assert kraken_wire.rest_pair_names("BTC-USD") == {"XBTUSD", "XXBTZUSD", "BTC/USD", "BTCUSD"}


def test_control_frames_are_what_the_parser_expects() -> None:
    status = kraken.parse(kraken_wire.status_frame(13834774380200032777), 9)
    (lifecycle,) = status.records
    assert isinstance(lifecycle, Lifecycle) and lifecycle.status == "online"
    assert json.loads(lifecycle.details or "") == {
        "api_version": "v2",
        "connection_id": 13834774380200032777,
        "version": kraken_wire.ENGINE_VERSION,
    }
    ack = kraken_wire.ack("subscribe", {"channel": "trade", "snapshot": True, "symbol": "BTC/USD"}, 4, NOW_NS, NOW_NS)
    assert kraken.parse(ack, 0) == ParsedFrame(channel="trade", control="ack")
    assert json.loads(ack) == {
        "method": "subscribe",
        "result": {"channel": "trade", "snapshot": True, "symbol": "BTC/USD"},
        "success": True,
        "time_in": "2026-09-21T14:13:20.123456Z",
        "time_out": "2026-09-21T14:13:20.123456Z",
        "req_id": 4,
    }
    refusal = kraken_wire.error("Currency pair not supported X/Y", "subscribe", 3, NOW_NS, NOW_NS, symbol="X/Y")
    assert kraken.parse(refusal, 0).control == "error"
    assert json.loads(refusal)["symbol"] == "X/Y" and json.loads(refusal)["success"] is False
    assert kraken.parse(kraken_wire.error("Malformed request", None, None, NOW_NS, NOW_NS), 0).control == "error"
    assert kraken.parse(kraken_wire.pong(7, NOW_NS, NOW_NS), 0).control == "heartbeat"
    assert kraken.parse(kraken_wire.HEARTBEAT, 0).control == "heartbeat"
    with pytest.raises(ParseError, match="Unknown asset pair"):
        kraken.parse_rest_trades(kraken_wire.rest_error("EQuery:Unknown asset pair"), 0, "BTC-USD")


def test_ground_truth_line_is_what_the_parser_reads() -> None:
    trade = SimTrade("BTC-USD", 97184416, 1, "71749.00000000", "0.00220616", "sell", 1_773_573_983_023)
    sim = KrakenSim(sim_settings())
    line = json.loads(sim.ground_truth_line(trade, "trade"))
    (parsed,) = kraken.parse(kraken_wire.trade_update(trade), 0).records
    assert line == {
        "venue": "kraken",
        "instrument": "BTC-USD",
        "symbol": "BTC/USD",
        "trade_id": "97184416",
        "price": "71749.0",
        "size": "0.00220616",
        "side": "sell",
        "ts_event": 1_773_573_983_023_000_000,
        "sent": True,
    }
    assert isinstance(parsed, Trade)
    assert (parsed.symbol, parsed.trade_id, str(parsed.price), str(parsed.size), parsed.ts_event) == (
        line["symbol"],
        line["trade_id"],
        line["price"],
        line["size"],
        line["ts_event"],
    )


def test_rest_page_selection() -> None:
    ms = 1_790_000_000_000
    tape = list(iter_trades(5, ["BTC-USD"], [ms, ms, ms + 1, ms + 2, ms + 2, ms + 5]))
    newest, last = select_trades(tape, None, 4)
    assert newest == tape[-4:] and last == (ms + 5) * 1_000_000
    after, last = select_trades(tape, ms * 1_000_000, 1000)  # exclusive: both trades at exactly since are left out
    assert after == tape[2:] and last == (ms + 5) * 1_000_000
    page, last = select_trades(tape, ms * 1_000_000 - 1, 3)
    assert page == tape[:3] and last == (ms + 1) * 1_000_000
    assert select_trades(tape, (ms + 5) * 1_000_000, 10) == ([], (ms + 5) * 1_000_000)
    assert select_trades(tape, ms // 1_000, 10)[0] == tape[2:]  # seconds are accepted too
    assert select_trades(tape, ms // 1_000 - 1, 10)[0] == tape


# --- the server ------------------------------------------------------------------------------------


def test_status_subscribe_ack_snapshot_then_the_seeded_tape() -> None:
    settings = sim_settings(sim_rate=300.0)

    async def scenario() -> list[tuple[Trade, str]]:
        async with open_simulator(settings, port=0, venues=["kraken"]) as sim, connect(f"{sim.url('kraken')}/v2") as ws:
            status = await recv_json(ws)  # the greeting comes first
            assert status["channel"] == "status" and status["data"][0]["system"] == "online"
            assert isinstance(kraken.parse(json.dumps(status), 0).records[0], Lifecycle)
            assert not sim.venues["kraken"].trades_sent  # nothing trades before a subscription
            await ws.send(kraken.subscribe_message("trade", ["BTC/USD", "ETH/USD"], 42, snapshot=True))
            acks = [await recv_json(ws), await recv_json(ws)]
            for ack, symbol in zip(acks, ["BTC/USD", "ETH/USD"], strict=True):
                assert ack["method"] == "subscribe" and ack["success"] is True and ack["req_id"] == 42
                assert ack["result"] == {"channel": "trade", "snapshot": True, "symbol": symbol}
                assert kraken.parse(json.dumps(ack), 0).control == "ack"
                kraken.parse_timestamp(ack["time_in"])
            snapshots = [await recv_json(ws), await recv_json(ws)]  # no trade yet: empty snapshots
            assert snapshots == [{"channel": "trade", "type": "snapshot", "data": []}] * 2
            return await recv_updates(ws, 150)

    received = run(scenario)
    reference = Market(settings.sim_seed, INSTRUMENTS)
    assert {trade.instrument for trade, _ in received} == set(INSTRUMENTS)
    for trade, text in received:
        expected = reference.next_trade(trade.instrument, 0)
        assert key(trade)[:6] == key(expected_trade(expected, 5))[:6]
        assert abs(trade.ts_event - time.time_ns()) < 60 * 10**9
        assert f'"price":{kraken_wire.number_text(expected.price_text)},' in text


def test_resubscribe_snapshot_ping_and_heartbeat() -> None:
    settings = sim_settings(sim_rate=300.0)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["kraken"]) as sim, connect(f"{sim.url('kraken')}/v2") as ws:
            await recv_json(ws)
            await subscribe(ws, ["BTC/USD"], 1)
            assert await recv_json(ws) == {"channel": "trade", "type": "snapshot", "data": []}
            updates = await recv_updates(ws, 80)
            await ws.send(kraken.unsubscribe_message("trade", ["BTC/USD"], 2))
            (reply,) = [await next_reply(ws)]
            assert reply["method"] == "unsubscribe" and reply["success"] is True and reply["req_id"] == 2
            assert reply["result"] == {"channel": "trade", "symbol": "BTC/USD"}
            await ws.send(kraken.ping_message(3))
            pong = await next_reply(ws)
            assert pong["method"] == "pong" and pong["req_id"] == 3
            # BTC/USD stopped trading with its last subscriber: the snapshot ends with the last update seen.
            (ack,) = await subscribe(ws, ["BTC/USD"], 4)
            assert ack["success"] is True
            snapshot = kraken.parse(await ws.recv(), 0)
            ids = [int(t.trade_id) for t in snapshot.records if isinstance(t, Trade)]
            assert len(ids) == kraken_wire.SNAPSHOT_TRADES
            assert ids == list(range(ids[0], ids[0] + len(ids)))
            assert ids[-1] >= int(updates[-1][0].trade_id)
            (first, _), *_ = await recv_updates(ws, 1)
            assert int(first.trade_id) == ids[-1] + 1
            # subscribed: a heartbeat about once a second
            deadline = time.monotonic() + 5
            while (await recv_json(ws)).get("channel") != "heartbeat":
                assert time.monotonic() < deadline, "no heartbeat"
            await ws.send(kraken.subscribe_message("trade", ["ETH/USD"], 5, snapshot=False))
            assert (await next_reply(ws))["result"] == {"channel": "trade", "snapshot": False, "symbol": "ETH/USD"}
            eth = [int(t.trade_id) for t, _ in await recv_updates(ws, 60) if t.symbol == "ETH/USD"]
            assert len(eth) > 5 and eth == list(range(eth[0], eth[0] + len(eth)))
            assert sim.venues["kraken"].trades_sent > 0

    run(scenario)


def test_bad_requests_get_kraken_error_frames() -> None:
    async def scenario() -> None:
        async with (
            open_simulator(sim_settings(), port=0, venues=["kraken"]) as sim,
            connect(f"{sim.url('kraken')}/v2") as ws,
        ):
            await recv_json(ws)
            requests: list[tuple[str, dict[str, Any]]] = [
                ("not json", {"error": "Malformed request"}),
                ("[1, 2]", {"error": "Malformed request"}),
                (json.dumps({"method": "frob", "req_id": 9}), {"error": "Method not found", "req_id": 9}),
                (json.dumps({"method": "ping", "params": {}, "req_id": 0}), {"method": "ping", "req_id": 0}),
                (json.dumps({"method": "subscribe", "params": [], "req_id": 1}), {"method": "subscribe"}),
                (json.dumps({"method": "subscribe", "params": {"channel": "trade"}, "req_id": 2}), {"req_id": 2}),
                (
                    json.dumps(
                        {"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"]}, "req_id": -1}
                    ),
                    {"method": "subscribe"},
                ),
                (
                    json.dumps(
                        {"method": "subscribe", "params": {"channel": "ohlc", "symbol": ["BTC/USD"]}, "req_id": 3}
                    ),
                    {"method": "subscribe", "req_id": 3},
                ),
                (
                    json.dumps(
                        {"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"], "depth": 10}}
                    ),
                    {"error": "Unsupported field: 'depth' for the given msg type: subscribe trade"},
                ),
                (
                    kraken.subscribe_message("trade", ["DOGE/USD"], 4),
                    {"error": "Currency pair not supported DOGE/USD", "symbol": "DOGE/USD", "req_id": 4},
                ),
                (
                    kraken.unsubscribe_message("trade", ["ETH/USD"], 5),
                    {"error": "Subscription Not Found", "symbol": "ETH/USD", "method": "unsubscribe"},
                ),
            ]
            for request, expected in requests:
                await ws.send(request)
                reply = await next_reply(ws)
                assert kraken.parse(json.dumps(reply), 0).control == "error", (request, reply)
                assert reply["success"] is False and isinstance(reply["error"], str)
                assert expected.items() <= reply.items(), (request, reply)
            # one reply per symbol: the known pair is subscribed, the unknown one refused, then a repeat refused
            params = {"channel": "trade", "symbol": ["ETH/USD", "XBT/EUR"]}
            await ws.send(json.dumps({"method": "subscribe", "params": params, "req_id": 6}))
            ok, refused = await next_reply(ws), await next_reply(ws)
            assert ok["success"] is True and ok["result"]["symbol"] == "ETH/USD"
            assert refused["success"] is False and refused["error"] == "Currency pair not supported XBT/EUR"
            assert (await subscribe(ws, ["ETH/USD"], 7))[0]["error"] == "Already subscribed"
            assert sim.venues["kraken"].subscribers("trade", "ETH-USD")
            assert not sim.venues["kraken"].subscribers("trade", "BTC-USD")

    run(scenario)


def test_unknown_paths_are_refused_with_404() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=["kraken"]) as sim:
            base = f"ws://127.0.0.1:{sim.port}"
            for path in ("/kraken", "/kraken/", "/kraken/v1", "/kraken/ws", "/kraken/v2/trade", "/krakenx/v2", "/v2"):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(base + path):
                        pass
                assert refused.value.response.status_code == 404, path
            async with connect(f"{base}/kraken/v2/") as ws:
                assert (await recv_json(ws))["channel"] == "status"

    run(scenario)


def test_rest_history_pages_serve_every_generated_trade() -> None:
    settings = sim_settings(sim_rate=400.0, sim_max_trades=1300, instruments={"kraken": ["BTC-USD"]})

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["kraken"]) as sim, connect(f"{sim.url('kraken')}/v2") as ws:
            await recv_json(ws)
            await subscribe(ws, ["BTC/USD"], 1)
            await asyncio.wait_for(sim.tasks["kraken"], TIMEOUT)
            tape = sim.venues["kraken"].trades_from("BTC-USD")
            assert len(tape) == 1300
            assert len(await drain(ws)) == 1300  # the wire delivered the same trades

            newest = await asyncio.to_thread(get, sim, {"pair": "XBTUSD"})
            page = kraken.parse_rest_trades(newest, 1, "BTC-USD")
            assert [t.trade_id for t in page] == [str(t.trade_id) for t in tape[-1000:]]
            assert list(json.loads(newest)["result"]) == ["XXBTZUSD", "last"]
            assert kraken.rest_trades_next_since(newest) == tape[-1].ts_ms * 1_000_000

            # page from the start with Kraken's cursor: every trade once, in order, exactly as the tape
            collected: list[Trade] = []
            since = 0
            for _ in range(10):
                path, params = kraken.rest_trades_request("BTC-USD", since)
                body = await asyncio.to_thread(rest.get, sim.rest_url("kraken"), path, params)
                chunk = kraken.parse_rest_trades(body, 1, "BTC-USD")
                fresh = [t for t in chunk if not collected or int(t.trade_id) > int(collected[-1].trade_id)]
                if not fresh:
                    break
                collected += fresh
                since = kraken.rest_trades_next_since(body) - 1  # exclusive: step back to keep equal times
            assert collected == [expected_trade(t, 1) for t in tape]

            since = tape[9].ts_ms * 1_000_000
            small = await asyncio.to_thread(get, sim, {"pair": "BTC/USD", "since": str(since), "count": "5"})
            after = [expected_trade(t, 1) for t in tape if t.ts_ms * 1_000_000 > since][:5]
            assert kraken.parse_rest_trades(small, 1, "BTC-USD") == after and len(after) == 5
            for params, error in [
                ({"pair": "ETHUSD"}, "EQuery:Unknown asset pair"),
                ({"pair": "XBTUSD", "since": "yesterday"}, "EGeneral:Invalid arguments"),
                ({"pair": "XBTUSD", "count": "1001"}, "EGeneral:Invalid arguments"),
                ({}, "EGeneral:Invalid arguments"),
            ]:
                body = await asyncio.to_thread(get, sim, params)
                assert json.loads(body) == {"error": [error]}
                with pytest.raises(ParseError):
                    kraken.parse_rest_trades(body, 1, "BTC-USD")

    run(scenario, timeout=40)


# --- faults ----------------------------------------------------------------------------------------


def test_skipped_trades_are_sequence_gaps_and_in_the_history() -> None:
    settings = sim_settings(sim_rate=300.0, sim_skip_every=7)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["kraken"]) as sim, connect(f"{sim.url('kraken')}/v2") as ws:
            await recv_json(ws)
            await subscribe(ws, ["BTC/USD", "ETH/USD"], 1)
            tracker = SequenceTracker()
            gaps: list[tuple[str, int, int]] = []
            while len(gaps) < 10:
                message = await ws.recv()
                for stream, number in kraken_feed.trade_ids(kraken.parse(message, 0)):
                    seen = tracker.observe(stream, number)
                    if seen.outcome == "gap":
                        assert seen.missing_from is not None and seen.missing_to is not None
                        gaps.append((stream, seen.missing_from, seen.missing_to))
            skipped = sim.venues["kraken"].trades_skipped
            assert skipped >= 10
            for stream, first, last in gaps:
                instrument = kraken.to_instrument(stream.removeprefix("trades:"))
                history = {t.trade_id for t in sim.venues["kraken"].trades_from(instrument)}
                assert set(range(first, last + 1)) <= history

    run(scenario)


def test_duplicated_and_malformed_frames() -> None:
    settings = sim_settings(sim_rate=300.0, sim_duplicate_every=5, sim_malformed_every=9)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["kraken"]) as sim, connect(f"{sim.url('kraken')}/v2") as ws:
            await recv_json(ws)
            await subscribe(ws, ["BTC/USD"], 1)
            await recv_json(ws)  # the snapshot
            frames: list[str | bytes] = [await ws.recv() for _ in range(120)]
            assert sim.venues["kraken"].duplicates_sent and sim.venues["kraken"].malformed_sent
        malformed = 0
        repeats = 0
        for previous, frame in itertools.pairwise(frames):
            if frame == '{"channel":"heartbeat"}':
                continue
            try:
                kraken.parse(frame, 0)
            except ParseError:
                malformed += 1
                assert isinstance(frame, str) and isinstance(previous, str) and previous.startswith(frame)
                continue
            if frame == previous:
                repeats += 1
                assert json.loads(frame)["type"] == "update"
        assert malformed >= 5 and repeats >= 10

    run(scenario)


def test_max_trades_and_ground_truth(tmp_path: Path) -> None:
    truth = tmp_path / "truth" / "kraken.jsonl"
    settings = sim_settings(sim_rate=200.0, sim_max_trades=60, sim_ground_truth=truth, sim_skip_every=13)

    async def scenario() -> tuple[list[Trade], list[dict[str, Any]]]:
        async with (
            open_simulator(settings, port=0, venues=["kraken"]) as sim,
            connect(f"{sim.url('kraken')}/v2") as first,
            connect(f"{sim.url('kraken')}/v2") as second,
        ):
            await recv_json(first)
            await recv_json(second)
            await subscribe(first, ["BTC/USD", "ETH/USD"], 1)
            await subscribe(second, ["ETH/USD"], 1)
            await asyncio.wait_for(sim.tasks["kraken"], TIMEOUT)
            assert sim.venues["kraken"].exhausted and sim.venues["kraken"].generated == 60
            received = await drain(first)
            assert {t.symbol for t in await drain(second)} == {"ETH/USD"}
            lines = [json.loads(line) for line in truth.read_text().splitlines()]
            return received, lines

    received, lines = run(scenario)
    assert len(lines) == 60 and sum(not line["sent"] for line in lines) == 4
    sent = [line for line in lines if line["sent"]]
    assert len(received) == len(sent) == 56
    assert {key(t) for t in received} == {
        (
            line["instrument"],
            line["symbol"],
            line["trade_id"],
            Decimal(line["price"]),
            Decimal(line["size"]),
            line["side"],
            line["ts_event"],
        )
        for line in sent
    }
