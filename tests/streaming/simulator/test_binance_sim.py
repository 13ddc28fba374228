"""The Binance simulator: Binance's wire format and protocol on the real WebSocket server."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from contracts.records import Trade
from streaming.simulator import binance_wire
from streaming.simulator.binance import BinanceSim
from streaming.simulator.market import Market, SimTrade, iter_trades
from streaming.simulator.server import open_simulator, serve_simulator
from streaming.venues import binance
from streaming.venues.binance import Channel

T = TypeVar("T")
INSTRUMENTS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
TIMEOUT = 20.0


run = functools.partial(run_bounded, timeout=TIMEOUT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


sim_settings = functools.partial(simulator_settings, "binance", INSTRUMENTS, seed=7, rate=200.0)


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    message = await ws.recv()
    value = json.loads(message)
    assert isinstance(value, dict)
    return value


async def recv_trades(ws: ClientConnection, count: int) -> list[tuple[str, Trade, dict[str, Any]]]:
    """The next ``count`` frames, each parsed with the real parser: (channel, trade, raw JSON)."""
    received = []
    for _ in range(count):
        message = await ws.recv()
        frame = binance.parse(message, time.time_ns())
        assert frame.control is None, message
        (trade,) = frame.records
        received.append((frame.channel, trade, json.loads(message)))
    return received


def key(trade: Trade) -> tuple[Any, ...]:
    return (trade.venue, trade.instrument, trade.symbol, trade.trade_id, trade.price, trade.size, trade.side)


# --- wire format ---------------------------------------------------------------------------------


def test_wire_frames_parse_back_to_the_trade() -> None:
    for trade in iter_trades(3, INSTRUMENTS, range(1_790_000_000_000, 1_790_000_000_300)):
        for channel in ("trade", "aggTrade"):
            for micros in (False, True):
                bare = binance_wire.payload(trade, channel, micros=micros)
                combined = binance_wire.combined_frame(trade, channel, micros=micros)
                assert json.loads(combined) == {
                    "stream": binance_wire.stream_of(trade.instrument, channel),
                    "data": json.loads(bare),
                }
                for raw in (bare, combined):
                    (parsed,) = binance.parse(raw, 5).records
                    assert parsed == Trade(
                        venue="binance",
                        instrument=trade.instrument,
                        symbol=binance.to_symbol(trade.instrument),
                        trade_id=binance_wire.trade_id_of(trade, channel),
                        price=trade.price,
                        size=trade.size,
                        side=trade.side,
                        ts_event=trade.ts_ms * 1_000_000,
                        ts_recv=5,
                    )
                payload = json.loads(bare)
                assert payload["m"] is (trade.side == "sell")
                assert isinstance(payload["p"], str) and isinstance(payload["q"], str)


def test_ground_truth_line() -> None:
    trade = SimTrade(
        "BTC-USDT", 3_000_000_123, 1_000_000_001, "65000.01000000", "0.00100000", "sell", 1_790_000_000_000
    )
    sim = BinanceSim(sim_settings())
    assert json.loads(sim.ground_truth_line(trade, "aggTrade")) == {
        "venue": "binance",
        "instrument": "BTC-USDT",
        "symbol": "BTCUSDT",
        "trade_id": "3000000123-3000000123",
        "price": "65000.01000000",
        "size": "0.00100000",
        "side": "sell",
        "ts_event": 1_790_000_000_000_000_000,
        "sent": True,
    }
    assert json.loads(sim.ground_truth_line(trade, "trade"))["trade_id"] == "3000000123"


# --- the server ----------------------------------------------------------------------------------


def test_combined_stream_endpoint_serves_the_seeded_tape() -> None:
    settings = sim_settings(sim_rate=500.0)

    async def scenario() -> None:
        async with (
            open_simulator(settings, port=0) as sim,
            connect(f"{sim.url('binance')}/stream?streams=btcusdt@trade/ethusdt@aggTrade") as ws,
        ):
            received = await recv_trades(ws, 120)
        channels = {channel for channel, _, _ in received}
        assert channels == {"btcusdt@trade", "ethusdt@aggTrade"}
        assert all("stream" in raw and "data" in raw for _, _, raw in received)
        # Exactly the seeded tape, in order, per instrument (times come from the wall clock).
        reference = Market(settings.sim_seed, settings.instruments_of("binance"))
        for _, trade, raw in received:
            expected = reference.next_trade(trade.instrument, 0)
            channel: Channel = "trade" if trade.symbol == "BTCUSDT" else "aggTrade"
            assert trade.trade_id == binance_wire.trade_id_of(expected, channel)
            assert (trade.price, trade.size, trade.side) == (expected.price, expected.size, expected.side)
            assert raw["data"]["p"] == expected.price_text and raw["data"]["q"] == expected.size_text
            assert abs(trade.ts_event - time.time_ns()) < 60 * 10**9

    run(scenario)


def test_raw_endpoint_with_live_subscription_and_microseconds() -> None:
    settings = sim_settings(sim_rate=300.0)

    async def scenario() -> None:
        async with (
            open_simulator(settings, port=0) as sim,
            connect(f"{sim.url('binance')}/ws?timeUnit=MICROSECOND") as ws,
        ):
            assert not sim.venues["binance"].trades_sent  # nothing trades before a subscription
            await ws.send(binance.subscribe_message(["solusdt@trade"], 1))
            ack = await ws.recv()  # the ack comes before any frame of the stream
            assert json.loads(ack) == {"result": None, "id": 1}
            assert binance.parse(ack, 0).control == "ack"
            received = await recv_trades(ws, 30)
            assert {channel for channel, _, _ in received} == {"solusdt@trade"}
            for _, trade, raw in received:
                assert "stream" not in raw  # raw streams carry the bare payload
                assert raw["T"] >= 10**14  # microseconds
                assert trade.ts_event == raw["T"] * 1_000
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            await ws.send(binance.unsubscribe_message(["solusdt@trade"], 3))
            replies = [message async for message in _until(ws, lambda m: m.get("id") == 3)]
            assert {"result": ["solusdt@trade"], "id": 2} in replies
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
            assert await recv_json(ws) == {"result": [], "id": 4}

    run(scenario)


async def _until(ws: ClientConnection, last: Callable[[dict[str, Any]], bool]) -> AsyncIterator[dict[str, Any]]:
    """Control replies up to and including the one ``last`` accepts (skipping trade frames)."""
    while True:
        message = json.loads(await ws.recv())
        if "e" in message:
            continue
        yield message
        if last(message):
            return


def test_bad_requests_get_binance_error_frames() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0) as sim, connect(f"{sim.url('binance')}/ws") as ws:
            requests: list[str] = [
                "not json",
                json.dumps({"method": "FROB", "id": 9}),
                binance.subscribe_message(["dogeusdt@trade"], 10),
                json.dumps({"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 11}),
                json.dumps({"method": "SUBSCRIBE", "params": [], "id": 1.5}),
            ]
            for request in requests:
                await ws.send(request)
                reply = await ws.recv()
                assert binance.parse(reply, 0).control == "error", reply
            assert json.loads(reply)["code"] == 2
            await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 12}))
            assert await recv_json(ws) == {"result": None, "id": 12}
            await ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 13}))
            assert await recv_json(ws) == {"result": True, "id": 13}
            await ws.send(binance.subscribe_message(["ethusdt@trade"], 14))
            assert await recv_json(ws) == {"result": None, "id": 14}
            ((channel, _, raw),) = await recv_trades(ws, 1)
            assert channel == "ethusdt@trade" and raw["stream"] == "ethusdt@trade"  # now combined

    run(scenario)


def test_unknown_paths_and_streams_are_refused() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0) as sim:
            base = f"ws://127.0.0.1:{sim.port}"
            for path, status in [
                ("/", 404),
                ("/binance", 404),
                ("/binance/nope", 404),
                ("/coinbase/ws", 404),
                ("/binance/stream?streams=dogeusdt@trade", 400),
                ("/binance/stream?streams=btcusdt@depth20", 400),
                ("/binance/ws/btcusdt@kline_1m", 400),
            ]:
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(base + path):
                        pass
                assert refused.value.response.status_code == status, path
            assert not sim.venues["binance"].trades_sent

    run(scenario)


def test_max_trades_and_ground_truth(tmp_path: Path) -> None:
    truth = tmp_path / "truth" / "binance.jsonl"
    settings = sim_settings(sim_rate=100.0, sim_max_trades=40, sim_ground_truth=truth)

    async def scenario() -> tuple[list[Trade], list[dict[str, Any]]]:
        async with (
            open_simulator(settings, port=0) as sim,
            connect(f"{sim.url('binance')}/stream?streams=btcusdt@trade/ethusdt@trade") as combined,
            connect(f"{sim.url('binance')}/ws") as raw,
            connect(f"{sim.url('binance')}/stream?streams=btcusdt@trade") as duplicate,
        ):
            await raw.send(binance.subscribe_message(["solusdt@aggTrade"], 1))
            assert await recv_json(raw) == {"result": None, "id": 1}
            await asyncio.wait_for(sim.tasks["binance"], TIMEOUT)  # ends once max_trades were sent
            assert sim.venues["binance"].trades_sent == 40 and sim.venues["binance"].exhausted
            received: list[Trade] = []
            duplicates: list[Trade] = []
            for ws, sink in ((combined, received), (raw, received), (duplicate, duplicates)):
                # Everything sent arrives before the reply to a later request, and nothing else:
                # emission has ended, yet the connection is still open and answering.
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 99}))
                while "result" not in (message := json.loads(await ws.recv())):
                    sink.extend(binance.parse(json.dumps(message), 0).records)
            lines = [json.loads(line) for line in truth.read_text().splitlines()]
            assert {t.trade_id for t in duplicates} <= {t.trade_id for t in received}
            return received, lines

    received, lines = run(scenario)
    assert len(received) == 40
    assert len(lines) == 40
    assert {key(t) for t in received} == {
        (
            line["venue"],
            line["instrument"],
            line["symbol"],
            line["trade_id"],
            Decimal(line["price"]),
            Decimal(line["size"]),
            line["side"],
        )
        for line in lines
    }
    times = {(line["trade_id"], line["ts_event"]) for line in lines}
    assert {(t.trade_id, t.ts_event) for t in received} == times
    assert all(isinstance(line["price"], str) and isinstance(line["size"], str) for line in lines)
    assert {t.instrument for t in received} <= set(INSTRUMENTS)


def test_serve_simulator_starts_and_closes_connections_on_cancel() -> None:
    port = free_port()
    settings = sim_settings(sim_port=port)

    async def scenario() -> None:
        started = asyncio.Event()
        server = asyncio.create_task(serve_simulator(settings, started=started))
        await started.wait()
        async with connect(f"ws://127.0.0.1:{port}/binance/stream?streams=btcusdt@trade") as ws:
            await recv_trades(ws, 3)
            server.cancel()
            with pytest.raises(asyncio.CancelledError):
                await server
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001  # going away

    run(scenario)


def test_run_simulator_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    code = (
        "import logging; logging.basicConfig(level=logging.INFO);"
        "from ticklake.settings import load_settings;"
        "from streaming.simulator.server import run_simulator;"
        f"run_simulator(load_settings(sim_port={port}))"
    )
    log = tmp_path / "sim.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT, env=os.environ)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not _listening(port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "simulator did not start listening"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "binance on ws://127.0.0.1" in text and "stopped by SIGTERM" in text
    assert "Traceback" not in text


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
