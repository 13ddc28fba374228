"""What every simulated venue shares: connections, subscriptions, the trade tape, faults, ground truth.

A venue simulator is a subclass of :class:`VenueSim` that knows its venue's wire format and
protocol; this base runs everything else:

* **Tape.** A deterministic :class:`~streaming.simulator.market.Market` of the venue's configured
  instruments. An instrument trades only while at least one connection subscribes to it, at
  ``sim_rate`` trades per second (times the burst factor during a burst); its clock pauses when it
  loses its last subscriber. Every generated trade is kept for the REST history (the skipped ones
  too, as a venue's history has them).
* **Subscriptions** are pairs ``(channel, instrument)``; a trade is sent to every connection
  subscribed to one of :attr:`VenueSim.trade_channels` for its instrument. Connections with the same
  :meth:`VenueSim.format_key` share one rendering (broadcast); a venue whose frames carry
  per-connection state (sequence numbers) keys by connection.
* **Faults** from :class:`~streaming.simulator.scenario.Faults`: skipped, duplicated, reordered
  trades, malformed frames, disconnects, bursts and silence.
* **Ground truth.** One JSON line per trade on the tape and subscribed channel (``venue, instrument,
  symbol, trade_id, price, size, side, ts_event``) exactly as the venue's parser reads it. A trade the
  wire did not deliver (a gap, a silence, a connection closing) is in it too: a collector must get
  it by repair.
* **Slow consumers** are dropped like a venue does: frames are written without backpressure, and a
  connection whose unsent output exceeds :data:`MAX_PENDING_BYTES` is aborted.

A subclass implements the hooks marked *venue* below; all of them are called on the event loop.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Hashable, Iterable, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import Any, TextIO
from urllib.parse import parse_qs

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import State

from streaming.simulator import outbox
from streaming.simulator.market import Market, SimTrade
from streaming.simulator.outbox import broadcast
from streaming.simulator.scenario import Faults
from ticklake.settings import Settings

log = logging.getLogger(__name__)

TICK_SECONDS = 0.01
"""Interval between emission ticks; each tick sends the trades that fell due since the last one."""

MAX_CATCH_UP_SECONDS = 0.5
"""At most this much of the rate is emitted in one tick; a longer stall is skipped, not replayed."""

HISTORY_PER_INSTRUMENT = 2_000_000
"""Trades kept per instrument for the REST history (about 300 bytes each).

