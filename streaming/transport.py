"""The WebSocket transport: connect, keep alive with pings, reconnect with exponential backoff and jitter.

This is the only place where venue network I/O happens. It hands every frame on, untouched, with the
connection id, a per-connection sequence number and the receive time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidURI

from streaming.errors import StreamingError
from streaming.ws_reader import BulkReadConnection
from ticklake.timeutil import now_ns

log = logging.getLogger(__name__)


STALE_CLOSE_CODE = 4000
"""Close code the transport uses when it gives up on a silent connection."""


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """One frame as received."""

    connection_id: str
    seq: int
    ts_recv: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: ``uniform(0, min(maximum, initial * 2**attempt))``.

    A floor of half the step keeps a reconnect storm from hammering the venue.
    """

    initial: float
    maximum: float

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before reconnect attempt number ``attempt`` (0-based)."""
        step = min(self.maximum, self.initial * (2 ** min(attempt, 30)))
        return rng.uniform(step / 2, step)


async def stream_frames(
    url: str,
    *,
    backoff: Backoff,
    ping_interval: float,
    ping_timeout: float,
    on_connect: Callable[[ClientConnection], Awaitable[None]] | None = None,
    headers: Callable[[], dict[str, str]] | None = None,
    app_ping: tuple[str, float] | None = None,
    stale_after: float | None = None,
    compression: bool = False,
    stop: asyncio.Event | None = None,
    rng: random.Random | None = None,
) -> AsyncIterator[Frame]:
    """Yield frames from ``url`` forever, reconnecting after any disconnect.

    Args:
        url: The WebSocket URL.
        backoff: Reconnect delays.
        ping_interval: Seconds between keep-alive pings.
        ping_timeout: Seconds without a pong before the connection counts as dead.
        on_connect: Called on every new connection before reading (e.g. to send subscriptions).
        headers: Computes extra handshake headers for every connection attempt (e.g. a signature).
        app_ping: ``(text, seconds)``: send this text message that often, for venues that want an
            application-level ping besides the WebSocket one (Polymarket's ``PING``).
        stale_after: Reconnect when no frame arrived for this many seconds (a venue gone silent).
        compression: Offer ``permessage-deflate``. Without it (the default) frames are read in bulk
            (:mod:`streaming.ws_reader`); a venue that accepts the offer sends compressed frames,
            which ``websockets`` inflates and reads one by one.
        stop: When set, the stream ends after the next frame (or cancel the consuming task).
        rng: Randomness for jitter (seedable in tests).

    Raises:
        StreamingError: The URL is invalid (retrying cannot help).
    """
    stop = stop or asyncio.Event()
    rng = rng or random.Random()
    attempt = 0
    while not stop.is_set():
        connection_id = uuid.uuid4().hex
        try:
            async with connect(
                url,
                additional_headers=headers() if headers is not None else None,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                max_size=2**24,
                open_timeout=10,
                close_timeout=2,
                compression="deflate" if compression else None,
                create_connection=BulkReadConnection,
            ) as websocket:
                log.info("connected to %s (connection %s)", url, connection_id)
                if on_connect is not None:
                    await on_connect(websocket)
                last_frame = [now_ns()]
                helpers = [asyncio.create_task(_ping(websocket, *app_ping))] if app_ping is not None else []
                if stale_after is not None:
                    helpers.append(asyncio.create_task(_watchdog(websocket, last_frame, stale_after)))
                try:
                    seq = 0
                    async for batch in _batches(websocket):
                        attempt = 0
                        for received, data in batch:
                            last_frame[0] = received
                            yield Frame(connection_id, seq, received, data)
                            seq += 1
                            if stop.is_set():
                                return
                finally:
                    for helper in helpers:
                        helper.cancel()
            reason = "closed by the peer"
            if stale_after is not None and (now_ns() - last_frame[0]) / 1e9 >= stale_after:
                reason = f"no frame for {stale_after} s: stale, reconnecting"
        except InvalidURI as error:
            raise StreamingError(f"invalid WebSocket URL {url!r}: {error}") from error
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as error:
            reason = f"{type(error).__name__}: {error}"
        delay = backoff.delay(attempt, rng)
        attempt += 1
        log.warning("connection %s to %s lost (%s); reconnecting in %.2f s", connection_id, url, reason, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


async def _batches(websocket: ClientConnection) -> AsyncIterator[Iterable[tuple[int, bytes]]]:
    """``(receive time, payload)`` of every message until the connection closes, as they come.

    Read in bulk (:class:`~streaming.ws_reader.BulkReadConnection`): everything queued at once, each
    stamped with the time its bytes arrived (one step of this generator per batch, not per message).
    On a connection that compresses, by ``websockets``: one message at a time, stamped when taken.
    """
    if isinstance(websocket, BulkReadConnection) and websocket.bulk:
        while True:
            try:
                yield await websocket.received()
            except ConnectionClosedOK:  # as websockets' iteration: a normal close ends it, an error raises
                return
    else:
        async for data in websocket:
            yield ((now_ns(), data.encode() if isinstance(data, str) else bytes(data)),)


async def _watchdog(websocket: ClientConnection, last_frame: list[int], stale_after: float) -> None:
    """Close the connection once no frame has arrived for ``stale_after`` seconds."""
    while True:
        idle = (now_ns() - last_frame[0]) / 1e9
        if idle >= stale_after:
            await websocket.close(STALE_CLOSE_CODE, "stale: no frame")
            return
        await asyncio.sleep(stale_after - idle)


async def _ping(websocket: ClientConnection, text: str, every: float) -> None:
    """Send an application-level ping text every ``every`` seconds until the connection closes."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.sleep(every)
            await websocket.send(text)
