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
from collections.abc import AsyncIterator, Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from streaming.errors import StreamingError
from ticklake.timeutil import now_ns

log = logging.getLogger(__name__)


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
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                max_size=2**24,
                open_timeout=10,
                close_timeout=2,
            ) as websocket:
                log.info("connected to %s (connection %s)", url, connection_id)
                if on_connect is not None:
                    await on_connect(websocket)
                seq = 0
                async for message in websocket:
                    received = now_ns()
                    data = message.encode() if isinstance(message, str) else bytes(message)
                    yield Frame(connection_id, seq, received, data)
                    seq += 1
                    attempt = 0
                    if stop.is_set():
                        return
            reason = "closed by the peer"
        except InvalidURI as error:
            raise StreamingError(f"invalid WebSocket URL {url!r}: {error}") from error
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as error:
            reason = f"{type(error).__name__}: {error}"
        delay = backoff.delay(attempt, rng)
        attempt += 1
        log.warning("connection %s to %s lost (%s); reconnecting in %.2f s", connection_id, url, reason, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
