"""The simulated Kraken spot venue, WebSocket v2 (frames rendered by :mod:`streaming.simulator.kraken_wire`).

Endpoints, under ``/kraken``, as on Kraken (sources: the WebSocket v2 reference,
https://docs.kraken.com/api/docs/websocket-v2/trade, .../websocket-v2/status, .../websocket-v2/heartbeat,
.../websocket-v2/ping, the v2 introduction https://docs.kraken.com/api/docs/guides/spot-ws-intro, and the REST
reference https://docs.kraken.com/api/docs/rest-api/get-recent-trades; the frame shapes are those of the
captured and documented frames in ``tests/fixtures/kraken/``):

* ``/v2`` (``wss://ws.kraken.com/v2``) -- the public WebSocket. Every connection is greeted by a ``status``
  frame (``system: online``, a 64-bit ``connection_id``). Requests are JSON objects with ``method``, ``params``
  and an optional integer ``req_id`` that every reply echoes:

  - ``subscribe`` ``{"channel": "trade", "symbol": [...], "snapshot": true}`` -- one reply per symbol: an ack
    ``{"method":"subscribe","result":{"channel":"trade","snapshot":true,"symbol":...},"success":true,...}``,
    or a refusal (``"Currency pair not supported <symbol>"`` for a pair the venue does not list,
    ``"Already subscribed"``); then, per subscribed symbol, a trade ``snapshot`` of its last 50 trades (unless
    ``snapshot`` is false), then ``update`` frames, one per trade.
  - ``unsubscribe`` (the same params without ``snapshot``) -- one reply per symbol (``"Subscription Not Found"``
    when not subscribed).
  - ``ping`` -- answered by ``pong``; a ``ping`` with ``params`` is refused as Kraken does
    (``"Unsupported field: 'params' for the given msg type: ping"``).
  - Anything else is refused with ``"success": false`` and an ``error``: text that is not a JSON object
    (``"Malformed request"``), a ``req_id`` that is not an unsigned integer (not echoed), a missing ``method``,
    an unknown method (``"Method not found"``), params that are not an object, a field the channel does not take
    (``"Unsupported field: ..."``), and a channel the simulator does not serve (``book``, ``ticker``: the
    simulator has trades only).

  ``{"channel":"heartbeat"}`` is sent about once a second to every connection with a subscription. Trade
  ids are consecutive per pair (the tape's ids), so a skipped trade shows as a jump in ``trade_id``; Kraken
  puts no other sequence number on trades. Any other path is refused during the handshake with HTTP 404.
* ``GET /0/public/Trades?pair=&since=&count=`` -- the generated trades of a pair (the ones the wire never
  delivered too, as the venue's history has them), for gap repair. ``pair`` may be the altname (``XBTUSD``),
  the internal name (``XXBTZUSD``), the v2 symbol (``BTC/USD``) or ``BTCUSD``. ``since`` is in epoch
  nanoseconds (a value below 10^12 is read as seconds, as Kraken accepts both) and exclusive, as Kraken's
  client libraries document it ("trade data since given id (exclusive)"). ``count`` is 1..1000 (default 1000).
  Without ``since`` the newest ``count`` trades are returned; with it, the oldest ``count`` trades after it.
  ``last`` is the time (ns) of the newest trade returned (``since`` when none is), the cursor of the next page.
  Errors are Kraken's (HTTP 200 with a non-empty ``error`` list): ``EQuery:Unknown asset pair``,
  ``EGeneral:Invalid arguments``.
"""

from __future__ import annotations

import bisect
import json
import random
import time
from collections.abc import Hashable, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import broadcast
from websockets.datastructures import Headers
from websockets.http11 import Response

from streaming.simulator import kraken_wire
from streaming.simulator.market import SimTrade
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim
from streaming.venues import kraken
from streaming.venues.kraken import REST_TRADES_COUNT, REST_TRADES_PATH

WS_PATHS = ("/v2", "/v2/")
"""The WebSocket endpoint's paths under ``/kraken``."""

TRADE = "trade"
_SUBSCRIBE_FIELDS = frozenset({"channel", "symbol", "snapshot"})
_UNSUBSCRIBE_FIELDS = frozenset({"channel", "symbol"})
_SECONDS_BELOW = 10**12
"""A REST ``since`` below this is in seconds, not nanoseconds."""
_MAX_REQ_ID = 2**63 - 1


