"""The simulated Kraken Futures venue (frames rendered by :mod:`streaming.simulator.krakenfutures_wire`).

Endpoints, under ``/krakenfutures``, as on ``futures.kraken.com`` (sources: the Kraken Futures WebSocket v1
documentation, https://docs.kraken.com/api/docs/futures-api/websocket/trade and ``.../websocket/heartbeat``;
"Get public execution events", https://docs.kraken.com/api/docs/futures-api/history/get-public-execution-events;
the conventions and captures documented in :mod:`streaming.venues.krakenfutures` and
``tests/fixtures/krakenfutures/``):

* ``/ws/v1`` -- the WebSocket. On connect the venue sends ``{"event":"info","version":1}``. Requests are
  ``{"event":"subscribe"|"unsubscribe","feed":...,"product_ids":[...]}``:

  - ``trade`` of a simulated product: ``{"event":"subscribed","feed":"trade","product_ids":[...]}``, then one
    ``trade_snapshot`` per product (its last :data:`SNAPSHOT_TRADES` trades on the tape, newest first, the ones
    the wire lost included, as the venue's own tape has them), then a ``trade`` message per trade.
  - ``heartbeat`` (no product ids): ``{"event":"subscribed","feed":"heartbeat"}``, then
    ``{"feed":"heartbeat","time":...}`` every :attr:`KrakenFuturesSim.heartbeat_seconds`.
  - A product id that is a well-formed Kraken Futures product but not simulated here:
    ``{"event":"subscribed_failed","feed":...,"product_ids":[...]}`` (the simulated ones of the same request
    are subscribed). Unsubscribing what is not subscribed: ``unsubscribed_failed``.
  - ``book``, ``ticker`` and ``ticker_lite`` are real public feeds this simulator does not produce: their
    subscriptions fail with ``subscribed_failed``.
  - Bad requests: text that is not a JSON object, or an unknown ``event``, or no ``feed`` string ->
    ``{"event":"error","message":"Json Error"}``; product ids missing, not a list of strings, or not Kraken
    Futures product ids -> ``{"event":"error","message":"Invalid product id"}``; an unknown feed ->
    ``{"event":"alert","message":"Couldn't subscribe to invalid feed"}`` (as captured from the live venue;
    ``{"event":"error","message":"Invalid feed"}`` for an unsubscription); a private feed (``fills``,
    ``open_orders``...) -> ``{"event":"alert","message":"Failed to subscribe to authenticated feed"}``.

  ``seq`` is the per-product trade counter, venue-wide: every connection gets the same rendering of a trade.
* ``GET /api/history/v3/market/{product_id}/executions`` with ``since``/``before`` (ms; ``since`` inclusive,
  ``before`` exclusive), ``sort`` (``asc``/``desc``, default ``desc``), ``count`` (at most
  :data:`MAX_EXECUTIONS`, the default) and ``continuation_token`` (from the previous answer's
  ``continuationToken`` or ``Next-Continuation-Token`` header): every generated trade, the skipped ones too,
  as the venue's history has them. Bad parameters are HTTP 400 and an unknown product or path HTTP 404, with
  the venue's error document.

Any other path is refused during the handshake with HTTP 404.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import json
import re
import time
from collections.abc import Hashable, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import broadcast
from websockets.datastructures import Headers
from websockets.http11 import Response

from streaming.errors import ParseError
from streaming.simulator import krakenfutures_wire as wire
from streaming.simulator.market import SimTrade
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim
from streaming.venues import krakenfutures

WS_PATH = "/ws/v1"
"""The venue's WebSocket path (``wss://futures.kraken.com/ws/v1``)."""

SNAPSHOT_TRADES = 100
"""Trades in the ``trade_snapshot`` sent after a subscription."""

MAX_EXECUTIONS = 1000
"""The most executions one REST answer lists (and the default ``count``)."""

HEARTBEAT = ("heartbeat", "")
"""The subscription of the ``heartbeat`` feed (it has no product)."""

_EXECUTIONS = re.compile(r"/api/history/v3/market/([^/]+)/executions/?")
_UNSIMULATED_FEEDS = frozenset({"book", "ticker", "ticker_lite"})
_PRIVATE_FEEDS = frozenset(
    {"fills", "open_orders", "open_orders_verbose", "open_positions", "account_log", "balances", "notifications_auth"}
)
_SUBSCRIBE = ("subscribe", "unsubscribe")