A real venue serves its whole history; the simulator keeps enough that a collector dropped as a slow
consumer under overload (a gap of several hundred thousand trades, repaired tens of seconds later
while the tape runs on) still finds every trade it missed. 200k was not: at 20k trades/s per
instrument, the start of such a gap had rolled out of it before the repair asked.
"""

MAX_PENDING_BYTES = 64 * 2**20
"""A connection with more unsent output than this is dropped as a slow consumer."""

Subscription = tuple[str, str]
"""``(channel, instrument)``."""


class Refusal(Exception):
    """A handshake or REST request the venue refuses; becomes an HTTP error response.

    Args:
        status: The HTTP status.
        text: The body (plain text) or document (JSON).
    """

    def __init__(self, status: HTTPStatus, text: str | dict[str, Any] | list[Any]) -> None:
        super().__init__(text if isinstance(text, str) else json.dumps(text))
        self.status = status
        self.body = text

    def response(self) -> Response:
        """The HTTP response."""
        if isinstance(self.body, str):
            return http_text(self.status, self.body)
        return http_json(self.status, self.body)


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """A venue's answer to one client message.

    Attributes:
        frames: Frames to send back, in order (acks, errors, pongs, snapshots).
        subscribe: Subscriptions to add once the frames are sent (so the ack precedes the data).
        unsubscribe: Subscriptions to remove.
    """

    frames: Sequence[str] = ()
    subscribe: Sequence[Subscription] = ()
    unsubscribe: Sequence[Subscription] = ()


@dataclasses.dataclass(eq=False, slots=True)
class Client:
    """One open connection.

    Attributes:
        connection: The WebSocket connection.
        path: The request path (with query) it connected to, without the venue prefix.
        headers: The handshake request headers.
        subscriptions: Ordered set of its subscriptions.
        state: Whatever the venue keeps per connection (sequence counters, options).
    """

    connection: ServerConnection
    path: str
    headers: Headers
    subscriptions: dict[Subscription, None] = dataclasses.field(default_factory=dict)
    state: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class _Clock:
    last: float
    credit: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class TruthFields:
    """How the venue's parser reads one trade: what the ground truth records.

    Attributes:
        trade_id: The trade id the parser yields.
        price: The exact price the parser yields.
        size: The exact size the parser yields.
        ts_event: The event time the parser yields, epoch ns.
    """

    trade_id: str
    price: Decimal
    size: Decimal
    ts_event: int


class VenueSim(abc.ABC):
    """The simulated endpoints of one venue, under the path prefix ``/<venue>``.

    Args:
        settings: Instruments (``instruments_of(venue)``), ``sim_seed``, ``sim_rate``,
            ``sim_max_trades`` and the fault knobs are used.
        ground_truth: Where to append ground-truth lines, or ``None``.
        faults: The faults (default: from the settings).
    """

    venue: str
    """Venue id; also the path prefix (``/<venue>``)."""

    trade_channels: tuple[str, ...]
    """The channels whose subscribers receive trades."""

    heartbeat_seconds: float | None = None
    """How often :meth:`heartbeat` is sent to every connection (``None``: never)."""

    def __init__(self, settings: Settings, ground_truth: TextIO | None = None, faults: Faults | None = None) -> None:
        self.settings = settings
        self.instruments: tuple[str, ...] = tuple(settings.instruments_of(self.venue))
        self.market = Market(settings.sim_seed, self.instruments)
        self.faults = faults or Faults.from_settings(settings)
        self._rate = settings.sim_rate
        self._max_trades = settings.sim_max_trades
        self._ground_truth = ground_truth
        self.history: dict[str, collections.deque[SimTrade]] = {
            instrument: collections.deque(maxlen=HISTORY_PER_INSTRUMENT) for instrument in self.instruments
        }
        self.clients: dict[Client, None] = {}
        self._subscribers: dict[Subscription, dict[Client, None]] = {}
        self._clocks: dict[str, _Clock] = {}
        self._held: dict[str, SimTrade] = {}
        self._applied: dict[str, int] = {}  # instrument -> the last trade unapplied_trades returned
        self._receivers_of: dict[str, list[tuple[str, list[tuple[Client, list[ServerConnection]]]]]] | None = None
        self._wake = asyncio.Event()
        self._started: float | None = None
        self.generated = 0
        """Trades on the venue's tape so far (sent or not): what ``sim_max_trades`` counts."""
        self.trades_sent = 0
        """Trades delivered to at least one open connection (each counted once)."""
        self.trades_skipped = 0
        """Trades generated but never sent (a sequence gap on the wire)."""
        self.duplicates_sent = 0
        """Trades sent a second time."""
        self.malformed_sent = 0
        """Malformed frames sent (one count per frame rendering, whatever the number of receivers)."""

    # --- venue hooks ---------------------------------------------------------------------------

    @abc.abstractmethod
    def accept(self, path: str, headers: Headers) -> None:
        """Check a WebSocket handshake (*venue*).

        Args:
            path: The request path and query, without the venue prefix (e.g. ``/ws/v2``).
            headers: The request headers (authentication, when the venue requires it).

        Raises:
            Refusal: The path is not a WebSocket endpoint of the venue, or the request is refused.
        """

    def open(self, client: Client) -> list[Subscription]:
        """Set up an accepted connection's state (*venue*; default: nothing).

        Returns:
            The subscriptions the URL itself asks for (default: none).
        """
        return []

    @abc.abstractmethod
    def on_message(self, client: Client, message: str | bytes) -> Reply:
        """Answer one message from a client (*venue*): subscriptions, pings, bad requests."""

    @abc.abstractmethod
    def render(self, trade: SimTrade, channel: str, client: Client) -> str:
        """The frame of one trade on one channel, for a client of a given format key (*venue*)."""

    @abc.abstractmethod
    def truth(self, trade: SimTrade, channel: str) -> TruthFields:
        """How the venue's parser reads the trade's frame on a channel (*venue*)."""

    @abc.abstractmethod
    def symbol(self, instrument: str) -> str:
        """The venue symbol of a canonical instrument (*venue*)."""

    def rest(self, path: str, query: dict[str, list[str]]) -> Response:
        """Answer a REST request (*venue*; default: 404).

        Args:
            path: The path without the venue prefix.
            query: The parsed query string.

        Raises:
            Refusal: Bad parameters (answered with the venue's error format).
        """
        raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{path}")

    def is_rest(self, path: str) -> bool:
        """Whether a path (without prefix) is a REST endpoint rather than a WebSocket one (*venue*)."""
        return False

    def format_key(self, client: Client) -> Hashable:
        """Clients with equal keys get the same rendering of a trade (*venue*; default: one per client)."""
        return client

    def after_subscribe(self, client: Client, added: Sequence[Subscription]) -> list[str]:
        """Frames sent right after subscriptions are added, e.g. a snapshot (*venue*; default: none)."""
        return []

    def heartbeat(self, client: Client) -> str | None:
        """A heartbeat frame for a client (*venue*; see :attr:`heartbeat_seconds`)."""
        return None

    def malformed(self, frame: str) -> str:
        """A malformed version of a frame (*venue*; default: the frame cut in half, truncated JSON)."""
        return frame[: max(1, len(frame) // 2)]

    # --- handshake and connections -------------------------------------------------------------

    def handshake(self, path: str, headers: Headers) -> Response | None:
        """Answer a REST request, or check a WebSocket handshake (``None``: accepted)."""
        route, _, query = path.partition("?")
        try:
            if self.is_rest(route):
                return self.rest(route, parse_qs(query))
            self.accept(path, headers)
        except Refusal as refusal:
            return refusal.response()
        return None

    async def serve(self, connection: ServerConnection, path: str) -> None:
        """Serve one accepted connection until it closes."""
        assert connection.request is not None
        client = Client(connection, path, connection.request.headers)
        self.clients[client] = None
        log.info("%s simulator: %s connected to %s", self.venue, connection.remote_address, path)
        try:
            await self._subscribe(client, self.open(client))
            async for message in connection:
                reply = self.on_message(client, message)
                for frame in reply.frames:
                    await connection.send(frame)
                if reply.unsubscribe:
                    self._unsubscribe(client, reply.unsubscribe)
                if reply.subscribe:
                    await self._subscribe(client, reply.subscribe)
        except ConnectionClosed:
            pass  # the peer went away
        finally:
            self._unsubscribe(client, list(client.subscriptions))
            del self.clients[client]
            log.info("%s simulator: %s disconnected", self.venue, connection.remote_address)

    async def _subscribe(self, client: Client, subscriptions: Iterable[Subscription]) -> None:
        added = [s for s in dict.fromkeys(subscriptions) if s not in client.subscriptions]
        if not added:
            return
        now = asyncio.get_running_loop().time()
        for subscription in added:
            client.subscriptions[subscription] = None
            self._subscribers.setdefault(subscription, {})[client] = None
            channel, instrument = subscription
            if channel in self.trade_channels and instrument not in self._clocks:
                self._clocks[instrument] = _Clock(last=now)
                log.info("%s simulator: %s now trading (first subscriber)", self.venue, instrument)
        for frame in self.after_subscribe(client, added):
            await client.connection.send(frame)
        self._wake.set()

    def _unsubscribe(self, client: Client, subscriptions: Iterable[Subscription]) -> None:
        for subscription in list(subscriptions):
            if subscription not in client.subscriptions:
                continue
            del client.subscriptions[subscription]
            subscribers = self._subscribers[subscription]
            del subscribers[client]
            if not subscribers:
                del self._subscribers[subscription]
            instrument = subscription[1]
            if instrument in self._clocks and not any(
                self._subscribers.get((channel, instrument)) for channel in self.trade_channels
            ):
                del self._clocks[instrument]
                log.info("%s simulator: %s paused (no subscribers)", self.venue, instrument)

    def subscribers(self, channel: str, instrument: str) -> list[Client]:
        """The open connections subscribed to a channel of an instrument."""
        return [c for c in self._subscribers.get((channel, instrument), ()) if c.connection.state is State.OPEN]

    # --- emission ------------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        """Whether ``sim_max_trades`` trades have been generated."""
        return self._max_trades is not None and self.generated >= self._max_trades

    def silent(self, now: float) -> bool:
        """Whether the venue is in a silence (scenario ``silence``) at loop time ``now``."""
        return self._started is not None and self.faults.silent(now - self._started)

    async def run(self) -> None:
        """Emit trades tick by tick until ``sim_max_trades`` is reached (or forever)."""
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        while not self.exhausted:
            if not self._clocks:
                self._wake.clear()
                await self._wake.wait()
                continue
            await asyncio.sleep(TICK_SECONDS)
            self.tick(loop.time(), time.time_ns() // 1_000_000)
        log.info("%s simulator: %d trades (sim_max_trades); trading no more", self.venue, self.generated)

    def tick(self, now: float, wall_ms: int) -> None:
        """Generate the trades that are due and send them (faults permitting).

        Every generated trade is on the venue's tape: it is in the REST history and in the ground
        truth, whether or not the wire delivers it (skipped, silent, or no connection open at that
        instant) -- a collector must get it, live or by repair.

        Subscriptions and connection states only change between ticks (on the event loop), so the
        receivers of each instrument's trades, grouped by format key, are looked up once per tick
        (:meth:`_receivers`) rather than once per trade.

        Args:
            now: The event loop's clock (seconds), against which the instruments' clocks run.
            wall_ms: The wall clock in epoch milliseconds, the event time of the trades.
        """
        started = self._started if self._started is not None else now
        faults = self.faults
        factor = faults.rate_factor(now - started)
        silent = faults.silent(now - started)
        skip_every = faults.skip_every or 0  # 0: no skips
        # Without reorder, duplicate and malformed faults a trade goes straight out (see _deliver).
        direct = not (faults.reorder_every or faults.duplicate_every or faults.malformed_every)
        max_trades = self._max_trades
        ground_truth = self._ground_truth
        next_trade = self.market.next_trade
        render = self.render
        lines: list[str] = []
        self._receivers_of = {}
        try:
            for instrument, clock in list(self._clocks.items()):
                clock.credit = min(clock.credit + (now - clock.last) * self._rate * factor, self._cap(factor))
                clock.last = now
                due = int(clock.credit)
                clock.credit -= due
                if max_trades is not None:  # the tape ends at sim_max_trades
                    due = max(0, min(due, max_trades - self.generated))
                channels = [channel for channel in self.trade_channels if self._subscribers.get((channel, instrument))]
                receivers = self._receivers(instrument) if due else []
                keep = self.history[instrument].append
                for _ in range(due):
                    trade = next_trade(instrument, wall_ms)
                    keep(trade)
                    self.generated += 1
                    lost = silent or (skip_every != 0 and self.generated % skip_every == 0)
                    if ground_truth is not None:
                        lines.extend(self.ground_truth_line(trade, channel, sent=not lost) for channel in channels)
                    if lost:
                        self.trades_skipped += 1  # lost on the wire: on the tape, never sent
                    elif not direct:
                        self._deliver(trade)
                    elif receivers:  # _deliver, _deliver_now and _send in short
                        for channel, groups in receivers:
                            for client, connections in groups:
                                broadcast(connections, render(trade, channel, client))
                        self.trades_sent += 1
            for held in list(self._held.values()):  # out of order within the tick, never later
                self._deliver_now(held)
            self._held.clear()
        finally:
            self._receivers_of = None
        if lines and ground_truth is not None:
            ground_truth.write("".join(lines))
            ground_truth.flush()
        self._drop_slow_clients()

    def _cap(self, factor: float) -> float:
        return max(1.0, self._rate * factor * MAX_CATCH_UP_SECONDS)

    def _deliver(self, trade: SimTrade) -> None:
        """Send a trade, or hold it back behind the next trade of its instrument (reorder fault)."""
        if trade.instrument not in self._held and self.faults.reorder(self.generated):
            self._held[trade.instrument] = trade
            return
        self._deliver_now(trade)
        held = self._held.pop(trade.instrument, None)
        if held is not None:
            self._deliver_now(held)

    def _deliver_now(self, trade: SimTrade) -> None:
        """Send a trade, then maybe its duplicate and a malformed frame."""
        channels, deliveries = self._send(trade)
        if not channels:
            return
        self.trades_sent += 1
        if self.faults.duplicate(self.trades_sent):
            for connections, frame in deliveries:  # the very same frames again (same sequence numbers)
                broadcast(connections, frame)
            self.duplicates_sent += 1
        if self.faults.malformed(self.trades_sent):
            for connections, frame in deliveries:
                broadcast(connections, self.malformed(frame))
                self.malformed_sent += 1

    def _send(self, trade: SimTrade) -> tuple[list[str], list[tuple[list[ServerConnection], str]]]:
        """Broadcast a trade to its receivers (:meth:`_receivers`), one rendering per format key.

        Returns:
            The channels it went out on, and each frame with the connections it went to.
        """
        sent: list[str] = []
        deliveries: list[tuple[list[ServerConnection], str]] = []
        for channel, groups in self._receivers(trade.instrument):
            for client, connections in groups:
                frame = self.render(trade, channel, client)
                broadcast(connections, frame)
                deliveries.append((connections, frame))
            sent.append(channel)
        return sent, deliveries

    def _receivers(self, instrument: str) -> list[tuple[str, list[tuple[Client, list[ServerConnection]]]]]:
        """Who gets an instrument's trades: per trade channel with open subscribers, one group per format key.

        Each group is the client whose rendering the group shares (the first of them) and the
        connections of its members. Looked up once per tick (see :meth:`tick`), else every time.
        """
        cache = self._receivers_of
        if cache is not None:
            found = cache.get(instrument)
            if found is not None:
                return found
        receivers: list[tuple[str, list[tuple[Client, list[ServerConnection]]]]] = []
        for channel in self.trade_channels:
            clients = self.subscribers(channel, instrument)
            if not clients:
                continue
            groups: dict[Hashable, list[Client]] = {}
            for client in clients:
                groups.setdefault(self.format_key(client), []).append(client)
            receivers.append((channel, [(members[0], [c.connection for c in members]) for members in groups.values()]))
        if cache is not None:
            cache[instrument] = receivers
        return receivers

    def ground_truth_line(self, trade: SimTrade, channel: str, *, sent: bool = True) -> str:
        """One ground-truth JSON line (with the newline) for a trade on a channel.

        ``"sent": false`` marks a trade the wire was made to lose (a skip or a silence).
        """
        truth = self.truth(trade, channel)
        return (
            json.dumps(
                {
                    "venue": self.venue,
                    "instrument": trade.instrument,
                    "symbol": self.symbol(trade.instrument),
                    "trade_id": truth.trade_id,
                    "price": str(truth.price),
                    "size": str(truth.size),
                    "side": trade.side,
                    "ts_event": truth.ts_event,
                    "sent": sent,
                },
                separators=(",", ":"),
            )
            + "\n"
        )

    async def send_heartbeats(self) -> None:
        """Send :meth:`heartbeat` to every connection every :attr:`heartbeat_seconds` (not while silent)."""
        if self.heartbeat_seconds is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            if self.silent(loop.time()):
                continue
            for client in list(self.clients):
                frame = self.heartbeat(client)
                if frame is not None and client.connection.state is State.OPEN:
                    broadcast([client.connection], frame)

    async def drop_connections_every(self, seconds: float) -> None:
        """Close every connection (code 1001, after the frames already sent) every ``seconds``: a flaky venue."""
        while True:
            await asyncio.sleep(seconds)
            clients = list(self.clients)
            if clients:
                log.info("%s simulator: dropping %d connection(s) (disconnects)", self.venue, len(clients))
            await asyncio.gather(
                *(client.connection.close(1001, "simulated disconnect") for client in clients),
                return_exceptions=True,
            )

    def _drop_slow_clients(self) -> None:
        outbox.flush()  # the socket buffers count what this tick queued
        for client in self.clients:
            transport = client.connection.transport
            if transport.get_write_buffer_size() > MAX_PENDING_BYTES and not transport.is_closing():
                log.warning(
                    "%s simulator: dropping slow consumer %s (%d bytes unsent)",
                    self.venue,
                    client.connection.remote_address,
                    transport.get_write_buffer_size(),
                )
                transport.abort()

    def trades_from(self, instrument: str) -> list[SimTrade]:
        """Every generated trade of an instrument still in the history, oldest first."""
        return list(self.history.get(instrument, ()))

    def unapplied_trades(self, instrument: str) -> list[SimTrade]:
        """The trades generated for an instrument since the last call (sent or not), oldest first.

        What a venue applies to its books and ticker statistics: each trade is returned once.
        """
        fresh = self.trades_after(instrument, self._applied.get(instrument))
        if fresh:
            self._applied[instrument] = fresh[-1].trade_id
        return fresh

    def trades_after(self, instrument: str, trade_id: int | None) -> list[SimTrade]:
        """The trades of an instrument's history after the one with ``trade_id`` (all for ``None``), oldest first.

        The tape numbers an instrument's trades consecutively, so their count is known from the
        latest id; it is checked against the history (ids increase) and counted otherwise.
        """
        history = self.history[instrument]
        if trade_id is None or not history or history[0].trade_id > trade_id:
            return list(history)
        count = history[-1].trade_id - trade_id
        if not (
            0 <= count < len(history)
            and history[-count - 1].trade_id <= trade_id
            and (count == 0 or history[-count].trade_id > trade_id)
        ):
            count = 0
            for trade in reversed(history):
                if trade.trade_id <= trade_id:
                    break
                count += 1
        fresh = list(itertools.islice(reversed(history), count))
        fresh.reverse()
        return fresh


def http_json(status: HTTPStatus, document: object) -> Response:
    """An HTTP response with a JSON body."""
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


def http_text(status: HTTPStatus, text: str) -> Response:
    """An HTTP response with a plain-text body."""
    body = f"{text}\n".encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)
