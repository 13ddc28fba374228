"""The simulator's outbox: frames queued per connection, written together, in order, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from streaming.simulator import outbox

Handler = Callable[[ServerConnection], Awaitable[None]]


async def _received(handler: Handler, count: int) -> list[str | bytes]:
    """Run ``handler`` for one client on loopback; what the client received (``count`` messages)."""
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            return [await asyncio.wait_for(client.recv(), timeout=10) for _ in range(count)]


def _count_writes(connection: ServerConnection) -> list[int]:
    """Record the size of every write to the connection's socket (the writes still happen)."""
    sizes: list[int] = []
    write = connection.transport.write

    def counted(data: bytes | bytearray | memoryview) -> None:
        sizes.append(len(data))
        write(data)

    connection.transport.write = counted  # type: ignore[method-assign]
    return sizes


def test_frames_of_one_iteration_go_out_in_one_write_in_order() -> None:
    sizes: list[int] = []

    async def handler(connection: ServerConnection) -> None:
        writes = _count_writes(connection)
        for number in range(200):
            outbox.broadcast([connection], f"frame {number}")
        outbox.broadcast([connection], b"\x00binary")
        assert writes == [], "queued, not written yet"
        await asyncio.sleep(0)  # the end of this loop iteration flushes
        sizes.extend(writes)
        await connection.wait_closed()

    received = asyncio.run(_received(handler, 201))
    assert received == [f"frame {number}" for number in range(200)] + [b"\x00binary"]
    assert len(sizes) == 1, f"one write for the iteration, not {len(sizes)}"


def test_an_awaited_send_goes_out_after_the_queued_frames() -> None:
    async def handler(connection: ServerConnection) -> None:
        outbox.broadcast([connection], "first")
        outbox.broadcast([connection], "second")
        await connection.send("third")  # writes the protocol's queue, oldest first
        outbox.broadcast([connection], "fourth")
        await connection.wait_closed()

    assert asyncio.run(_received(handler, 4)) == ["first", "second", "third", "fourth"]


def test_flush_writes_at_once_and_closed_connections_are_skipped() -> None:
    buffered: list[int] = []

    async def handler(connection: ServerConnection) -> None:
        writes = _count_writes(connection)
        outbox.broadcast([connection], "x" * 1000)
        outbox.flush()
        buffered.append(len(writes))
        await connection.wait_closed()

    assert asyncio.run(_received(handler, 1)) == ["x" * 1000]
    assert buffered == [1], "flush wrote before the loop iteration ended"

    async def closed_one() -> None:
        async def idle(connection: ServerConnection) -> None:
            await connection.wait_closed()

        async with serve(idle, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as client:
                await client.send("hello")
                (connection,) = server.connections
                await connection.close()
                outbox.broadcast([connection], "too late")  # no error, nothing queued
                assert connection.protocol.data_to_send() == []

    asyncio.run(closed_one())