class KrakenFuturesSim(VenueSim):
    """Kraken Futures: the v1 WebSocket (``trade`` and ``heartbeat`` feeds) and the public execution history."""

    venue = krakenfutures.VENUE
    trade_channels = ("trade",)
    heartbeat_seconds = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instrument_of_product = {wire.product_id_of(instrument): instrument for instrument in self.instruments}

    # --- handshake ---------------------------------------------------------------------------

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        route = path.partition("?")[0]
        if route not in (WS_PATH, f"{WS_PATH}/"):
            raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{route}")

    def open(self, client: Client) -> list[Subscription]:
        """Greet a new connection with ``{"event":"info","version":1}``; the URL subscribes to nothing."""
        broadcast([client.connection], wire.info_message())
        return []

    # --- REST --------------------------------------------------------------------------------

    def is_rest(self, path: str) -> bool:  # noqa: D102 - see VenueSim
        return path.startswith(("/api/", "/derivatives/"))

    def rest(self, path: str, query: dict[str, list[str]]) -> Response:
        """``GET /api/history/v3/market/{product_id}/executions``: the trades on the tape, sent or not."""
        match = _EXECUTIONS.fullmatch(path)
        instrument = self._instrument_of_product.get(match.group(1).upper()) if match is not None else None
        if instrument is None:
            raise _refusal(HTTPStatus.NOT_FOUND)
        try:
            request = executions_request(query)
        except ValueError as error:
            raise _refusal(HTTPStatus.BAD_REQUEST, str(error)) from None
        trades, more = select_executions(self.trades_from(instrument), **request)
        document = wire.rest_page(trades, more)
        body = json.dumps(document, separators=(",", ":")).encode()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        if "continuationToken" in document:
            headers["Next-Continuation-Token"] = document["continuationToken"]
        return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)

    # --- live requests -----------------------------------------------------------------------

    def on_message(self, client: Client, message: str | bytes) -> Reply:  # noqa: D102 - see VenueSim
        try:
            request = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return Reply(frames=(wire.error_message("Json Error"),))
        if not isinstance(request, dict):
            return Reply(frames=(wire.error_message("Json Error"),))
        event = request.get("event")
        feed = request.get("feed")
        if event not in _SUBSCRIBE or not isinstance(feed, str):
            return Reply(frames=(wire.error_message("Json Error"),))
        subscribing = event == "subscribe"
        if feed == "heartbeat":
            return self._heartbeat_request(client, subscribing)
        if feed in _PRIVATE_FEEDS:
            return Reply(frames=(wire.alert_message("Failed to subscribe to authenticated feed"),))
        if feed != "trade" and feed not in _UNSIMULATED_FEEDS:
            if subscribing:
                return Reply(frames=(wire.alert_message("Couldn't subscribe to invalid feed"),))
            return Reply(frames=(wire.error_message("Invalid feed"),))
        product_ids = _product_ids(request.get("product_ids"))
        if product_ids is None:
            return Reply(frames=(wire.error_message("Invalid product id"),))
        if feed != "trade":
            return Reply(frames=(wire.event_message(f"{event}d_failed", feed, product_ids),))
        if subscribing:
            return self._subscribe_trades(product_ids)
        return self._unsubscribe_trades(client, product_ids)

    def _heartbeat_request(self, client: Client, subscribing: bool) -> Reply:
        if subscribing:
            return Reply(frames=(wire.event_message("subscribed", "heartbeat"),), subscribe=[HEARTBEAT])
        if HEARTBEAT not in client.subscriptions:
            return Reply(frames=(wire.event_message("unsubscribed_failed", "heartbeat"),))
        return Reply(frames=(wire.event_message("unsubscribed", "heartbeat"),), unsubscribe=[HEARTBEAT])

    def _subscribe_trades(self, product_ids: list[str]) -> Reply:
        known = [product for product in product_ids if product in self._instrument_of_product]
        unknown = [product for product in product_ids if product not in self._instrument_of_product]
        frames = []
        if known:
            frames.append(wire.event_message("subscribed", "trade", known))
        if unknown:
            frames.append(wire.event_message("subscribed_failed", "trade", unknown))
        return Reply(frames=frames, subscribe=[("trade", self._instrument_of_product[product]) for product in known])

    def _unsubscribe_trades(self, client: Client, product_ids: list[str]) -> Reply:
        subscribed = [
            product
            for product in product_ids
            if ("trade", self._instrument_of_product.get(product, "")) in client.subscriptions
        ]
        others = [product for product in product_ids if product not in subscribed]
        frames = []
        if subscribed:
            frames.append(wire.event_message("unsubscribed", "trade", subscribed))
        if others:
            frames.append(wire.event_message("unsubscribed_failed", "trade", others))
        return Reply(
            frames=frames, unsubscribe=[("trade", self._instrument_of_product[product]) for product in subscribed]
        )

    def after_subscribe(self, client: Client, added: Sequence[Subscription]) -> list[str]:
        """One ``trade_snapshot`` per newly subscribed product: its latest trades on the tape."""
        frames = []
        for channel, instrument in added:
            if channel == "trade":
                recent = list(itertools.islice(reversed(self.history[instrument]), SNAPSHOT_TRADES))
                frames.append(wire.snapshot_message(self.symbol(instrument), recent[::-1]))
        return frames

    def heartbeat(self, client: Client) -> str | None:
        """A ``heartbeat`` message for a connection subscribed to the heartbeat feed."""
        if HEARTBEAT not in client.subscriptions:
            return None
        return wire.heartbeat_message(time.time_ns() // 1_000_000)

    # --- frames ------------------------------------------------------------------------------

    def format_key(self, client: Client) -> Hashable:
        """Every connection gets the same rendering (``seq`` is per product, not per connection)."""
        return self.venue

    def render(self, trade: SimTrade, channel: str, client: Client) -> str:  # noqa: D102 - see VenueSim
        return wire.trade_message(trade)

    def truth(self, trade: SimTrade, channel: str) -> TruthFields:  # noqa: D102 - see VenueSim
        return TruthFields(
            trade_id=wire.uid_of(trade),
            price=Decimal(wire.wire_number(trade.price_text)),
            size=Decimal(wire.wire_number(trade.size_text)),
            ts_event=wire.truth_ts_event(trade),
        )

    def symbol(self, instrument: str) -> str:  # noqa: D102 - see VenueSim
        return wire.product_id_of(instrument)


def _product_ids(value: object) -> list[str] | None:
    """The upper-case product ids of a request (without repeats), or ``None`` when they are not valid."""
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        return None
    try:
        for item in value:
            krakenfutures.to_instrument(item)
    except ParseError:
        return None
    return list(dict.fromkeys(item.upper() for item in value))


def executions_request(query: dict[str, list[str]]) -> dict[str, Any]:
    """The parameters of a public-execution-events request, checked.

    Args:
        query: The parsed query string.

    Returns:
        The keyword arguments of :func:`select_executions`.

    Raises:
        ValueError: A parameter is malformed.
    """

    def first(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    def millis(name: str) -> int | None:
        text = first(name)
        if text is None:
            return None
        if not text.isdigit() or len(text) > 18:
            raise ValueError(f"Invalid {name}: {text[:40]!r} is not a timestamp in milliseconds")
        return int(text)

    sort = first("sort") or "desc"
    if sort not in ("asc", "desc"):
        raise ValueError(f"Invalid sort: {sort[:40]!r}; expected asc or desc")
    count_text = first("count")
    count = MAX_EXECUTIONS
    if count_text is not None:
        if not count_text.isdigit() or int(count_text) < 1:
            raise ValueError(f"Invalid count: {count_text[:40]!r}")
        count = min(int(count_text), MAX_EXECUTIONS)
    token = first("continuation_token")
    after = wire.read_continuation_token(token) if token is not None else None
    return {
        "since": millis("since"),
        "before": millis("before"),
        "ascending": sort == "asc",
        "count": count,
        "after": after,
    }


def select_executions(
    trades: Sequence[SimTrade],
    *,
    since: int | None,
    before: int | None,
    ascending: bool,
    count: int,
    after: tuple[int, int] | None,
) -> tuple[list[SimTrade], bool]:
    """One page of an instrument's trades.

    Args:
        trades: The instrument's trades, oldest first (event times never decrease, ``seq`` increases).
        since: List trades at or after this time (epoch ms).
        before: List trades before this time (epoch ms).
        ascending: Oldest first (``sort=asc``) rather than newest first.
        count: The most trades to list.
        after: A continuation position ``(timestamp, seq)``: list only trades past it in the sort order.

    Returns:
        The page, and whether more trades match.
    """
    low = 0 if since is None else bisect.bisect_left(trades, since, key=lambda trade: trade.ts_ms)
    high = len(trades) if before is None else bisect.bisect_left(trades, before, key=lambda trade: trade.ts_ms)
    window = list(trades[low:high]) if ascending else list(reversed(trades[low:high]))
    if after is not None:
        if ascending:
            window = [trade for trade in window if (trade.ts_ms, wire.seq_of(trade)) > after]
        else:
            window = [trade for trade in window if (trade.ts_ms, wire.seq_of(trade)) < after]
    return window[:count], len(window) > count


def _refusal(status: HTTPStatus, message: str | None = None) -> Refusal:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Refusal(status, wire.rest_error(status.value, status.name, now, message))
