"""Replay a recorded session: captured frames served over WebSocket at their original pace, or faster.

The recording is JSON lines, one frame each: ``{"venue": "kraken", "ts_recv": <epoch ns>, "raw": "<frame
text>"}`` (``raw_b64`` instead of ``raw`` for a frame that is not UTF-8). ``ticklake export-raw`` writes
this format from ``bronze.raw_messages``; a hand-made capture works as well (``ts_recv`` may be left
out: the frames are then sent back to back).

Each venue of the recording is served under ``/<venue>`` on any path (and any handshake headers), so
the real collectors connect to it unchanged with ``TICKLAKE_SIM_PORT`` pointing here. Like a live
venue, a venue's tape starts when its first connection opens and every connection receives the frames
from the moment it joined; messages from clients (subscriptions, pings) are read and ignored. Once a
venue's tape has been sent, its connections stay open and idle.

``speed`` divides the recorded gaps between frames: 1 is the original pace, 10 ten times faster, 0 as
fast as the connections take them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterable
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from streaming.simulator.venue import http_text
from ticklake.settings import VENUES

log = logging.getLogger(__name__)


class RecordingError(ValueError):
    """A line of the recording is not a frame record; the message names the line."""


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One recorded frame.

    Attributes:
        venue: Venue id.
        ts_recv: When it was received (epoch ns), or ``None``.
        data: The frame as sent (text frames as ``str``, others as ``bytes``).
    """

    venue: str
    ts_recv: int | None
    data: str | bytes


def read_recording(lines: Iterable[str]) -> dict[str, list[RecordedFrame]]:
    """Parse a recording into each venue's frames, in recorded order.

    Args:
        lines: The JSON lines (blank lines are skipped).

    Returns:
        Venue id -> its frames.

    Raises:
        RecordingError: A line is not valid, naming its number and what is wrong.
    """
    tapes: dict[str, list[RecordedFrame]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise RecordingError(f"line {number}: not JSON: {error}") from None
        if not isinstance(record, dict):
            raise RecordingError(f"line {number}: expected a JSON object")
        venue = record.get("venue")
        if venue not in VENUES:
            raise RecordingError(f"line {number}: venue {venue!r} is not one of {', '.join(VENUES)}")
        ts_recv = record.get("ts_recv")
        if ts_recv is not None and (type(ts_recv) is not int or ts_recv < 0):
            raise RecordingError(f"line {number}: ts_recv must be epoch nanoseconds, got {ts_recv!r}")
        data: str | bytes
        if isinstance(record.get("raw"), str):
            data = record["raw"]
        elif isinstance(record.get("raw_b64"), str):
            try:
                data = base64.b64decode(record["raw_b64"], validate=True)
            except binascii.Error as error:
                raise RecordingError(f"line {number}: raw_b64 is not base64: {error}") from None
        else:
            raise RecordingError(f"line {number}: needs a 'raw' (text) or 'raw_b64' field")
        tapes.setdefault(venue, []).append(RecordedFrame(venue, ts_recv, data))
    return tapes


def pauses(frames: list[RecordedFrame], speed: float) -> list[float]:
    """The wait before each frame, in seconds: the recorded gap divided by ``speed`` (0: no waits)."""
    waits: list[float] = []
    previous: int | None = None
    for frame in frames:
        gap = 0.0
        if speed > 0 and previous is not None and frame.ts_recv is not None:
            gap = max(0, frame.ts_recv - previous) / 1e9 / speed
        if frame.ts_recv is not None:
            previous = frame.ts_recv
        waits.append(gap)
    return waits


class _VenueTape:
    def __init__(self, venue: str, frames: list[RecordedFrame], speed: float) -> None:
        self.venue = venue
        self.frames = frames
        self.waits = pauses(frames, speed)
        self.connections: set[ServerConnection] = set()
        self.sent = 0
        self.started = asyncio.Event()
        self.done = asyncio.Event()

    async def play(self) -> None:
        await self.started.wait()
        log.info("replay: %s: %d frames", self.venue, len(self.frames))
        for frame, wait in zip(self.frames, self.waits, strict=True):
            if wait:
                await asyncio.sleep(wait)
            elif self.sent % 1000 == 999:
                await asyncio.sleep(0)  # let the connections drain now and then
            broadcast(self.connections, frame.data)
            self.sent += 1
        self.done.set()
        log.info("replay: %s: all %d frames sent", self.venue, self.sent)


@dataclasses.dataclass(frozen=True)
class ReplayHandle:
    """A running replay (see :func:`open_replay`).

    Attributes:
        port: The bound port.
        sent: Venue id -> frames sent so far.
    """

    port: int
    tapes: dict[str, _VenueTape]

    def sent(self, venue: str) -> int:
        """Frames of a venue sent so far."""
        return self.tapes[venue].sent

    async def finished(self) -> None:
        """Wait until every venue's tape has been sent."""
        await asyncio.gather(*(tape.done.wait() for tape in self.tapes.values()))


@contextlib.asynccontextmanager
async def open_replay(
    tapes: dict[str, list[RecordedFrame]], host: str, port: int, speed: float = 1.0
) -> AsyncIterator[ReplayHandle]:
    """Serve recorded frames for the duration of an ``async with`` block.

    Args:
        tapes: Each venue's frames (:func:`read_recording`).
        host: Address to listen on.
        port: Port (0: a free one, see :attr:`ReplayHandle.port`).
        speed: Pace multiplier (1: as recorded, 0: no waits).

    Yields:
        The running replay.
    """
    if speed < 0:
        raise ValueError(f"speed must be >= 0, got {speed}")
    players = {venue: _VenueTape(venue, frames, speed) for venue, frames in tapes.items()}

    def venue_of(path: str) -> str:
        return urlsplit(path).path.lstrip("/").partition("/")[0]

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if venue_of(request.path) not in players:
            return http_text(
                HTTPStatus.NOT_FOUND,
                f"the recording has no frames of {venue_of(request.path)!r}; it has {sorted(players)}",
            )
        return None

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        player = players[venue_of(connection.request.path)]
        player.connections.add(connection)
        player.started.set()
        try:
            async for _ in connection:
                pass  # subscriptions and pings need no answer from a recording
        except ConnectionClosed:
            pass
        finally:
            player.connections.discard(connection)

    async with serve(handler, host, port, process_request=process_request, compression=None) as server:
        bound = int(next(iter(server.sockets)).getsockname()[1])
        tasks = [asyncio.create_task(player.play(), name=f"replay-{venue}") for venue, player in players.items()]
        try:
            yield ReplayHandle(bound, players)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def serve_replay(path: Path, host: str, port: int, speed: float) -> None:
    """Replay a recording file until cancelled (the connections stay open once it has been sent).

    Raises:
        RecordingError: The file is not a valid recording.
        OSError: The file cannot be read or the address cannot be bound.
    """
    with path.open(encoding="utf-8") as lines:
        tapes = read_recording(lines)
    if not tapes:
        raise RecordingError(f"{path}: no frames")
    async with open_replay(tapes, host, port, speed) as running:
        for venue, frames in tapes.items():
            log.info("replay: %s: %d frames on ws://%s:%d/%s", venue, len(frames), host, running.port, venue)
        await running.finished()
        await asyncio.Event().wait()