class KrakenSim(VenueSim):
    """Kraken spot, WebSocket v2: status, trade subscriptions with snapshots, heartbeats, ``/0/public/Trades``."""

    venue = kraken.VENUE
    trade_channels = (TRADE,)
    heartbeat_seconds = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instrument_of_symbol = {kraken_wire.symbol_of(i): i for i in self.instruments}
        self._instrument_of_pair = {name: i for i in self.instruments for name in kraken_wire.rest_pair_names(i)}
        self._connection_ids = random.Random(f"ticklake-simulator/{self.settings.sim_seed}/kraken-connections")

    # --- handshake -----------------------------------------------------------------------------

    def is_rest(self, path: str) -> bool:  # noqa: D102 - see VenueSim
        return path == REST_TRADES_PATH

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        if urlsplit(path).path not in WS_PATHS:
            raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{urlsplit(path).path}")

    def open(self, client: Client) -> list[Subscription]:
        """Greet the connection with a ``status`` frame, before anything else can be sent to it."""
        connection_id = self._connection_ids.getrandbits(64)
        client.state.update(connection_id=connection_id, snapshot={})
        broadcast([client.connection], kraken_wire.status_frame(connection_id))
        return []

    # --- REST ----------------------------------------------------------------------------------

    def rest(self, path: str, query: dict[str, list[str]]) -> Response:
        """``GET /0/public/Trades?pair=&since=&count=``: every generated trade of the pair, sent or not."""
        pair = query.get("pair", [""])[0]
        if not pair:
            return _rest_response(kraken_wire.rest_error("EGeneral:Invalid arguments"))
        instrument = self._instrument_of_pair.get(pair)
        if instrument is None:
            return _rest_response(kraken_wire.rest_error("EQuery:Unknown asset pair"))
        try:
            since = _query_int(query, "since")
            count = _query_int(query, "count")
        except ValueError:
            return _rest_response(kraken_wire.rest_error("EGeneral:Invalid arguments"))
        if count is None:
            count = REST_TRADES_COUNT
        if not 1 <= count <= REST_TRADES_COUNT:
            return _rest_response(kraken_wire.rest_error("EGeneral:Invalid arguments"))
        trades, last = select_trades(self.trades_from(instrument), since, count)
        return _rest_response(kraken_wire.rest_trades(instrument, trades, last))

    # --- live requests -------------------------------------------------------------------------

    def on_message(self, client: Client, message: str | bytes) -> Reply:  # noqa: D102 - see VenueSim
        time_in = time.time_ns()
        try:
            request = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            request = None
        if not isinstance(request, dict):
            return Reply(frames=(kraken_wire.error("Malformed request", None, None, time_in, time.time_ns()),))
        method = request.get("method")
        req_id = request.get("req_id")
        if req_id is not None and (type(req_id) is not int or not 0 <= req_id <= _MAX_REQ_ID):
            return self._refuse("Malformed request: req_id must be an unsigned integer", method, None, time_in)
        if not isinstance(method, str):
            return self._refuse("Malformed request: method must be a string", None, req_id, time_in)
        if method == "ping":
            if "params" in request:
                return self._refuse(
                    f"Unsupported field: 'params' for the given msg type: {method}", method, req_id, time_in
                )
            return Reply(frames=(kraken_wire.pong(req_id, time_in, time.time_ns()),))
        if method in ("subscribe", "unsubscribe"):
            return self._subscription(client, method, request.get("params"), req_id, time_in)
        return self._refuse("Method not found", method, req_id, time_in)

    def _refuse(self, message: str, method: object, req_id: int | None, time_in: int) -> Reply:
        name = method if isinstance(method, str) else None
        return Reply(frames=(kraken_wire.error(message, name, req_id, time_in, time.time_ns()),))

    def _subscription(self, client: Client, method: str, params: object, req_id: int | None, time_in: int) -> Reply:
        """Answer a ``subscribe`` or ``unsubscribe``: one reply per symbol, then the subscription changes."""
        if not isinstance(params, dict):
            return self._refuse("Malformed request: params must be an object", method, req_id, time_in)
        allowed = _SUBSCRIBE_FIELDS if method == "subscribe" else _UNSUBSCRIBE_FIELDS
        extra = sorted(key for key in params if key not in allowed)
        channel = params.get("channel")
        if not isinstance(channel, str):
            return self._refuse("Malformed request: channel must be a string", method, req_id, time_in)
        if channel != TRADE:
            return self._refuse(f"Channel not supported by the simulator: {channel[:40]}", method, req_id, time_in)
        if extra:
            return self._refuse(
                f"Unsupported field: '{extra[0][:40]}' for the given msg type: {method} {channel}",
                method,
                req_id,
                time_in,
            )
        snapshot = params.get("snapshot", True)
        if not isinstance(snapshot, bool):
            return self._refuse("Malformed request: snapshot must be a boolean", method, req_id, time_in)
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            return self._refuse("Malformed request: symbol must be a list of strings", method, req_id, time_in)
        frames: list[str] = []
        changes: list[Subscription] = []
        for symbol in dict.fromkeys(symbols):
            instrument = self._instrument_of_symbol.get(symbol)
            if instrument is None:
                problem = f"Currency pair not supported {symbol[:40]}"
                frames.append(kraken_wire.error(problem, method, req_id, time_in, time.time_ns(), symbol=symbol))
                continue
            conflict = _conflict(method, (TRADE, instrument) in client.subscriptions)
            if conflict is not None:
                frames.append(kraken_wire.error(conflict, method, req_id, time_in, time.time_ns(), symbol=symbol))
                continue
            changes.append((TRADE, instrument))
            result: dict[str, Any] = {"channel": TRADE, "symbol": symbol}
            if method == "subscribe":
                result = {"channel": TRADE, "snapshot": snapshot, "symbol": symbol}
                client.state["snapshot"][instrument] = snapshot
            frames.append(kraken_wire.ack(method, result, req_id, time_in, time.time_ns()))
        if method == "subscribe":
            return Reply(frames=frames, subscribe=changes)
        return Reply(frames=frames, unsubscribe=changes)

    def after_subscribe(self, client: Client, added: Sequence[Subscription]) -> list[str]:
        """A trade snapshot (the last 50 trades, oldest first) per subscribed pair that asked for one."""
        frames = []
        for _channel, instrument in added:
            if client.state["snapshot"].pop(instrument, True):
                history = self.history[instrument]
                recent = [history[i] for i in range(max(0, len(history) - kraken_wire.SNAPSHOT_TRADES), len(history))]
                frames.append(kraken_wire.trade_snapshot(recent))
        return frames

    def heartbeat(self, client: Client) -> str | None:
        """``{"channel":"heartbeat"}`` to connections with a subscription."""
        return kraken_wire.HEARTBEAT if client.subscriptions else None

    # --- frames --------------------------------------------------------------------------------

    def format_key(self, client: Client) -> Hashable:
        """Trade frames carry nothing per connection: every subscriber shares one rendering."""
        return TRADE

    def render(self, trade: SimTrade, channel: str, client: Client) -> str:  # noqa: D102 - see VenueSim
        return kraken_wire.trade_update(trade)

    def truth(self, trade: SimTrade, channel: str) -> TruthFields:  # noqa: D102 - see VenueSim
        return TruthFields(
            trade_id=str(trade.trade_id),
            price=kraken_wire.price_of(trade),
            size=kraken_wire.qty_of(trade),
            ts_event=kraken_wire.ts_event_of(trade),
        )

    def symbol(self, instrument: str) -> str:  # noqa: D102 - see VenueSim
        return kraken_wire.symbol_of(instrument)


