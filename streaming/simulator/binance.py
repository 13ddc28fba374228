"""The simulated Binance spot venue (frames rendered by :mod:`streaming.simulator.binance_wire`).

Endpoints, under ``/binance``, as on Binance:

* ``/stream?streams=btcusdt@trade/ethusdt@aggTrade`` -- combined streams: every payload is wrapped
  as ``{"stream": ..., "data": ...}``.
* ``/ws`` (and ``/ws/<stream>[/<stream>...]``) -- raw streams: bare payloads.
* ``GET /api/v3/historicalTrades?symbol=&fromId=&limit=`` -- the generated trades (the skipped ones
  too, as a venue's history does), for gap repair.
* ``GET /api/v3/depth?symbol=&limit=`` -- the current simulated book (``limit`` levels per side,
  default 100, at most 5000) with its ``lastUpdateId``.

Books (:mod:`streaming.simulator.books`): every instrument has a simulated order book that every
generated trade changes (the skipped ones too: the book is the venue's). ``<symbol>@depth@100ms``
subscribers get a ``depthUpdate`` diff every 100 ms, ``<symbol>@depth`` subscribers every 1000 ms
(Binance's update speeds), when the book changed; the update ids are consecutive, so each diff of a
stream starts at the previous one's ``u + 1``. ``<symbol>@bookTicker`` subscribers get the best bid
and ask whenever they changed (checked every emission tick, 10 ms). When ``sim_max_trades`` is
reached the book stops changing and the last changes are sent at once. Book fault: with
``sim_book_drop_every`` set, every Nth diff of each stream that has subscribers is never sent (a ``U``/``u`` gap that
a collector must resnapshot from REST); the silence fault silences books too. Dropping follows its own
knob rather than ``sim_skip_every`` so that trade-gap scenarios keep their gaps to trade ids.

Both WebSocket endpoints accept the live requests ``SUBSCRIBE`` / ``UNSUBSCRIBE`` (answered
``{"result":null,"id":n}``), ``LIST_SUBSCRIPTIONS``, and ``SET_PROPERTY`` / ``GET_PROPERTY`` of
``combined``; bad requests get Binance's error frames (``{"code": 2, "msg": ..., "id": n}``, code 3
for invalid JSON). ``timeUnit=MICROSECOND`` in the query string switches the connection's times to
microseconds. Any other path is refused during the handshake with HTTP 404; a stream that is not a
configured instrument's ``trade``, ``aggTrade``, ``depth``, ``depth@100ms`` or ``bookTicker`` stream is
refused with HTTP 400 (in the URL) or
an error frame (in a ``SUBSCRIBE``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Iterable
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

from streaming.simulator import binance_wire
from streaming.simulator.books import SimBook
from streaming.simulator.market import SimTrade
from streaming.simulator.outbox import broadcast
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim, http_json
from streaming.venues import binance
from streaming.venues.binance import (
    BOOK_CHANNELS,
    CHANNELS,
    DEPTH_CHANNELS,
    REST_DEPTH_LIMIT,
    REST_DEPTH_PATH,
    REST_TRADES_PATH,
)

_MAX_REQUEST_ID_LENGTH = 36

DEPTH_INTERVALS: dict[str, float] = {"depth@100ms": 0.1, "depth": 1.0}
"""Seconds between two diffs of each depth stream (Binance: 100 ms and 1000 ms)."""


class BinanceSim(VenueSim):
    """Binance spot: trade, aggTrade, depth and bookTicker streams, live requests, ``historicalTrades``, ``depth``."""

    venue = binance.VENUE
    trade_channels = CHANNELS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscription_of_stream: dict[str, Subscription] = {
            binance_wire.stream_of(instrument, channel): (channel, instrument)
            for instrument in self.instruments
            for channel in (*CHANNELS, *BOOK_CHANNELS)
        }
        self.books: dict[str, SimBook] = {
            instrument: SimBook(self.settings.sim_seed, instrument, DEPTH_CHANNELS) for instrument in self.instruments
        }
        self.book_drop_every = self.settings.sim_book_drop_every
        self._next_diff: dict[str, float] = {}
        self._tops: dict[str, tuple[tuple[int, int] | None, tuple[int, int] | None]] = {}
        self._diff_counts: dict[tuple[str, str], int] = {}
        self.diffs_sent = 0
        """Depth diffs sent to at least one connection (one count per instrument, stream and interval)."""
        self.diffs_dropped = 0
        """Depth diffs the book fault never sent."""
        self.book_tickers_sent = 0
        """Book-ticker frames sent (one count per instrument and change)."""

    # --- handshake ---------------------------------------------------------------------------

    def is_rest(self, path: str) -> bool:  # noqa: D102 - see VenueSim
        return path in (REST_TRADES_PATH, REST_DEPTH_PATH)

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        self._route(path)

    def open(self, client: Client) -> list[Subscription]:  # noqa: D102 - see VenueSim
        combined, micros, streams = self._route(client.path)
        client.state.update(combined=combined, micros=micros)
        return [self._subscription_of_stream[name] for name in streams]

    def _route(self, path: str) -> tuple[bool, bool, tuple[str, ...]]:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        micros = any(value.upper() == "MICROSECOND" for value in query.get("timeUnit", ()))
        if parts.path in ("/stream", "/stream/"):
            names = [name for value in query.get("streams", ()) for name in value.split("/") if name]
            return True, micros, self._checked_in_url(names)
        if parts.path == "/ws" or parts.path.startswith("/ws/"):
            names = [name for name in parts.path[len("/ws") :].split("/") if name]
            return False, micros, self._checked_in_url(names)
        raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{parts.path}")

    def _checked_in_url(self, names: Iterable[str]) -> tuple[str, ...]:
        try:
            return self._checked(names)
        except ValueError as error:
            raise Refusal(HTTPStatus.BAD_REQUEST, str(error)) from None

    def _checked(self, names: Iterable[str]) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(names))
        unknown = [name for name in names if name not in self._subscription_of_stream]
        if unknown:
            raise ValueError(f"unknown streams {unknown}; known: {sorted(self._subscription_of_stream)}")
        return names

    # --- REST --------------------------------------------------------------------------------

    def rest(self, path: str, query: dict[str, list[str]]) -> Response:
        """Answer ``historicalTrades`` (every generated trade, sent or not) and ``depth`` (the current book).

        ``GET /api/v3/historicalTrades?symbol=&fromId=&limit=`` and ``GET /api/v3/depth?symbol=&limit=``.
        """
        symbol = query.get("symbol", [""])[0]
        instrument = next((i for i in self.instruments if binance_wire.symbol_of(i) == symbol), None)
        if instrument is None:
            raise Refusal(HTTPStatus.BAD_REQUEST, {"code": -1121, "msg": "Invalid symbol."})
        if path == REST_DEPTH_PATH:
            try:
                depth = min(int(query.get("limit", ["100"])[0]), REST_DEPTH_LIMIT)
            except ValueError:
                raise Refusal(
                    HTTPStatus.BAD_REQUEST, {"code": -1100, "msg": "Illegal characters in a parameter."}
                ) from None
            if depth < 1:
                raise Refusal(HTTPStatus.BAD_REQUEST, {"code": -1100, "msg": "Illegal characters in a parameter."})
            body = binance_wire.rest_depth(self.books[instrument].snapshot(depth)).encode()
            headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)
        try:
            limit = min(int(query.get("limit", ["500"])[0]), 1000)
            from_id = int(query["fromId"][0]) if "fromId" in query else None
        except ValueError:
            raise Refusal(
                HTTPStatus.BAD_REQUEST, {"code": -1100, "msg": "Illegal characters in a parameter."}
            ) from None
        history = self.trades_from(instrument)
        chosen = history[-limit:] if from_id is None else [t for t in history if t.trade_id >= from_id][:limit]
        return http_json(HTTPStatus.OK, [binance_wire.rest_trade(t) for t in chosen])

    # --- live requests -----------------------------------------------------------------------

    def on_message(self, client: Client, message: str | bytes) -> Reply:  # noqa: D102 - see VenueSim
        reply, subscribe, unsubscribe = self._reply(client, message)
        return Reply(
            frames=(json.dumps(reply, separators=(",", ":")),),
            subscribe=[self._subscription_of_stream[name] for name in subscribe],
            unsubscribe=[self._subscription_of_stream[name] for name in unsubscribe],
        )

    def _reply(self, client: Client, message: str | bytes) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
        """The reply to one request, and the streams to subscribe and unsubscribe."""
        try:
            request = json.loads(message)
        except (ValueError, UnicodeDecodeError) as error:
            return {"code": 3, "msg": f"Invalid JSON: {error}"}, (), ()
        if not isinstance(request, dict):
            return {"code": 2, "msg": "Invalid request: expected a JSON object"}, (), ()
        request_id = request.get("id")
        if not _valid_id(request_id):
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}, (), ()
        method = request.get("method")
        params = request.get("params", [])
        if not isinstance(params, list):
            return _error(2, "Invalid request: params must be an array", request_id), (), ()
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(name, str) for name in params):
                return _error(2, "Invalid request: stream names must be strings", request_id), (), ()
            try:
                streams = self._checked(params)
            except ValueError as error:
                return _error(2, f"Invalid request: {error}", request_id), (), ()
            if method == "SUBSCRIBE":
                return {"result": None, "id": request_id}, streams, ()
            return {"result": None, "id": request_id}, (), streams
        if method == "LIST_SUBSCRIPTIONS":
            names = [binance_wire.stream_of(instrument, channel) for channel, instrument in client.subscriptions]  # type: ignore[arg-type]
            return {"result": names, "id": request_id}, (), ()
        if method == "SET_PROPERTY" and len(params) == 2 and params[0] == "combined":
            if not isinstance(params[1], bool):
                return _error(1, "Invalid value type: expected Boolean", request_id), (), ()
            client.state["combined"] = params[1]
            return {"result": None, "id": request_id}, (), ()
        if method == "GET_PROPERTY" and params == ["combined"]:
            return {"result": client.state["combined"], "id": request_id}, (), ()
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            return _error(0, "Unknown property", request_id), (), ()
        return (
            _error(
                2,
                f"Invalid request: unknown variant {method!r}, expected one of `SUBSCRIBE`, "
                "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                request_id,
            ),
            (),
            (),
        )

    # --- frames ------------------------------------------------------------------------------

    def format_key(self, client: Client) -> Hashable:  # noqa: D102 - see VenueSim
        return (client.state["combined"], client.state["micros"])

    def render(self, trade: SimTrade, channel: str, client: Client) -> str:  # noqa: D102 - see VenueSim
        state = client.state
        return binance_wire.trade_frame(trade, channel, micros=state["micros"], combined=state["combined"])  # type: ignore[arg-type]

    def truth(self, trade: SimTrade, channel: str) -> TruthFields:  # noqa: D102 - see VenueSim
        return TruthFields(
            trade_id=binance_wire.trade_id_of(trade, channel),  # type: ignore[arg-type]
            price=Decimal(trade.price_text),
            size=Decimal(trade.size_text),
            ts_event=trade.ts_ms * 1_000_000,
        )

    def symbol(self, instrument: str) -> str:  # noqa: D102 - see VenueSim
        return binance_wire.symbol_of(instrument)

    # --- books -------------------------------------------------------------------------------

    def tick(self, now: float, wall_ms: int) -> None:
        """Generate and send the due trades, apply them to the books, then send the due book frames."""
        super().tick(now, wall_ms)
        self._apply_trades()
        self._send_books(now, wall_ms, final=False)

    async def run(self) -> None:
        """Emit trades until ``sim_max_trades``; then send the books' last changes (they change no more)."""
        await super().run()
        self._apply_trades()
        self._send_books(None, time.time_ns() // 1_000_000, final=True)

    def _apply_trades(self) -> None:
        """Apply every trade generated since the last call (sent or not) to its instrument's book."""
        for instrument in self.history:
            fresh = self.unapplied_trades(instrument)
            if fresh:
                self.books[instrument].on_trades(fresh)

    def _send_books(self, now: float | None, wall_ms: int, *, final: bool) -> None:
        """Send the due depth diffs (all of them when ``final``) and the changed best bids and asks.

        Args:
            now: The event loop's clock (``None`` when ``final``).
            wall_ms: The wall clock, epoch ms: the diffs' event time.
            final: Emission has ended: drain every stream now, never drop or silence.
        """
        silent = not final and now is not None and self.silent(now)
        for channel in DEPTH_CHANNELS:
            if not final:
                assert now is not None
                due = self._next_diff.get(channel)
                if due is None:
                    self._next_diff[channel] = now + DEPTH_INTERVALS[channel]
                    continue
                if now < due:
                    continue
                self._next_diff[channel] = max(due + DEPTH_INTERVALS[channel], now)
            for instrument, book in self.books.items():
                diff = book.drain(channel)
                clients = self.subscribers(channel, instrument)
                if diff is None or not clients or silent:
                    continue
                counted = self._diff_counts[(instrument, channel)] = self._diff_counts.get((instrument, channel), 0) + 1
                if not final and self.book_drop_every and counted % self.book_drop_every == 0:
                    self.diffs_dropped += 1
                    continue
                self.diffs_sent += 1
                stream = binance_wire.stream_of(instrument, channel)
                for members in self._groups(clients):
                    data = binance_wire.depth_payload(instrument, diff, wall_ms, micros=members[0].state["micros"])
                    frame = binance_wire.wrap(stream, data) if members[0].state["combined"] else data
                    broadcast([c.connection for c in members], frame)
        for instrument, book in self.books.items():
            bid, ask = book.best_bid(), book.best_ask()
            if self._tops.get(instrument) == (bid, ask) or silent:
                continue
            self._tops[instrument] = (bid, ask)
            clients = self.subscribers("bookTicker", instrument)
            if not clients or bid is None or ask is None:
                continue
            self.book_tickers_sent += 1
            data = binance_wire.book_ticker_payload(instrument, book.update_id, bid, ask)
            stream = binance_wire.stream_of(instrument, "bookTicker")
            for members in self._groups(clients):
                frame = binance_wire.wrap(stream, data) if members[0].state["combined"] else data
                broadcast([c.connection for c in members], frame)

    def _groups(self, clients: list[Client]) -> list[list[Client]]:
        groups: dict[Hashable, list[Client]] = {}
        for client in clients:
            groups.setdefault(self.format_key(client), []).append(client)
        return list(groups.values())


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
