"""The simulated Coinbase venue: the Advanced Trade and Exchange market-data WebSockets, the public REST trades.

Frames are rendered by :mod:`streaming.simulator.coinbase_wire`; the conventions come from
:mod:`streaming.venues.coinbase` (Coinbase's Advanced Trade channel and protocol documentation, its AsyncAPI
spec, and production recordings) and ``tests/fixtures/coinbase``. Endpoints, under ``/coinbase``:

* ``/`` -- the WebSocket, at the root like ``wss://advanced-trade-ws.coinbase.com``. A client sends
  ``{"type": "subscribe" | "unsubscribe", "product_ids": [...], "channel": ...}`` (one channel per
  request, an optional ``jwt`` is accepted and ignored: the channels are public). Channels served:
  ``market_trades`` (trades), ``level2`` (order books, frames ``l2_data``), ``ticker`` and ``heartbeats``
  (no products needed; one frame a second). Every accepted request is answered by a ``subscriptions`` frame
  listing all the connection's subscriptions, then by the snapshots of what it newly subscribed: for
  ``market_trades`` products one frame of their latest :data:`SNAPSHOT_TRADES` trades (newest first; empty
  before a product's first trade; Coinbase does not document the snapshot's size, 50 is the simulator's
  choice), for ``level2`` one ``l2_data`` snapshot frame per product (the production recording shows one
  product per snapshot frame), for ``ticker`` one frame whose snapshot event lists every product. (The
  production recording has the level2 snapshot numbered before the ack; the order is not documented, and
  the simulator acknowledges first, as for ``market_trades``.) A bad request (invalid JSON, not an
  object, an unknown ``type``, a channel the simulator does not serve, a product it does not list,
  missing or ill-typed ``product_ids``) is refused with ``{"type": "error", "message": ...}`` and changes
  nothing; subscription failures start with ``"failure to subscribe"`` (Coinbase's text, as quoted in a
  public client's tests: fixture ``adv_error``), the details after it are the simulator's. A connection
  that has not subscribed within :data:`SUBSCRIBE_DEADLINE_SECONDS` is closed (code 1000): Coinbase's
  Exchange WebSocket overview says a connection without a subscribe message within 5 seconds is disconnected,
  and NautilusTrader's Advanced Trade adapter (``WS_SUBSCRIBE_DEADLINE``) says the same of this feed.
* ``/exchange`` -- the Exchange WebSocket feed, which Coinbase serves at the root of its own host,
  ``wss://ws-feed.exchange.coinbase.com`` (so live ``wss://ws-feed.exchange.coinbase.com/`` is
  ``ws://<sim>/coinbase/exchange`` here). A client sends ``{"type": "subscribe" | "unsubscribe",
  "product_ids": [...], "channels": [...]}``, a channel being a name or ``{"name", "product_ids"}``.
  Channels served: ``matches`` and ``heartbeat``. Every accepted request is answered by a
  ``subscriptions`` frame listing all the connection's subscriptions; a new ``matches`` subscription then
  gets one ``last_match`` per product (its latest trade; none before a product's first trade), then a
  ``match`` per trade. ``heartbeat`` sends one frame per subscribed product a second with the product's
  latest trade id on the tape (a trade the wire lost included: that is what lets a client see it),
  none before the product's first trade (the simulator's choice; a real product always has one). A bad
  request is refused with ``{"type": "error", "message": "Failed to subscribe", "reason": ...}``
  (``"message": "Malformed JSON"`` / ``"Invalid message type"`` for requests that are not a subscription)
  and changes nothing. Exchange frames carry no connection counter, so they are rendered once for all
  Exchange connections; the ``skip``, ``duplicate``, ``malformed``, reorder and disconnect faults apply
  to ``match`` frames exactly as to ``market_trades`` (a skipped trade shows as a trade-id jump, or in a
  heartbeat's ``last_trade_id``). No ``level2`` or ``ticker`` here (level2 on the Exchange needs
  authentication).
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

**Books and tickers.** Every product has a simulated order book (:class:`~streaming.simulator.books.SimBook`)
that every generated trade changes (the skipped ones too: the book is the venue's). After every emission
tick (10 ms) each ``level2`` subscriber gets one ``update`` frame per product whose book changed, with the
final size of each changed level (Coinbase's level2 "guarantees delivery of all updates"; sending the
changes of 10 ms at once is the simulator's batching). ``new_quantity`` is absolute, so an update that
repeats changes a subscriber's snapshot already holds is harmless. Each ``ticker`` subscriber gets one
``update`` frame per product that traded during the tick (Coinbase: "every time a match happens", batched
during cascading matches) with the latest price, the tape's volume, low and high, and the book's best bid
and ask after those trades. When ``sim_max_trades`` is reached the books stop changing and their last
changes and tickers are sent at once. The ticker statistics start from the product's reference price (the
tape's start price, as if it were the last trade before the simulator started) with no volume. There is no
REST book: a fresh snapshot comes from unsubscribing and subscribing ``level2`` again (an unsubscription
takes effect as its ack is numbered, so nothing of an unsubscribed product follows the ack).

**Book fault.** With ``sim_book_drop_every`` set, every Nth update of each product's book that has
subscribers is lost: every subscriber's ``sequence_num`` advances past it but the frame is never sent, so
the connection shows a jump, which is all Coinbase offers to detect a loss (level2 has no per-book
sequence or checksum). A silence (scenario fault) loses book updates the same way, so a book is never
silently wrong; trades and tickers lost to a silence take no number (lost trades show as trade-id gaps).
The changes still unsent when ``sim_max_trades`` is reached are sent and never dropped; an update lost
just before is revealed by the connection's next frame (a heartbeat at the latest).

**Sequence numbers.** ``sequence_num`` counts the frames of one connection from 0: subscription acks,
snapshots, trade, book and ticker updates and heartbeats alike (error frames carry none). Frames are
therefore rendered per connection (:meth:`CoinbaseSim.format_key` is the connection) with the counter in
``Client.state``, and each is written as soon as it is numbered, so numbers arrive in order; a
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
from streaming.simulator.books import SimBook
from streaming.simulator.market import SimTrade, profile_of
from streaming.simulator.outbox import broadcast
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim
from streaming.venues import coinbase

SNAPSHOT_TRADES = 50
"""Trades per product in the ``market_trades`` snapshot sent on subscription."""

SUBSCRIBE_DEADLINE_SECONDS = 5.0
"""A connection that has not subscribed by then is closed."""

REST_LIMIT = coinbase.REST_PAGE_LIMIT
"""The largest (and default) page of both REST trade endpoints."""

EXCHANGE_PATH = "/exchange"
"""The simulator path of the Exchange WebSocket feed (under ``/coinbase``)."""

EXCHANGE_CHANNELS: tuple[str, ...] = (wire.EXCHANGE_MATCHES_CHANNEL, wire.EXCHANGE_HEARTBEAT_CHANNEL)
"""The Exchange channels the simulator serves."""

SERVED_CHANNELS: tuple[str, ...] = (
    wire.TRADES_CHANNEL,
    wire.LEVEL2_CHANNEL,
    wire.TICKER_CHANNEL,
    wire.HEARTBEATS_CHANNEL,
)
"""The Advanced Trade channels the simulator serves."""

_EXCHANGE_TRADES = re.compile(r"/products/([^/]+)/trades")
_ADVANCED_TRADES = re.compile(r"/api/v3/brokerage/market/products/([^/]+)/ticker")
_HEARTBEATS: Subscription = (wire.HEARTBEATS_CHANNEL, wire.HEARTBEATS_CHANNEL)
_SUBSCRIBE_FAILED = "failure to subscribe"


class CoinbaseSim(VenueSim):
    """Coinbase: Advanced Trade, the Exchange feed (``matches``, ``heartbeat``), both REST trade histories.

    Advanced Trade channels: ``market_trades``, ``level2``, ``ticker``, ``heartbeats``.
    """

    venue = coinbase.VENUE
    trade_channels = (wire.TRADES_CHANNEL, wire.EXCHANGE_MATCHES_CHANNEL)
    heartbeat_seconds = 1.0

    subscribe_deadline: float = SUBSCRIBE_DEADLINE_SECONDS
    """Seconds a connection has to subscribe before it is closed (per instance, for tests)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instrument_of_product = {wire.symbol_of(instrument): instrument for instrument in self.instruments}
        self._started_ns = time.monotonic_ns()
        self._closing: set[asyncio.Task[None]] = set()
        self.books: dict[str, SimBook] = {
            instrument: SimBook(self.settings.sim_seed, instrument, (wire.LEVEL2_CHANNEL,))
            for instrument in self.instruments
        }
        self.tickers: dict[str, wire.TickerStats] = {
            instrument: wire.TickerStats.opening(profile_of(instrument).start_price) for instrument in self.instruments
        }
        self.book_drop_every = self.settings.sim_book_drop_every
        self._traded: dict[str, None] = {}
        self._update_counts: dict[str, int] = {}
        self.book_updates_sent = 0
        """Book updates sent (one count per product and tick, whatever the number of subscribers)."""
        self.book_updates_dropped = 0
        """Book updates the book fault (or a silence) lost."""
        self.book_snapshots_sent = 0
        """``l2_data`` snapshot frames sent (one per product and subscription)."""
        self.tickers_sent = 0
        """Ticker updates sent (one count per product and tick)."""

    # --- handshake and connections -----------------------------------------------------------

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        route = path.partition("?")[0]
        if route not in ("", "/", EXCHANGE_PATH):
            raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{route}")

    def open(self, client: Client) -> list[Subscription]:  # noqa: D102 - see VenueSim
        exchange = client.path.partition("?")[0] == EXCHANGE_PATH
        client.state.update(next_sequence=0, heartbeat_counter=None, subscribed=False, exchange=exchange)
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
        if client.state["exchange"]:
            return self._exchange_message(client, message)
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
        # Unsubscribed at once, not after the ack is written (the write may yield to a tick): nothing of what
        # the ack no longer lists follows it.
        self._unsubscribe(client, wanted)
        return Reply(frames=(ack,), unsubscribe=wanted)

    def _exchange_message(self, client: Client, message: str | bytes) -> Reply:
        """Answer an Exchange feed request: ``subscriptions`` ack, or an error that changes nothing."""
        try:
            request = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return Reply(frames=(wire.exchange_error_frame("Malformed JSON", "invalid JSON"),))
        action = request.get("type") if isinstance(request, dict) else None
        if action not in ("subscribe", "unsubscribe"):
            reason = f"type {action!r} is not 'subscribe' or 'unsubscribe'"
            return Reply(frames=(wire.exchange_error_frame("Invalid message type", reason),))
        try:
            wanted = self._exchange_requested(request)
        except ValueError as error:
            return Reply(frames=(wire.exchange_error_frame("Failed to subscribe", str(error)),))
        after = dict(client.subscriptions)
        if action == "subscribe":
            after.update(dict.fromkeys(wanted))
            client.state["subscribed"] = True
        else:
            for subscription in wanted:
                after.pop(subscription, None)
        listed: dict[str, list[str]] = {}
        for channel, instrument in after:
            listed.setdefault(channel, []).append(wire.symbol_of(instrument))
        ack = wire.exchange_subscriptions_frame(listed)
        if action == "subscribe":
            return Reply(frames=(ack,), subscribe=wanted)
        self._unsubscribe(client, wanted)
        return Reply(frames=(ack,), unsubscribe=wanted)

    def _exchange_requested(self, request: dict[str, Any]) -> list[Subscription]:
        """The subscriptions a valid Exchange request names (top-level ``product_ids`` and per-channel ones).

        Raises:
            ValueError: No channels, an unserved channel, a bad or unlisted product, a channel without products.
        """
        channels = request.get("channels")
        if not isinstance(channels, list) or not channels:
            raise ValueError("channels must be a non-empty array")
        shared = self._products(request.get("product_ids", []))
        wanted: list[Subscription] = []
        for entry in channels:
            if isinstance(entry, str):
                name, products = entry, shared
            elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
                name, products = entry["name"], self._products(entry.get("product_ids", [])) or shared
            else:
                raise ValueError(f"channel {entry!r} is neither a name nor {{'name', 'product_ids'}}")
            if name not in EXCHANGE_CHANNELS:
                raise ValueError(f"{name!r} is not a valid channel; channels: {', '.join(EXCHANGE_CHANNELS)}")
            if not products:
                raise ValueError(f"channel {name!r} needs product_ids")
            wanted.extend((name, instrument) for instrument in products)
        return list(dict.fromkeys(wanted))

    def _products(self, products: object) -> list[str]:
        """The canonical instruments of a ``product_ids`` value.

        Raises:
            ValueError: Not an array of strings, or a product the simulator does not list.
        """
        if not isinstance(products, list) or not all(isinstance(product, str) for product in products):
            raise ValueError("product_ids must be an array of strings")
        unknown = [product for product in products if product not in self._instrument_of_product]
        if unknown:
            raise ValueError(f"unknown product ids {unknown}; products: {sorted(self._instrument_of_product)}")
        return [self._instrument_of_product[product] for product in dict.fromkeys(products)]

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
        """Send the snapshots of what was just subscribed (none for ``heartbeats``).

        One ``market_trades`` frame for the new trade products, one ``l2_data`` frame per new ``level2``
        product, one ``ticker`` frame for the new ticker products. They are written here, each as soon as it
        is numbered (returning them would let the base class await between two of them, and a tick could
        then write later numbers first), so nothing is returned. An Exchange connection gets one
        ``last_match`` per new ``matches`` product that has traded.
        """
        if client.state["exchange"]:
            latest = [
                wire.exchange_match_frame(self.history[instrument][-1], last=True)
                for channel, instrument in added
                if channel == wire.EXCHANGE_MATCHES_CHANNEL and self.history[instrument]
            ]
            if client.connection.state is State.OPEN:
                for frame in latest:  # written now: no tick's match can come between two of them
                    broadcast([client.connection], frame)
            return []
        by_channel: dict[str, list[str]] = {}
        for channel, instrument in added:
            by_channel.setdefault(channel, []).append(instrument)
        now = time.time_ns()
        frames: list[str] = []
        instruments = by_channel.get(wire.TRADES_CHANNEL)
        if instruments:
            recent = [
                list(itertools.islice(reversed(self.history[instrument]), SNAPSHOT_TRADES))[::-1]
                for instrument in instruments
            ]
            frames.append(wire.snapshot_frame(recent, sequence_num=self._sequence(client), timestamp_ns=now))
        for instrument in by_channel.get(wire.LEVEL2_CHANNEL, ()):
            snapshot = self.books[instrument].snapshot()
            frames.append(
                wire.l2_snapshot_frame(instrument, snapshot, sequence_num=self._sequence(client), timestamp_ns=now)
            )
            self.book_snapshots_sent += 1
        instruments = by_channel.get(wire.TICKER_CHANNEL)
        if instruments:
            items = [self._ticker_item(instrument) for instrument in instruments]
            frames.append(wire.ticker_frame("snapshot", items, sequence_num=self._sequence(client), timestamp_ns=now))
        if client.connection.state is State.OPEN:
            for frame in frames:
                broadcast([client.connection], frame)
        return []

    def _ticker_item(self, instrument: str) -> dict[str, str]:
        book = self.books[instrument]
        return wire.ticker_item(instrument, self.tickers[instrument], book.best_bid(), book.best_ask())

    def heartbeat(self, client: Client) -> str | None:
        """A ``heartbeats`` frame for connections subscribed to the channel.

        An Exchange connection gets one ``heartbeat`` per subscribed product that has traded, written here
        (the base sends one frame per call), so nothing is returned for it.
        """
        if client.state["exchange"]:
            now = time.time_ns()
            for channel, instrument in list(client.subscriptions):
                history = self.history[instrument]
                if channel == wire.EXCHANGE_HEARTBEAT_CHANNEL and history and client.connection.state is State.OPEN:
                    frame = wire.exchange_heartbeat_frame(
                        instrument, last_trade_id=history[-1].trade_id, timestamp_ns=now
                    )
                    broadcast([client.connection], frame)
            return None
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
        """Each Advanced Trade connection gets its own rendering (its ``sequence_num``); Exchange ones share one."""
        return EXCHANGE_PATH if client.state["exchange"] else client

    def render(self, trade: SimTrade, channel: str, client: Client) -> str:  # noqa: D102 - see VenueSim
        if channel == wire.EXCHANGE_MATCHES_CHANNEL:
            return wire.exchange_match_frame(trade)
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

    # --- books and tickers ----------------------------------------------------------------------

    def tick(self, now: float, wall_ms: int) -> None:
        """Generate and send the due trades, apply them to the books, then send book and ticker updates."""
        super().tick(now, wall_ms)
        self._apply_trades()
        self._send_books(now, wall_ms * 1_000_000, final=False)

    async def run(self) -> None:
        """Emit trades until ``sim_max_trades``; then send the books' last changes (they change no more)."""
        await super().run()
        self._apply_trades()
        self._send_books(None, time.time_ns(), final=True)

    def _apply_trades(self) -> None:
        """Apply every trade generated since the last call (sent or not) to its book and ticker statistics."""
        for instrument in self.history:
            fresh = self.unapplied_trades(instrument)
            if not fresh:
                continue
            book = self.books[instrument]
            stats = self.tickers[instrument]
            for trade in fresh:
                book.on_trade(trade)
                stats = stats.with_trade(trade)
            self.tickers[instrument] = stats
            self._traded[instrument] = None

    def _send_books(self, now: float | None, event_time_ns: int, *, final: bool) -> None:
        """Send each changed book's update and each traded product's ticker to their subscribers.

        Args:
            now: The event loop's clock (``None`` when ``final``).
            event_time_ns: When the changes happened, epoch ns (the updates' ``event_time``).
            final: Emission has ended: never drop or silence.
        """
        lost_on_wire = not final and now is not None and self.silent(now)
        timestamp = time.time_ns()
        for instrument, book in self.books.items():
            diff = book.drain(wire.LEVEL2_CHANNEL)
            clients = self.subscribers(wire.LEVEL2_CHANNEL, instrument)
            if diff is None or not clients:
                continue
            counted = self._update_counts[instrument] = self._update_counts.get(instrument, 0) + 1
            drop_every = self.book_drop_every
            dropped = drop_every is not None and counted % drop_every == 0
            if not final and (lost_on_wire or dropped):
                self.book_updates_dropped += 1
                for client in clients:
                    self._sequence(client)  # numbered, never sent: the connection shows a jump
                continue
            self.book_updates_sent += 1
            for client in clients:
                frame = wire.l2_update_frame(
                    instrument,
                    diff,
                    event_time_ns=event_time_ns,
                    sequence_num=self._sequence(client),
                    timestamp_ns=timestamp,
                )
                broadcast([client.connection], frame)
        traded, self._traded = self._traded, {}
        if lost_on_wire:
            return
        for instrument in traded:
            clients = self.subscribers(wire.TICKER_CHANNEL, instrument)
            if not clients:
                continue
            self.tickers_sent += 1
            item = self._ticker_item(instrument)
            for client in clients:
                frame = wire.ticker_frame("update", [item], sequence_num=self._sequence(client), timestamp_ns=timestamp)
                broadcast([client.connection], frame)

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