def select_trades(history: Sequence[SimTrade], since: int | None, count: int) -> tuple[list[SimTrade], int]:
    """The trades of one REST page and its ``last`` cursor.

    Args:
        history: A pair's trades, oldest first (event times non-decreasing).
        since: Exclusive lower bound of the trades' time (epoch ns; below 10^12: seconds), or ``None`` for the
            newest trades.
        count: At most this many trades.

    Returns:
        The trades (oldest first) and ``last``: the time (ns) of the newest one, or ``since`` (0 without it)
        when there is none.
    """
    if since is None:
        chosen = list(history[-count:])
        bound = 0
    else:
        bound = since * 1_000_000_000 if since < _SECONDS_BELOW else since
        start = bisect.bisect_right(history, bound, key=kraken_wire.ts_event_of)
        chosen = list(history[start : start + count])
    last = kraken_wire.ts_event_of(chosen[-1]) if chosen else bound
    return chosen, last


def _conflict(method: str, subscribed: bool) -> str | None:
    """Why a (un)subscription of one known symbol is refused, if it is."""
    if method == "subscribe" and subscribed:
        return "Already subscribed"
    if method == "unsubscribe" and not subscribed:
        return "Subscription Not Found"
    return None


def _query_int(query: dict[str, list[str]], name: str) -> int | None:
    """A query parameter of decimal digits as an int (``None`` when absent).

    Raises:
        ValueError: The value is not 1 to 19 decimal digits.
    """
    values = query.get(name)
    if not values:
        return None
    value = values[0]
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise ValueError(f"{name} is not an integer: {value[:40]!r}")
    return int(value)


def _rest_response(body: bytes) -> Response:
    headers = Headers([("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))])
    return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)
