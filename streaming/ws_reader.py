"""A WebSocket client connection that reads the venue's data frames itself, in bulk.

``websockets`` runs every received frame through a generator-based parser, an assembler and a
future: 4-5 µs of CPU per frame (``bench/floors.py``), a fifth of what a collector spends on a
Binance trade. :class:`BulkReadConnection` is a ``websockets`` client connection (made by
``connect(create_connection=...)``) that, once the handshake is done, splits what the socket
delivers into frames itself and queues the payloads of text and binary messages, stamped with the
time their bytes arrived. ``websockets`` keeps doing everything else:

* the opening handshake, and every frame this module does not take: pings (it answers them), pongs
  (its keepalive), the close handshake, and malformed frames (masked, reserved bits, an unknown
  opcode, over ``max_size``), for which it fails the connection with the right close code;
* everything sent.

A fragmented message that breaks the rules (a continuation with nothing to continue, a new message
inside one, over ``max_size`` in all) drops the connection; the transport reconnects.

A connection that negotiated an extension (``permessage-deflate``: frames are compressed) is left to
``websockets`` entirely; :attr:`BulkReadConnection.bulk` says which way a connection reads.
Text payloads are handed on as bytes without UTF-8 validation: the venue parser rejects invalid
text, and the frame is kept (as a dead letter) instead of costing the connection.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from ticklake.timeutil import now_ns

HIGH_WATER = 20_000
"""Queued messages at which the connection stops reading from the socket until they are taken."""

_TEXT, _BINARY, _CONTINUATION = 0x1, 0x2, 0x0
_END_OF_HEAD = b"\r\n\r\n"


def split_frames(data: bytes, max_size: int) -> tuple[list[tuple[int, int, int, int]], int, bool]:
    """The complete frames at the start of ``data`` (server to client: unmasked).

    Args:
        data: Received bytes, starting at a frame boundary.
        max_size: The largest payload accepted.

    Returns:
        ``(frames, consumed, foreign)``: per frame its first byte (FIN, RSV and opcode), where it
        starts, where its payload starts and where it ends; how many bytes those frames take; and
        whether the frame at ``consumed`` is one to leave to ``websockets`` (masked, or longer than
        ``max_size``): everything from there on is.
    """
    frames: list[tuple[int, int, int, int]] = []
    append = frames.append
    position, size = 0, len(data)
    while position + 2 <= size:
        length = data[position + 1]
        if length & 0x80:
            return frames, position, True  # masked: a server must not mask
        if length < 126:
            payload = position + 2
        elif length == 126:
            payload = position + 4
            if payload > size:
                break
            length = (data[position + 2] << 8) | data[position + 3]
        else:
            payload = position + 10
            if payload > size:
                break
            length = int.from_bytes(data[position + 2 : payload])
        if length > max_size:
            return frames, position, True
        end = payload + length
        if end > size:
            break
        append((data[position], position, payload, end))
        position = end
    return frames, position, False


def frame_size(data: bytes) -> int:
    """How many bytes to wait for before the frame starting ``data`` can be read further.

    The whole frame's size once its header is in; until then, the size of the header (so a frame
    shorter than the longest header is never left waiting for bytes that are not coming).
    """
    if len(data) < 2:
        return 2
    length = data[1] & 0x7F
    if length < 126:
        return 2 + length
    header = 4 if length == 126 else 10
    if len(data) < header:
        return header
    return header + int.from_bytes(data[2:header])


class BulkReadConnection(ClientConnection):
    """A client connection whose data frames are read in bulk (see the module docstring).

    Use :meth:`received` instead of ``recv``/iteration when :attr:`bulk` is true.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bulk = False
        """Data frames are read here (the handshake is done and negotiated no extension)."""
        self._foreign = False  # everything goes to websockets from now on,
        self._fell_back = False  # ... after a frame bulk reading leaves to it (it fails the connection)
        self._tail = b""  # the end of the handshake bytes so far (the head's terminator may straddle reads)
        self._chunks: list[bytes] = []  # received bytes of an incomplete frame
        self._buffered = 0
        self._needed = 0  # bytes the incomplete frame takes in all
        self._fragments: list[bytes] = []
        self._fragmented = 0  # bytes of the fragmented message so far
        self._messages: collections.deque[tuple[int, bytes]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False

    async def received(self) -> collections.deque[tuple[int, bytes]]:
        """Wait for messages; all queued ones, ``(arrival time in epoch ns, payload)``, oldest first.

        Raises:
            ConnectionClosed: The connection closed and every message before the close was taken.
        """
        while not self._messages:
            if self.protocol.state is State.CLOSED:
                raise self.protocol.close_exc
            if not self.bulk and not self._fell_back:
                raise RuntimeError("this connection is not read in bulk (see .bulk): read it with recv()")
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        messages, self._messages = self._messages, collections.deque()
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        return messages

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102 - asyncio protocol callback
        super().connection_lost(exc)
        self._wake()

    def data_received(self, data: bytes) -> None:  # noqa: D102 - asyncio protocol callback
        if self.bulk:
            self._receive(data)
        elif self._foreign or self.protocol.state is not State.CONNECTING:
            super().data_received(data)
        else:
            self._handshake(data)

    def _handshake(self, data: bytes) -> None:
        """Give websockets the response head; read in bulk what follows it, if the connection opened."""
        seen = self._tail + data
        found = seen.find(_END_OF_HEAD)
        if found < 0:
            self._tail = seen[-3:]
            super().data_received(data)
            return
        head_end = found + len(_END_OF_HEAD) - len(self._tail)
        super().data_received(data[:head_end])
        rest = data[head_end:]
        if self.protocol.state is State.OPEN and not self.protocol.extensions:
            self.bulk = True
            if rest:
                self._receive(rest)
        else:
            self._foreign = True
            if rest:
                super().data_received(rest)

    def _abort(self, violation: str) -> None:
        """The server broke the framing rules: drop the connection (the messages before stay queued)."""
        self.logger.warning("! the server sent %s; dropping the connection", violation)
        self.bulk, self._foreign, self._fell_back = False, True, True
        self.transport.abort()

    def _receive(self, data: bytes) -> None:
        arrived = now_ns()
        if self._chunks:
            self._buffered += len(data)
            self._chunks.append(data)
            if self._buffered < self._needed:
                return
            data = b"".join(self._chunks)
            self._chunks = []
        max_size = self.protocol.max_message_size or 2**63
        frames, consumed, foreign = split_frames(data, max_size)
        messages = self._messages
        for head, start, payload, end in frames:
            opcode = head & 0x0F
            if head & 0x70 or opcode > _BINARY:  # reserved bits, a control or unknown opcode: websockets'
                super().data_received(data[start:end])
                if self.protocol.state is not State.OPEN:  # closing: the rest is its business too
                    self.bulk, self._foreign, self._fell_back = False, True, True
                    if end < len(data):
                        super().data_received(data[end:])
                    self._wake()
                    return
            elif head & 0x80 and opcode and not self._fragments:
                messages.append((arrived, data[payload:end]))
            elif bool(self._fragments) != (opcode == _CONTINUATION):
                self._abort("a continuation frame with nothing to continue, or a new message inside one")
                return
            else:
                self._fragmented += end - payload
                if self._fragmented > max_size:
                    self._abort(f"a fragmented message over {max_size} bytes")
                    return
                self._fragments.append(data[payload:end])
                if head & 0x80:
                    messages.append((arrived, b"".join(self._fragments)))
                    self._fragments, self._fragmented = [], 0
        if foreign:
            self.bulk, self._foreign, self._fell_back = False, True, True
            super().data_received(data[consumed:])
        elif consumed < len(data):
            rest = data[consumed:]
            self._chunks, self._buffered, self._needed = [rest], len(rest), frame_size(rest)
        if messages:
            if len(messages) >= HIGH_WATER and not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading()
            self._wake()
