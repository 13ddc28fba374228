"""The simulated Binance spot WebSocket server.

Endpoints, under the ``/binance`` prefix of the simulator's host and port, as on Binance:

* ``/binance/stream?streams=btcusdt@trade/ethusdt@aggTrade`` -- combined streams: every payload is
  wrapped as ``{"stream": ..., "data": ...}``.
* ``/binance/ws`` (and ``/binance/ws/<stream>[/<stream>...]``) -- raw streams: bare payloads.

Both accept the live requests ``SUBSCRIBE`` / ``UNSUBSCRIBE`` (answered ``{"result":null,"id":n}``),
``LIST_SUBSCRIPTIONS``, and ``SET_PROPERTY`` / ``GET_PROPERTY`` of ``combined``; bad requests get
Binance's error frames (``{"code": 2, "msg": ..., "id": n}``, code 3 for invalid JSON). Adding
``timeUnit=MICROSECOND`` to the query string switches the connection's times to microseconds.
Any other path is refused during the handshake with HTTP 404; a stream that is not a configured
instrument's ``trade`` or ``aggTrade`` stream is refused with HTTP 400 (in the URL) or an error
frame (in a ``SUBSCRIBE``).

Emission: ``sim_rate`` trades per second per instrument, in ticks of :data:`TICK_SECONDS`. Trades
are generated only for instruments with at least one subscriber; an instrument's clock starts when
it gains its first subscriber (and restarts if it lost them all). Each trade is sent to every
connection subscribed to that instrument's ``trade`` or ``aggTrade`` stream. After
``sim_max_trades`` trades have been sent, nothing more is sent; connections stay open.
REST: ``GET /binance/api/v3/historicalTrades?symbol=&fromId=&limit=`` lists the generated trades (the
skipped ones too, as a venue's history does), for gap repair.

Faults on request: ``sim_skip_every`` generates every Nth trade without sending it (a sequence gap
on the wire, as a venue's dropped message); ``sim_drop_every`` closes every connection that often.

Ground truth: with ``sim_ground_truth`` set, one JSON line per sent trade and channel
(``venue, instrument, symbol, trade_id, price, size, side, ts_event``) is appended to that file and
flushed every tick. ``trade_id`` is the id the parser reads on that channel, so a trade sent on
both the ``trade`` and ``aggTrade`` streams (two different venue records) has two lines; a trade
sent to several connections on one channel has one.

Like Binance, the server does not wait for slow readers: frames are written without
backpressure, and a connection whose unsent output exceeds :data:`MAX_PENDING_BYTES` is dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from streaming.simulator import binance_wire
from streaming.simulator.market import Market, SimTrade
from streaming.venues.binance import CHANNELS, REST_TRADES_PATH, Channel
from ticklake.settings import Settings

log = logging.getLogger(__name__)

BINANCE_PREFIX = "/binance"
"""Path prefix of the simulated Binance endpoints."""

TICK_SECONDS = 0.01
"""Interval between emission ticks; each tick sends the trades that fell due since the last one."""

MAX_CATCH_UP_SECONDS = 0.5
"""At most this much of the rate is emitted in one tick; a longer stall is skipped, not replayed."""

HISTORY_PER_INSTRUMENT = 200_000
"""Trades kept per instrument for the REST history (``historicalTrades``)."""

MAX_PENDING_BYTES = 64 * 2**20
"""A connection with more unsent output than this is dropped as a slow consumer."""

_MAX_REQUEST_ID_LENGTH = 36


@dataclasses.dataclass(frozen=True, slots=True)
class _Route:
    combined: bool
    micros: bool
    streams: tuple[str, ...]


class _RouteError(Exception):
    """The path is a Binance endpoint but its streams are invalid (HTTP 400)."""


@dataclasses.dataclass(eq=False, slots=True)
class _Client:
    connection: ServerConnection
    combined: bool
    micros: bool
    streams: dict[str, None] = dataclasses.field(default_factory=dict)  # ordered set


@dataclasses.dataclass(slots=True)
class _Clock:
    origin: float
    emitted: int = 0


class BinanceSimulator:
    """The state of one simulated Binance endpoint: subscriptions, clocks and the trade tape.

    Use it through :func:`open_simulator` or :func:`serve_simulator`; it is a class so that tests
    and the benchmark can inspect it.

    Args:
        settings: The settings (``instruments``, ``sim_seed``, ``sim_rate``, ``sim_max_trades``).
        ground_truth: Where to append the ground-truth lines, or ``None``.
    """

    def __init__(self, settings: Settings, ground_truth: TextIO | None = None) -> None:
        self._market = Market(settings.sim_seed, settings.instruments)
        self._rate = settings.sim_rate
        self._max_trades = settings.sim_max_trades
        self._skip_every = settings.sim_skip_every
        self._generated = 0
        self._history: dict[str, collections.deque[SimTrade]] = {
            instrument: collections.deque(maxlen=HISTORY_PER_INSTRUMENT) for instrument in settings.instruments
        }
        self.trades_skipped = 0
        """Trades generated but never sent (``sim_skip_every``): sequence gaps on the wire."""
        self._ground_truth = ground_truth
        self._instrument_of_stream = {
            binance_wire.stream_of(instrument, channel): instrument
            for instrument in settings.instruments
            for channel in CHANNELS
        }
        self._subscribers: dict[str, dict[_Client, None]] = {}
        # stream -> (combined, micros) -> open connections, rebuilt when subscriptions change
        self._groups: dict[str, dict[tuple[bool, bool], list[ServerConnection]]] = {}
        self._clients: dict[_Client, None] = {}
        self._clocks: dict[str, _Clock] = {}
        self._wake = asyncio.Event()
        self.trades_sent = 0
        """Trades sent so far (each counted once, however many connections received it)."""

    @property
    def exhausted(self) -> bool:
        """Whether ``sim_max_trades`` trades have been sent."""
        return self._max_trades is not None and self.trades_sent >= self._max_trades

    # --- handshake and connections -------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer REST requests; refuse unknown paths (404) and unknown streams (400) before the handshake."""
        if urlsplit(request.path).path == f"{BINANCE_PREFIX}{REST_TRADES_PATH}":
            return self._historical_trades(request.path)
        try:
            route = self._route(request.path)
        except (_RouteError, ValueError) as error:
            return _http_error(HTTPStatus.BAD_REQUEST, str(error))
        if route is None:
            return _http_error(HTTPStatus.NOT_FOUND, f"no such endpoint: {urlsplit(request.path).path}")
        return None

    async def handler(self, connection: ServerConnection) -> None:
        """Serve one connection: its URL streams, then its live requests, until it closes."""
        assert connection.request is not None  # set before the handler runs
        route = self._route(connection.request.path)
        assert route is not None  # process_request refused anything else
        client = _Client(connection, combined=route.combined, micros=route.micros)
        self._clients[client] = None
        log.info("binance simulator: %s connected to %s", connection.remote_address, connection.request.path)
        try:
            self._subscribe(client, route.streams)
            async for message in connection:
                await self._answer(client, message)
        except ConnectionClosed:
            pass  # the peer went away; nothing to answer
        finally:
            self._unsubscribe(client, list(client.streams))
            del self._clients[client]
            log.info("binance simulator: %s disconnected", connection.remote_address)

    def _historical_trades(self, path: str) -> Response:
        """``GET /api/v3/historicalTrades?symbol=&fromId=&limit=``: every generated trade, sent or not."""
        query = parse_qs(urlsplit(path).query)
        symbol = query.get("symbol", [""])[0]
        instrument = next((i for i in self._history if binance_wire.symbol_of(i) == symbol), None)
        if instrument is None:
            return _http_json(HTTPStatus.BAD_REQUEST, {"code": -1121, "msg": "Invalid symbol."})
        try:
            limit = min(int(query.get("limit", ["500"])[0]), 1000)
            from_id = int(query["fromId"][0]) if "fromId" in query else None
        except ValueError:
            return _http_json(HTTPStatus.BAD_REQUEST, {"code": -1100, "msg": "Illegal characters in a parameter."})
        history = list(self._history[instrument])
        chosen = history[-limit:] if from_id is None else [t for t in history if t.trade_id >= from_id][:limit]
        return _http_json(HTTPStatus.OK, [binance_wire.rest_trade(t) for t in chosen])

    def _route(self, path: str) -> _Route | None:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        micros = any(value.upper() == "MICROSECOND" for value in query.get("timeUnit", ()))
        if parts.path in (f"{BINANCE_PREFIX}/stream", f"{BINANCE_PREFIX}/stream/"):
            names = [name for value in query.get("streams", ()) for name in value.split("/") if name]
            return _Route(combined=True, micros=micros, streams=self._checked(names))
        if parts.path == f"{BINANCE_PREFIX}/ws" or parts.path.startswith(f"{BINANCE_PREFIX}/ws/"):
            names = [name for name in parts.path[len(f"{BINANCE_PREFIX}/ws") :].split("/") if name]
            return _Route(combined=False, micros=micros, streams=self._checked(names))
        return None

    def _checked(self, names: Iterable[str]) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(names))
        unknown = [name for name in names if name not in self._instrument_of_stream]
        if unknown:
            raise _RouteError(f"unknown streams {unknown}; known: {sorted(self._instrument_of_stream)}")
        return names

    # --- live requests ---------------------------------------------------------------------------

    async def _answer(self, client: _Client, message: str | bytes) -> None:
        reply, subscribe = self._reply(client, message)
        await client.connection.send(json.dumps(reply, separators=(",", ":")))
        # A subscription starts after its ack, so the ack precedes the first frame of its streams.
        self._subscribe(client, subscribe)

    def _reply(self, client: _Client, message: str | bytes) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The reply to one request, and the streams to subscribe once it is sent."""
        try:
            request = json.loads(message)
        except (ValueError, UnicodeDecodeError) as error:
            return {"code": 3, "msg": f"Invalid JSON: {error}"}, ()
        if not isinstance(request, dict):
            return {"code": 2, "msg": "Invalid request: expected a JSON object"}, ()
        request_id = request.get("id")
        if not _valid_id(request_id):
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}, ()
        method = request.get("method")
        params = request.get("params", [])
        if not isinstance(params, list):
            return _error(2, "Invalid request: params must be an array", request_id), ()
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(name, str) for name in params):
                return _error(2, "Invalid request: stream names must be strings", request_id), ()
            try:
                streams = self._checked(params)
            except _RouteError as error:
                return _error(2, f"Invalid request: {error}", request_id), ()
            if method == "SUBSCRIBE":
                return {"result": None, "id": request_id}, streams
            self._unsubscribe(client, streams)
            return {"result": None, "id": request_id}, ()
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(client.streams), "id": request_id}, ()
        if method == "SET_PROPERTY" and len(params) == 2 and params[0] == "combined":
            if not isinstance(params[1], bool):
                return _error(1, "Invalid value type: expected Boolean", request_id), ()
            client.combined = params[1]
            self._regroup(list(client.streams))
            return {"result": None, "id": request_id}, ()
        if method == "GET_PROPERTY" and params == ["combined"]:
            return {"result": client.combined, "id": request_id}, ()
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            return _error(0, "Unknown property", request_id), ()
        return (
            _error(
                2,
                f"Invalid request: unknown variant {method!r}, expected one of `SUBSCRIBE`, "
                "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                request_id,
            ),
            (),
        )

    # --- subscriptions ---------------------------------------------------------------------------

    def _subscribe(self, client: _Client, streams: Iterable[str]) -> None:
        added = [stream for stream in streams if stream not in client.streams]
        for stream in added:
            client.streams[stream] = None
            self._subscribers.setdefault(stream, {})[client] = None
            instrument = self._instrument_of_stream[stream]
            if instrument not in self._clocks:
                self._clocks[instrument] = _Clock(origin=asyncio.get_running_loop().time())
                log.info("binance simulator: %s now trading (first subscriber)", instrument)
        self._regroup(added)
        if added:
            self._wake.set()

    def _unsubscribe(self, client: _Client, streams: Iterable[str]) -> None:
        removed = [stream for stream in streams if stream in client.streams]
        for stream in removed:
            del client.streams[stream]
            subscribers = self._subscribers[stream]
            del subscribers[client]
            if not subscribers:
                del self._subscribers[stream]
            instrument = self._instrument_of_stream[stream]
            if not any(self._subscribers.get(binance_wire.stream_of(instrument, channel)) for channel in CHANNELS):
                del self._clocks[instrument]
                log.info("binance simulator: %s paused (no subscribers)", instrument)
        self._regroup(removed)

    def _regroup(self, streams: Iterable[str]) -> None:
        for stream in streams:
            groups: dict[tuple[bool, bool], list[ServerConnection]] = {}
            for client in self._subscribers.get(stream, ()):
                groups.setdefault((client.combined, client.micros), []).append(client.connection)
            if groups:
                self._groups[stream] = groups
            else:
                self._groups.pop(stream, None)

    # --- emission --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Emit trades tick by tick until ``sim_max_trades`` is reached (or forever)."""
        loop = asyncio.get_running_loop()
        while not self.exhausted:
            if not self._clocks:
                self._wake.clear()
                await self._wake.wait()
                continue
            await asyncio.sleep(TICK_SECONDS)
            self.tick(loop.time(), time.time_ns() // 1_000_000)
        log.info("binance simulator: sent %d trades (sim_max_trades); sending no more", self.trades_sent)

    def tick(self, now: float, wall_ms: int) -> None:
        """Send the trades that are due.

        Args:
            now: The event loop's clock (seconds), against which the instruments' clocks run.
            wall_ms: The wall clock in epoch milliseconds, the event time of the trades.
        """
        lines: list[str] = []
        catch_up = max(1, int(self._rate * MAX_CATCH_UP_SECONDS))
        for instrument, clock in list(self._clocks.items()):
            due = int((now - clock.origin) * self._rate) - clock.emitted
            if due > catch_up:
                clock.emitted += due - catch_up  # a stall is skipped, not replayed as a burst
                due = catch_up
            for _ in range(due):
                if self.exhausted:
                    break
                trade = self._market.next_trade(instrument, wall_ms)
                clock.emitted += 1
                self._history[instrument].append(trade)
                self._generated += 1
                if self._skip_every and self._generated % self._skip_every == 0:
                    self.trades_skipped += 1  # lost on the wire: its id is used, the trade never sent
                    continue
                channels = self._send_trade(trade)
                if channels:
                    self.trades_sent += 1
                    if self._ground_truth is not None:
                        lines.extend(binance_wire.ground_truth_line(trade, channel) for channel in channels)
        if lines and self._ground_truth is not None:
            self._ground_truth.write("".join(lines))
            self._ground_truth.flush()
        self._drop_slow_clients()

    def _send_trade(self, trade: SimTrade) -> list[Channel]:
        sent: list[Channel] = []
        for channel in CHANNELS:
            stream = binance_wire.stream_of(trade.instrument, channel)
            groups = self._groups.get(stream)
            if not groups:
                continue
            delivered = False
            for (combined, micros), connections in groups.items():
                open_connections = [c for c in connections if c.state is State.OPEN]
                if not open_connections:
                    continue
                data = binance_wire.payload(trade, channel, micros=micros)
                broadcast(open_connections, binance_wire.wrap(stream, data) if combined else data)
                delivered = True
            if delivered:
                sent.append(channel)
        return sent

    async def drop_connections_every(self, seconds: float) -> None:
        """Close every connection (code 1001, after the frames already sent) every ``seconds``: a flaky venue."""
        while True:
            await asyncio.sleep(seconds)
            clients = list(self._clients)
            if clients:
                log.info("binance simulator: dropping %d connection(s) (sim_drop_every)", len(clients))
            await asyncio.gather(
                *(client.connection.close(1001, "simulated disconnect") for client in clients),
                return_exceptions=True,
            )

    def _drop_slow_clients(self) -> None:
        for client in self._clients:
            transport = client.connection.transport
            if transport.get_write_buffer_size() > MAX_PENDING_BYTES and not transport.is_closing():
                log.warning(
                    "binance simulator: dropping slow consumer %s (%d bytes unsent)",
                    client.connection.remote_address,
                    transport.get_write_buffer_size(),
                )
                transport.abort()


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and len(value) <= _MAX_REQUEST_ID_LENGTH and value.isalnum()


def _error(code: int, message: str, request_id: Any) -> dict[str, Any]:
    return {"code": code, "msg": message, "id": request_id}


def _http_json(status: HTTPStatus, document: object) -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


def _http_error(status: HTTPStatus, text: str) -> Response:
    body = f"{text}\n".encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


# --- running -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SimulatorHandle:
    """A running simulator, as yielded by :func:`open_simulator`.

    Attributes:
        host: The address it listens on.
        port: The port it listens on (the bound port when 0 was asked for).
        simulator: Its Binance endpoint state (``trades_sent``, ``exhausted``).
        ticker: The task emitting trades; it ends when ``sim_max_trades`` is reached.
    """

    host: str
    port: int
    simulator: BinanceSimulator
    ticker: asyncio.Task[None]

    @property
    def binance_url(self) -> str:
        """The Binance base URL, e.g. ``ws://127.0.0.1:8765/binance``."""
        return f"ws://{self.host}:{self.port}{BINANCE_PREFIX}"


@contextlib.asynccontextmanager
async def open_simulator(settings: Settings, *, port: int | None = None) -> AsyncIterator[SimulatorHandle]:
    """Run the simulator for the duration of an ``async with`` block.

    Args:
        settings: ``sim_host``, ``sim_port``, ``sim_seed``, ``sim_rate``, ``sim_max_trades``,
            ``sim_ground_truth`` and ``instruments`` are used.
        port: Listen on this port instead of ``sim_port``; ``0`` picks a free one (see
            :attr:`SimulatorHandle.port`).

    Yields:
        The running simulator. On exit the emission stops, every connection is closed (code 1001)
        and the ground-truth file is closed.

    Raises:
        OSError: The address cannot be bound.
    """
    with contextlib.ExitStack() as files:
        ground_truth: TextIO | None = None
        if settings.sim_ground_truth is not None:
            path = Path(settings.sim_ground_truth)
            path.parent.mkdir(parents=True, exist_ok=True)
            ground_truth = files.enter_context(path.open("a", encoding="utf-8"))
        simulator = BinanceSimulator(settings, ground_truth)
        async with serve(
            simulator.handler,
            settings.sim_host,
            settings.sim_port if port is None else port,
            process_request=simulator.process_request,
            compression=None,
        ) as server:
            bound = int(next(iter(server.sockets)).getsockname()[1])
            ticker = asyncio.create_task(simulator.run(), name="binance-simulator-ticks")
            dropper = (
                asyncio.create_task(simulator.drop_connections_every(settings.sim_drop_every), name="binance-drops")
                if settings.sim_drop_every
                else None
            )
            try:
                yield SimulatorHandle(settings.sim_host, bound, simulator, ticker)
            finally:
                for task in (ticker, dropper):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task


async def serve_simulator(settings: Settings, *, started: asyncio.Event | None = None) -> None:
    """Serve the simulated venues until cancelled.

    Args:
        settings: See :func:`open_simulator`; listens on ``sim_host:sim_port``.
        started: Set once the server is listening.

    Raises:
        OSError: The address cannot be bound.
    """
    async with open_simulator(settings) as running:
        log.info(
            "simulator: Binance spot on %s (/stream, /ws): %s at %s trades/s each, seed %d%s%s",
            running.binance_url,
            ", ".join(settings.instruments),
            settings.sim_rate,
            settings.sim_seed,
            f", at most {settings.sim_max_trades} trades" if settings.sim_max_trades else "",
            f", ground truth in {settings.sim_ground_truth}" if settings.sim_ground_truth else "",
        )
        if started is not None:
            started.set()
        await running.ticker  # raises if emission failed
        await asyncio.Event().wait()  # max trades sent: keep the connections open until cancelled


def run_simulator(settings: Settings) -> None:
    """Run the simulator in the foreground until SIGINT or SIGTERM, then stop cleanly.

    Args:
        settings: See :func:`serve_simulator`.
    """
    asyncio.run(_run_until_signalled(settings))


async def _run_until_signalled(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    received: list[str] = []

    def stop(signum: signal.Signals) -> None:
        received.append(signum.name)
        main.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' loop
            loop.add_signal_handler(signum, stop, signum)
    try:
        await serve_simulator(settings)
    except asyncio.CancelledError:
        if not received:
            raise
        log.info("simulator: stopped by %s", received[0])
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)
