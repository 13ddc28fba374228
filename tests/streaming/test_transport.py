"""The WebSocket transport against real local WebSocket servers: frames, reconnects, backoff, stop."""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from testkit import run_bounded
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection, serve

from streaming.errors import StreamingError
from streaming.transport import Backoff, Frame, stream_frames
from streaming.ws_reader import BulkReadConnection

TIMEOUT = 15.0
FAST = Backoff(initial=0.01, maximum=0.05)


run = functools.partial(run_bounded, timeout=TIMEOUT)


@asynccontextmanager
async def ws_server(handler: Callable[[ServerConnection], Awaitable[None]]) -> AsyncIterator[str]:
    """A real WebSocket server on 127.0.0.1, on a free port, that compresses if asked; yields its URL.

    The tests run both ways: the transport not offering compression (the default: frames read in
    bulk) and offering it (``compression=True``: frames inflated and read by websockets).
    """
    async with serve(handler, "127.0.0.1", 0, compression="deflate") as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/feed"


async def take(stream: AsyncIterator[Frame], count: int) -> list[Frame]:
    frames = []
    async for frame in stream:
        frames.append(frame)
        if len(frames) == count:
            break
    return frames


def by_connection(frames: list[Frame]) -> dict[str, list[Frame]]:
    grouped: dict[str, list[Frame]] = {}
    for frame in frames:
        grouped.setdefault(frame.connection_id, []).append(frame)
    return grouped


# --- backoff ---------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0)
    rng = random.Random(1234)
    for attempt in range(12):
        step = min(30.0, 0.5 * 2**attempt)
        for _ in range(50):
            delay = backoff.delay(attempt, rng)
            assert step / 2 <= delay <= step, (attempt, delay)
    # the cap holds for huge attempt numbers too (no overflow)
    for attempt in (7, 8, 31, 1_000, 10**9):
        assert 15.0 <= backoff.delay(attempt, rng) <= 30.0
    # exponential until the cap: the mean delay doubles per attempt, then stays put
    means = [sum(backoff.delay(a, rng) for _ in range(200)) / 200 for a in range(9)]
    assert all(1.7 < b / a < 2.3 for a, b in itertools.pairwise(means[:7]))
    assert all(abs(m - 22.5) < 1.5 for m in means[6:]), "0.5 * 2**6 = 32 is capped at 30"


def test_backoff_is_deterministic_for_a_seed_and_jittered() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0)
    first = [backoff.delay(a, random.Random(7)) for a in range(10)]
    second = [backoff.delay(a, random.Random(7)) for a in range(10)]
    assert first == second
    rng = random.Random(7)
    draws = {backoff.delay(3, rng) for _ in range(20)}
    assert len(draws) == 20, "delays are jittered, not fixed"


# --- streaming -------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [False, True])
def test_frames_carry_connection_id_and_sequence_and_reconnect_after_a_close(compression: bool) -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        hello = await ws.recv()
        assert hello == "subscribe"
        for index in range(3):
            await ws.send(f"conn{connections}-frame{index}")
        await ws.send(b"\x00binary\xff")
        # returning closes the connection normally (close code 1000)

    async def scenario() -> tuple[list[Frame], int, int]:
        calls = 0

        async def on_connect(ws: ClientConnection) -> None:
            nonlocal calls
            calls += 1
            bulk.append(isinstance(ws, BulkReadConnection) and ws.bulk)
            await ws.send("subscribe")

        async with ws_server(handler) as url:
            stream = stream_frames(
                url,
                backoff=FAST,
                ping_interval=5,
                ping_timeout=5,
                compression=compression,
                on_connect=on_connect,
                rng=random.Random(1),
            )
            try:
                frames = await take(stream, 12)
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
        return frames, calls, connections

    bulk: list[bool] = []
    frames, calls, connections = run(scenario)
    assert bulk == [not compression] * 3, "read in bulk unless the transport asked for compression"
    grouped = by_connection(frames)
    assert len(grouped) == 3, "three connections, each closed by the server after four frames"
    assert calls == 3 and connections == 3, "on_connect runs on every (re)connection"
    ids = list(grouped)
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    for number, connection_id in enumerate(ids, start=1):
        got = grouped[connection_id]
        assert [f.seq for f in got] == [0, 1, 2, 3], "seq restarts at 0 on each connection"
        assert [f.data for f in got] == [
            f"conn{number}-frame0".encode(),
            f"conn{number}-frame1".encode(),
            f"conn{number}-frame2".encode(),
            b"\x00binary\xff",
        ]
        stamps = [f.ts_recv for f in got]
        assert stamps == sorted(stamps)
    assert [f.connection_id for f in frames] == [i for i in ids for _ in range(4)], "in order"


