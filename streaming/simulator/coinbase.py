"""The simulated Coinbase venue: the Advanced Trade market-data WebSocket and the public REST trade history.

Frames are rendered by :mod:`streaming.simulator.coinbase_wire`; the conventions come from
:mod:`streaming.venues.coinbase` (Coinbase's Advanced Trade channel and protocol documentation, its AsyncAPI
spec, and production recordings) and ``tests/fixtures/coinbase``. Endpoints, under ``/coinbase``:

* ``/`` -- the WebSocket, at the root like ``wss://advanced-trade-ws.coinbase.com``. A client sends
  ``{"type": "subscribe" | "unsubscribe", "product_ids": [...], "channel": ...}`` (one channel per
  request, an optional ``jwt`` is accepted and ignored: the channels are public). Channels served:
  ``market_trades`` (trades) and ``heartbeats`` (no products needed; one frame a second). Every accepted
  request is answered by a ``subscriptions`` frame listing all the connection's subscriptions, then, for
  newly subscribed ``market_trades`` products, one snapshot frame of their latest
  :data:`SNAPSHOT_TRADES` trades (newest first; empty before a product's first trade; Coinbase does not
  document the snapshot's size, 50 is the simulator's choice). A bad request (invalid JSON, not an
  object, an unknown ``type``, a channel the simulator does not serve, a product it does not list,
  missing or ill-typed ``product_ids``) is refused with ``{"type": "error", "message": ...}`` and changes
  nothing; subscription failures start with ``"failure to subscribe"`` (Coinbase's text, as quoted in a
  public client's tests: fixture ``adv_error``), the details after it are the simulator's. A connection
  that has not subscribed within :data:`SUBSCRIBE_DEADLINE_SECONDS` is closed (code 1000): Coinbase's
  Exchange WebSocket overview says a connection without a subscribe message within 5 seconds is disconnected,
  and NautilusTrader's Advanced Trade adapter (``WS_SUBSCRIBE_DEADLINE``) says the same of this feed.
  Any other path is refused with HTTP 404.
* ``GET /products/{product_id}/trades?limit=&after=&before=`` -- the Exchange REST history that
  :func:`streaming.venues.coinbase.rest_trades_request` asks for: newest first, at most ``limit`` (1 to
  1000, default 1000) trades; ``after=<id>`` pages to older trades (ids below it), ``before=<id>`` to
  newer ones (the trades right above it); the ``CB-BEFORE`` / ``CB-AFTER`` headers carry the page's
  newest and oldest ids (https://docs.cdp.coinbase.com/exchange/rest-api/pagination). An unlisted product
  is ``404 {"message": "NotFound"}``, a bad parameter ``400 {"message": ...}``.
* ``GET /api/v3/brokerage/market/products/{product_id}/ticker?limit=&start=&end=`` -- the Advanced Trade
  public market trades that :func:`streaming.venues.coinbase.rest_market_trades_request` asks for: the
  latest ``limit`` trades whose time lies in ``[start, end]`` (UNIX seconds, both optional), newest first.

Both REST endpoints serve :meth:`VenueSim.trades_from`: every generated trade, including those the wire
never delivered (what a gap repair fetches).

**Sequence numbers.** ``sequence_num`` counts the frames of one connection from 0: subscription acks,
snapshots, trade updates and heartbeats alike (error frames carry none). Frames are therefore rendered per
connection (:meth:`CoinbaseSim.format_key` is the connection) with the counter in ``Client.state``; a
duplicated frame (fault ``duplicate``) is the same text again, so it repeats its number. A trade the
``skip`` fault loses is never rendered: it takes no number, and shows only as a jump in its product's
trade ids, which are the tape's consecutive ids. ``heartbeat_counter`` starts at the venue's uptime in
whole seconds on a connection's first heartbeat (as in the production recording, where it tracks the
``m=+`` uptime of ``current_time``) and then grows by one per heartbeat.

**Sides.** ``market_trades`` (and both REST bodies) carry the maker side; the tape's side is the taker's,
so a taker buy is rendered ``"SELL"`` (see :mod:`streaming.venues.coinbase`, "Taker side").
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import re
import time
from collections.abc import Hashable, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.protocol import State

from streaming.simulator import coinbase_wire as wire
from streaming.simulator.market import SimTrade
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim
from streaming.venues import coinbase

SNAPSHOT_TRADES = 50
"""Trades per product in the ``market_trades`` snapshot sent on subscription."""

SUBSCRIBE_DEADLINE_SECONDS = 5.0
"""A connection that has not subscribed by then is closed."""

REST_LIMIT = coinbase.REST_PAGE_LIMIT
"""The largest (and default) page of both REST trade endpoints."""

SERVED_CHANNELS: tuple[str, ...] = (wire.TRADES_CHANNEL, wire.HEARTBEATS_CHANNEL)
"""The Advanced Trade channels the simulator serves."""

_EXCHANGE_TRADES = re.compile(r"/products/([^/]+)/trades")
_ADVANCED_TRADES = re.compile(r"/api/v3/brokerage/market/products/([^/]+)/ticker")
_HEARTBEATS: Subscription = (wire.HEARTBEATS_CHANNEL, wire.HEARTBEATS_CHANNEL)
_SUBSCRIBE_FAILED = "failure to subscribe"


class CoinbaseSim(VenueSim):
    """Coinbase Advanced Trade: ``market_trades`` and ``heartbeats`` at ``/``, and both REST trade histories."""

    venue = coinbase.VENUE
    trade_channels = (wire.TRADES_CHANNEL,)
    heartbeat_seconds = 1.0

    subscribe_deadline: float = SUBSCRIBE_DEADLINE_SECONDS
    """Seconds a connection has to subscribe before it is closed (per instance, for tests)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instrument_of_product = {wire.symbol_of(instrument): instrument for instrument in self.instruments}
        self._started_ns = time.monotonic_ns()
        self._closing: set[asyncio.Task[None]] = set()

    # --- handshake and connections -----------------------------------------------------------

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        route = path.partition("?")[0]
        if route not in ("", "/"):
            raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{route}")

    def open(self, client: Client) -> list[Subscription]:  # noqa: D102 - see VenueSim
        client.state.update(next_sequence=0, heartbeat_counter=None, subscribed=False)
        loop = asyncio.get_running_loop()
        loop.call_later(self.subscribe_deadline, self._enforce_deadline, client)
        return []

    def _enforce_deadline(self, client: Client) -> None:
        if client.state["subscribed"] or client.connection.state is not State.OPEN:
            return
        task = asyncio.get_running_loop().create_task(client.connection.close(1000, "no subscription"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _sequence(self, client: Client) -> int:
        """The connection's next ``sequence_num`` (every frame but an error takes one)."""
        number: int = client.state["next_sequence"]
        client.state["next_sequence"] = number + 1
        return number

    # --- live requests -----------------------------------------------------------------------

    def on_message(self, client: Client, message: str | bytes) -> Reply:  # noqa: D102 - see VenueSim
        try:
            request = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return _refused("malformed JSON")
        if not isinstance(request, dict):
            return _refused("malformed request: not a JSON object")
        action = request.get("type")
        if action not in ("subscribe", "unsubscribe"):
            return _refused(f"unknown message type {action!r}: expected 'subscribe' or 'unsubscribe'")
        try:
            wanted = self._requested(request)
        except ValueError as error:
            return _refused(f"{_SUBSCRIBE_FAILED}: {error}")
        after = dict(client.subscriptions)
        if action == "subscribe":
            after.update(dict.fromkeys(wanted))
            client.state["subscribed"] = True
        else:
            for subscription in wanted:
                after.pop(subscription, None)
        listed: dict[str, list[str]] = {}
        for channel, product in (self._listed(subscription) for subscription in after):
            listed.setdefault(channel, []).append(product)
        ack = wire.subscriptions_frame(listed, sequence_num=self._sequence(client), timestamp_ns=time.time_ns())
        if action == "subscribe":
            return Reply(frames=(ack,), subscribe=wanted)
        return Reply(frames=(ack,), unsubscribe=wanted)

    def _requested(self, request: dict[str, Any]) -> list[Subscription]:
        """The subscriptions a valid request names.

        Raises:
            ValueError: An unserved channel, a bad ``product_ids``, a product not listed, a bad ``jwt``.
        """
        channel = request.get("channel")
        if channel not in SERVED_CHANNELS:
            raise ValueError(f"channel {channel!r} is not served; channels: {', '.join(SERVED_CHANNELS)}")
        products = request.get("product_ids", [])
        if not isinstance(products, list) or not all(isinstance(product, str) for product in products):
            raise ValueError("product_ids must be an array of strings")
        jwt = request.get("jwt")
        if jwt is not None and not isinstance(jwt, str):
            raise ValueError("jwt must be a string")
        if channel == wire.HEARTBEATS_CHANNEL:
            return [_HEARTBEATS]
        if not products:
            raise ValueError(f"channel {channel!r} needs product_ids")
        unknown = [product for product in products if product not in self._instrument_of_product]
        if unknown:
            raise ValueError(f"unknown product ids {unknown}; products: {sorted(self._instrument_of_product)}")
        return [(channel, self._instrument_of_product[product]) for product in dict.fromkeys(products)]

    def _listed(self, subscription: Subscription) -> tuple[str, str]:
        channel, instrument = subscription
        if subscription == _HEARTBEATS:
            return channel, instrument
        return channel, wire.symbol_of(instrument)

    def after_subscribe(self, client: Client, added: Sequence[Subscription]) -> list[str]:
        """One ``market_trades`` snapshot frame for the products just subscribed (none for ``heartbeats``)."""
        instruments = [instrument for channel, instrument in added if channel == wire.TRADES_CHANNEL]
        if not instruments:
            return []
        recent = [
            list(itertools.islice(reversed(self.history[instrument]), SNAPSHOT_TRADES))[::-1]
            for instrument in instruments
        ]
        return [wire.snapshot_frame(recent, sequence_num=self._sequence(client), timestamp_ns=time.time_ns())]

    def heartbeat(self, client: Client) -> str | None:
        """A ``heartbeats`` frame for connections subscribed to the channel."""
        if _HEARTBEATS not in client.subscriptions:
            return None
        uptime = time.monotonic_ns() - self._started_ns
        previous = client.state["heartbeat_counter"]
        counter = uptime // 1_000_000_000 if previous is None else previous + 1
        client.state["heartbeat_counter"] = counter
        return wire.heartbeat_frame(
            counter=counter, sequence_num=self._sequence(client), timestamp_ns=time.time_ns(), monotonic_ns=uptime
        )

    # --- trade frames --------------------------------------------------------------------------

    def format_key(self, client: Client) -> Hashable:
        """Every connection gets its own rendering: its frames carry its own ``sequence_num``."""
        return client

    def render(self, trade: SimTrade, channel: str, client: Client) -> str:  # noqa: D102 - see VenueSim
        return wire.market_trades_frame([trade], sequence_num=self._sequence(client), timestamp_ns=time.time_ns())

    def truth(self, trade: SimTrade, channel: str) -> TruthFields:  # noqa: D102 - see VenueSim
        return TruthFields(
            trade_id=wire.trade_id_of(trade),
            price=Decimal(wire.trim_decimal(trade.price_text)),
            size=Decimal(wire.trim_decimal(trade.size_text)),
            ts_event=wire.ts_event_of(trade),
        )

    def symbol(self, instrument: str) -> str:  # noqa: D102 - see VenueSim
        return wire.symbol_of(instrument)

    # --- REST ----------------------------------------------------------------------------------

    def is_rest(self, path: str) -> bool:  # noqa: D102 - see VenueSim
        return bool(_EXCHANGE_TRADES.fullmatch(path) or _ADVANCED_TRADES.fullmatch(path))

    def rest(self, path: str, query: dict[str, list[str]]) -> Response:
        """The Exchange trades (``/products/{id}/trades``) or Advanced Trade market trades (``.../ticker``)."""
        exchange = _EXCHANGE_TRADES.fullmatch(path)
        if exchange is not None:
            return self._exchange_trades(exchange.group(1), query)
        advanced = _ADVANCED_TRADES.fullmatch(path)
        assert advanced is not None  # is_rest() admitted only these two
        return self._advanced_trades(advanced.group(1), query)

    def _exchange_trades(self, product: str, query: dict[str, list[str]]) -> Response:
        instrument = self._instrument_of_product.get(product)
        if instrument is None:
            raise Refusal(HTTPStatus.NOT_FOUND, {"message": "NotFound"})
        try:
            limit = _integer(query, "limit", 1, REST_LIMIT) or REST_LIMIT
            after = _integer(query, "after", 1, 2**63 - 1)
            before = _integer(query, "before", 0, 2**63 - 1)
        except ValueError as error:
            raise Refusal(HTTPStatus.BAD_REQUEST, {"message": str(error)}) from None
        history = self.trades_from(instrument)  # oldest first, ids increasing
        low = 0 if before is None else bisect.bisect_right(history, before, key=_trade_id)
        high = len(history) if after is None else bisect.bisect_left(history, after, key=_trade_id)
        window = history[low:high]
        page = window[:limit] if before is not None and after is None else window[-limit:]
        headers = [("Content-Type", "application/json")]
        if page:
            headers += [("CB-BEFORE", str(page[-1].trade_id)), ("CB-AFTER", str(page[0].trade_id))]
        return _response(wire.exchange_rest_body(page), headers)

    def _advanced_trades(self, product: str, query: dict[str, list[str]]) -> Response:
        instrument = self._instrument_of_product.get(product)
        if instrument is None:
            raise Refusal(
                HTTPStatus.NOT_FOUND,
                {"error": "NOT_FOUND", "error_details": f"product {product} not found", "message": "NotFound"},
            )
        try:
            limit = _integer(query, "limit", 1, REST_LIMIT) or REST_LIMIT
            start = _integer(query, "start", 0, 2**40)
            end = _integer(query, "end", 0, 2**40)
        except ValueError as error:
            raise Refusal(
                HTTPStatus.BAD_REQUEST,
                {"error": "INVALID_ARGUMENT", "error_details": str(error), "message": str(error)},
            ) from None
        history = self.trades_from(instrument)
        low = 0 if start is None else bisect.bisect_left(history, start * 1000, key=_ts_ms)
        high = len(history) if end is None else bisect.bisect_right(history, end * 1000, key=_ts_ms)
        return _response(wire.advanced_rest_body(history[low:high][-limit:]), [("Content-Type", "application/json")])


def _refused(message: str) -> Reply:
    return Reply(frames=(wire.error_frame(message),))


def _trade_id(trade: SimTrade) -> int:
    return trade.trade_id


def _ts_ms(trade: SimTrade) -> int:
    return trade.ts_ms


def _integer(query: dict[str, list[str]], name: str, low: int, high: int) -> int | None:
    """A query parameter read as an integer within ``[low, high]`` (``None`` when absent).

    Raises:
        ValueError: It is not such an integer.
    """
    values = query.get(name)
    if not values:
        return None
    text = values[0]
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ValueError(f"invalid {name} {text[:40]!r}: expected an integer from {low} to {high}")
    return int(text)


def _response(body: bytes, headers: list[tuple[str, str]]) -> Response:
    return Response(
        HTTPStatus.OK.value, HTTPStatus.OK.phrase, Headers([*headers, ("Content-Length", str(len(body)))]), body
    )