@pytest.mark.parametrize("compression", [False, True])
def test_reconnects_after_the_connection_is_dropped_abruptly(compression: bool) -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.send("a")
        await ws.send("b")
        if connections == 1:
            await asyncio.sleep(0)  # let the frames reach the socket buffer
            ws.transport.abort()  # TCP reset: no close frame
            return
        await ws.send("c")
        await ws.wait_closed()

    async def scenario() -> tuple[list[Frame], int]:
        calls = 0

        async def on_connect(_ws: ClientConnection) -> None:
            nonlocal calls
            calls += 1

        async with ws_server(handler) as url:
            stream = stream_frames(
                url, backoff=FAST, ping_interval=5, ping_timeout=5, compression=compression, on_connect=on_connect
            )
            try:
                frames: list[Frame] = []
                async for frame in stream:
                    frames.append(frame)
                    if frame.data == b"c":
                        break
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
        return frames, calls

    frames, calls = run(scenario)
    grouped = by_connection(frames)
    assert calls == 2 and len(grouped) == 2
    first, second = grouped.values()
    # The abort may race the first frames; whatever arrived is numbered from 0 without gaps.
    assert [f.seq for f in first] == list(range(len(first)))
    assert [f.data for f in first] == [b"a", b"b"][: len(first)]
    assert [(f.seq, f.data) for f in second] == [(0, b"a"), (1, b"b"), (2, b"c")]


@pytest.mark.parametrize("compression", [False, True])
def test_reconnects_when_the_server_refuses_then_recovers(compression: bool) -> None:
    async def scenario() -> list[Frame]:
        attempts = 0

        async def handler(ws: ServerConnection) -> None:
            nonlocal attempts
            attempts += 1
            if attempts <= 2:
                await ws.close(code=1011, reason="not yet")
                return
            await ws.send("finally")
            await ws.wait_closed()

        async with ws_server(handler) as url:
            stream = stream_frames(url, backoff=FAST, ping_interval=5, ping_timeout=5, compression=compression)
            try:
                frames = await take(stream, 1)
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
        assert attempts == 3
        return frames

    (frame,) = run(scenario)
    assert frame.data == b"finally" and frame.seq == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/feed", "not a url", "ws://"])
def test_invalid_url_raises_streaming_error(url: str) -> None:
    async def scenario() -> None:
        stream = stream_frames(url, backoff=FAST, ping_interval=5, ping_timeout=5)
        with pytest.raises(StreamingError, match="invalid WebSocket URL"):
            await anext(stream)

    run(scenario)


@pytest.mark.parametrize("compression", [False, True])
def test_stop_ends_the_stream_after_the_current_frame(compression: bool) -> None:
    async def handler(ws: ServerConnection) -> None:
        # More frames than the test reads, but few enough to stay under the client's receive queue
        # limit: with a saturated queue, websockets waits out close_timeout (10 s) when closing.
        for index in range(10):
            await ws.send(str(index))
        await ws.wait_closed()

    async def scenario() -> list[Frame]:
        stop = asyncio.Event()
        frames: list[Frame] = []
        async with ws_server(handler) as url:
            async for frame in stream_frames(
                url, backoff=FAST, ping_interval=5, ping_timeout=5, compression=compression, stop=stop
            ):
                frames.append(frame)
                if frame.seq == 4:
                    stop.set()
        return frames

    frames = run(scenario)
    assert [f.data for f in frames] == [b"0", b"1", b"2", b"3", b"4"]


@pytest.mark.parametrize("compression", [False, True])
def test_stop_interrupts_the_reconnect_wait(compression: bool) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.close()

    async def scenario() -> tuple[list[Frame], float]:
        stop = asyncio.Event()
        calls = 0

        async def on_connect(_ws: ClientConnection) -> None:
            nonlocal calls
            calls += 1
            stop.set()  # the server closes right away; the transport then waits to reconnect

        loop = asyncio.get_running_loop()
        async with ws_server(handler) as url:
            started = loop.time()
            frames = [
                frame
                async for frame in stream_frames(
                    url,
                    backoff=Backoff(initial=60.0, maximum=60.0),
                    ping_interval=5,
                    ping_timeout=5,
                    compression=compression,
                    on_connect=on_connect,
                    stop=stop,
                )
            ]
            elapsed = loop.time() - started
        assert calls == 1
        return frames, elapsed

    frames, elapsed = run(scenario)
    assert frames == []
    assert elapsed < 10, "a set stop event must not wait out a 30-60 s backoff"
