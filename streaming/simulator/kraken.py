"""The simulated Kraken spot venue, WebSocket v2 (frames rendered by :mod:`streaming.simulator.kraken_wire`).

Endpoints, under ``/kraken``, as on Kraken (sources: the WebSocket v2 reference,
https://docs.kraken.com/api/docs/websocket-v2/trade, .../websocket-v2/book, .../websocket-v2/ticker,
.../websocket-v2/status, .../websocket-v2/heartbeat, .../websocket-v2/ping, the v2 introduction
https://docs.kraken.com/api/docs/guides/spot-ws-intro, the book checksum guide
https://docs.kraken.com/api/docs/guides/spot-ws-book-v2, and the REST reference
https://docs.kraken.com/api/docs/rest-api/get-recent-trades; the frame shapes are those of the captured and
documented frames in ``tests/fixtures/kraken/``):

* ``/v2`` (``wss://ws.kraken.com/v2``) -- the public WebSocket. Every connection is greeted by a ``status``
  frame (``system: online``, a 64-bit ``connection_id``). Requests are JSON objects with ``method``, ``params``
  and an optional integer ``req_id`` that every reply echoes:

  - ``subscribe`` ``{"channel": "trade" | "book" | "ticker", "symbol": [...], "snapshot": true}`` (``book``
    also takes ``depth``: 10, 25, 100, 500 or 1000, default 10; ``ticker`` takes ``event_trigger``: ``trades``,
    the default, or ``bbo``) -- one reply per symbol: an ack whose ``result`` echoes the channel, its option,
    ``snapshot`` and the symbol (``{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"}``,
    ``{"channel":"ticker","event_trigger":"trades","snapshot":true,"symbol":"BTC/USD"}``, as captured), or a
    refusal (``"Currency pair not supported <symbol>"`` for a pair the venue does not list, ``"Already
    subscribed"``); then, per subscribed symbol and unless ``snapshot`` is false, a snapshot: the last 50 trades,
    the book's top levels to the subscribed depth, or the ticker; then ``update`` frames.
  - ``unsubscribe`` (the same params without ``snapshot``) -- one reply per symbol (``"Subscription Not Found"``
    when not subscribed, or when the ``depth`` / ``event_trigger`` given is not the subscription's); no frame of
    that channel and symbol follows the reply. Unsubscribing then subscribing a book is how a client gets a fresh
    snapshot (Kraken has no REST book snapshot of the WebSocket's book).
  - ``ping`` -- answered by ``pong``; a ``ping`` with ``params`` is refused as Kraken does
    (``"Unsupported field: 'params' for the given msg type: ping"``).
  - Anything else is refused with ``"success": false`` and an ``error``: text that is not a JSON object
    (``"Malformed request"``), a ``req_id`` that is not an unsigned integer (not echoed), a missing ``method``,
    an unknown method (``"Method not found"``), params that are not an object, a field the channel does not take
    (``"Unsupported field: ..."``), a book depth Kraken does not serve (``"Subscription depth not supported"``),
    and a channel the simulator does not serve (``"Channel not supported by the simulator: ..."``).

  ``{"channel":"heartbeat"}`` is sent about once a second to every connection with a subscription. Trade
  ids are consecutive per pair (the tape's ids), so a skipped trade shows as a jump in ``trade_id``; Kraken
  puts no other sequence number on trades. Any other path is refused during the handshake with HTTP 404.

  **Books** (:mod:`streaming.simulator.books`): every pair has a simulated book that every generated trade changes
  (the skipped ones too: the book is the venue's). Each emission tick (10 ms), every (pair, depth) stream whose
  top levels changed gets one ``update`` with the changed levels (Kraken streams changes as they happen; the
  simulator coalesces those of one tick) and the checksum of the book after it; a level that falls out of the
  subscribed depth is not removed explicitly (the subscriber truncates, as the checksum guide prescribes). Kraken
  books carry no sequence number: the checksum is the only gap signal. Book fault: with ``sim_book_drop_every``
  set, every Nth update of each stream that has subscribers is never sent, so the next update's checksum does not
  match the subscriber's book, which must resubscribe for a snapshot; the silence fault silences books too.
  **Tickers**: ``trades`` subscribers get an update per pair that traded in a tick, ``bbo`` subscribers one per
  change of the best bid or ask; the statistics cover the last 24 hours of the tape. When ``sim_max_trades`` is
  reached, the tick that reaches it sends the last book and ticker changes without faults (a stream whose last
  update was lost with nothing after it to reveal it gets the changes since the view its subscribers hold, so
  every subscriber ends with the final book), and nothing changes afterwards: a client then resubscribing gets
  the final book.
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
from typing import Any, Literal
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

from streaming.simulator import kraken_wire
from streaming.simulator.books import BookSnapshot, SimBook
from streaming.simulator.market import SimTrade
from streaming.simulator.outbox import broadcast
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim
from streaming.venues import kraken
from streaming.venues.kraken import BOOK_DEPTHS, REST_TRADES_COUNT, REST_TRADES_PATH, TICKER_TRIGGERS

WS_PATHS = ("/v2", "/v2/")
"""The WebSocket endpoint's paths under ``/kraken``."""

TRADE = "trade"
BOOK = "book"
TICKER = "ticker"
CHANNELS = (TRADE, BOOK, TICKER)
"""The channels the simulator serves."""

DEFAULT_DEPTH = 10
"""The book depth of a subscription that names none (Kraken's default)."""

DEFAULT_TRIGGER = "trades"
"""The ticker ``event_trigger`` of a subscription that names none (Kraken's default)."""

_SUBSCRIBE_FIELDS = {
    TRADE: frozenset({"channel", "symbol", "snapshot"}),
    BOOK: frozenset({"channel", "symbol", "snapshot", "depth"}),
    TICKER: frozenset({"channel", "symbol", "snapshot", "event_trigger"}),
}
_UNSUBSCRIBE_FIELDS = {
    TRADE: frozenset({"channel", "symbol"}),
    BOOK: frozenset({"channel", "symbol", "depth"}),
    TICKER: frozenset({"channel", "symbol", "event_trigger"}),
}
_SECONDS_BELOW = 10**12
"""A REST ``since`` below this is in seconds, not nanoseconds."""
_MAX_REQ_ID = 2**63 - 1


class KrakenSim(VenueSim):
    """Kraken spot, WebSocket v2: status, trade, book and ticker subscriptions with snapshots, heartbeats, REST.

    Attributes:
        books: The simulated book of every configured instrument, changed by every trade of the tape.
        tickers: The 24-hour ticker statistics of every configured instrument.
        book_drop_every: Every Nth book update of each (pair, depth) stream is never sent (``None``: none).
        book_updates_sent: Book updates sent (one count per pair, depth and tick).
        book_updates_dropped: Book updates the drop fault never sent.
        tickers_sent: Ticker updates sent (one count per pair, trigger and tick).
    """

    venue = kraken.VENUE
    trade_channels = (TRADE,)
    heartbeat_seconds = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instrument_of_symbol = {kraken_wire.symbol_of(i): i for i in self.instruments}
        self._instrument_of_pair = {name: i for i in self.instruments for name in kraken_wire.rest_pair_names(i)}
        self._connection_ids = random.Random(f"ticklake-simulator/{self.settings.sim_seed}/kraken-connections")
        self.books: dict[str, SimBook] = {i: SimBook(self.settings.sim_seed, i) for i in self.instruments}
        self.tickers: dict[str, kraken_wire.TickerStats] = {i: kraken_wire.TickerStats(i) for i in self.instruments}
        self.book_drop_every = self.settings.sim_book_drop_every
        self.book_updates_sent = 0
        self.book_updates_dropped = 0
        self.tickers_sent = 0
        self._views: dict[tuple[str, int], BookSnapshot] = {}
        self._unrevealed: dict[tuple[str, int], BookSnapshot] = {}
        """Per stream with a lost update no later update revealed yet: the view subscribers still hold."""
        self._update_counts: dict[tuple[str, int], int] = {}
        self._tops: dict[str, tuple[tuple[int, int] | None, tuple[int, int] | None]] = {
            instrument: (book.best_bid(), book.best_ask()) for instrument, book in self.books.items()
        }

    # --- handshake -----------------------------------------------------------------------------

    def is_rest(self, path: str) -> bool:  # noqa: D102 - see VenueSim
        return path == REST_TRADES_PATH

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        if urlsplit(path).path not in WS_PATHS:
            raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{urlsplit(path).path}")

    def open(self, client: Client) -> list[Subscription]:
        """Greet the connection with a ``status`` frame, before anything else can be sent to it."""
        connection_id = self._connection_ids.getrandbits(64)
        client.state.update(connection_id=connection_id, snapshot={}, depth={}, trigger={})
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
        channel = params.get("channel")
        if not isinstance(channel, str):
            return self._refuse("Malformed request: channel must be a string", method, req_id, time_in)
        if channel not in CHANNELS:
            return self._refuse(f"Channel not supported by the simulator: {channel[:40]}", method, req_id, time_in)
        allowed = (_SUBSCRIBE_FIELDS if method == "subscribe" else _UNSUBSCRIBE_FIELDS)[channel]
        extra = sorted(key for key in params if key not in allowed)
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
        depth = params.get("depth")
        if depth is not None and (type(depth) is not int or depth not in BOOK_DEPTHS):
            return self._refuse("Subscription depth not supported", method, req_id, time_in)
        trigger = params.get("event_trigger")
        if trigger is not None and trigger not in TICKER_TRIGGERS:
            return self._refuse("Malformed request: event_trigger must be bbo or trades", method, req_id, time_in)
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
            conflict = _conflict(method, (channel, instrument) in client.subscriptions)
            if conflict is None and method == "unsubscribe" and not self._options_match(client, instrument, params):
                conflict = "Subscription Not Found"
            if conflict is not None:
                frames.append(kraken_wire.error(conflict, method, req_id, time_in, time.time_ns(), symbol=symbol))
                continue
            changes.append((channel, instrument))
            if method == "subscribe":
                client.state["snapshot"][(channel, instrument)] = snapshot
                if channel == BOOK:
                    client.state["depth"][instrument] = DEFAULT_DEPTH if depth is None else depth
                if channel == TICKER:
                    client.state["trigger"][instrument] = DEFAULT_TRIGGER if trigger is None else trigger
            result = self._result(client, method, channel, instrument, snapshot)
            frames.append(kraken_wire.ack(method, result, req_id, time_in, time.time_ns()))
        if method == "subscribe":
            return Reply(frames=frames, subscribe=changes)
        self._unsubscribe(client, changes)  # at once: no frame of these subscriptions follows the replies
        return Reply(frames=frames, unsubscribe=changes)

    @staticmethod
    def _options_match(client: Client, instrument: str, params: dict[str, Any]) -> bool:
        """Whether an unsubscribe's ``depth`` / ``event_trigger`` (when given) are those of the subscription."""
        depth, trigger = params.get("depth"), params.get("event_trigger")
        if depth is not None and client.state["depth"].get(instrument, DEFAULT_DEPTH) != depth:
            return False
        return trigger is None or client.state["trigger"].get(instrument, DEFAULT_TRIGGER) == trigger

    @staticmethod
    def _result(client: Client, method: str, channel: str, instrument: str, snapshot: bool) -> dict[str, Any]:
        """The ``result`` of one symbol's ack (fields in Kraken's order: channel, options, snapshot, symbol)."""
        result: dict[str, Any] = {"channel": channel}
        if channel == BOOK:
            result["depth"] = client.state["depth"].get(instrument, DEFAULT_DEPTH)
        if channel == TICKER:
            result["event_trigger"] = client.state["trigger"].get(instrument, DEFAULT_TRIGGER)
        if method == "subscribe":
            result["snapshot"] = snapshot
        result["symbol"] = kraken_wire.symbol_of(instrument)
        return result

    def after_subscribe(self, client: Client, added: Sequence[Subscription]) -> list[str]:
        """The snapshots of the new subscriptions that asked for one.

        A trade snapshot (the last 50 trades, oldest first) is returned to be sent; a book snapshot (the top levels
        to the subscribed depth, with its checksum) and a ticker snapshot are written at once, before any later
        tick can send the subscription an update that the snapshot must precede.
        """
        frames = []
        for channel, instrument in added:
            snapshot = client.state["snapshot"].pop((channel, instrument), True)
            if channel == TRADE:
                if snapshot:
                    history = self.history[instrument]
                    start = max(0, len(history) - kraken_wire.SNAPSHOT_TRADES)
                    frames.append(kraken_wire.trade_snapshot([history[i] for i in range(start, len(history))]))
            elif channel == BOOK:
                depth = client.state["depth"].get(instrument, DEFAULT_DEPTH)
                view = self.books[instrument].snapshot(depth)
                self._views[(instrument, depth)] = view  # the stream's view is the book now (see _send_books)
                if snapshot:
                    frame = kraken_wire.book_snapshot(instrument, view.bids, view.asks, time.time_ns())
                    broadcast([client.connection], frame)
            elif snapshot:
                broadcast([client.connection], self._ticker_frame(instrument, "snapshot", time.time_ns()))
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

    # --- books and tickers ---------------------------------------------------------------------

    def tick(self, now: float, wall_ms: int) -> None:
        """Generate and send the due trades, apply them to the books and tickers, then send their updates.

        The tick that reaches ``sim_max_trades`` sends the books' last changes without faults.
        """
        super().tick(now, wall_ms)
        traded = self._apply_trades()
        final = self.exhausted
        self._send_books(None if final else now, wall_ms)
        self._send_tickers(None if final else now, wall_ms, traded)

    async def run(self) -> None:
        """Emit trades until ``sim_max_trades``; then send whatever changed since (the books change no more)."""
        await super().run()
        traded = self._apply_trades()
        wall_ms = time.time_ns() // 1_000_000
        self._send_books(None, wall_ms)
        self._send_tickers(None, wall_ms, traded)

    def _apply_trades(self) -> set[str]:
        """Apply every trade generated since the last call (sent or not) to its book and ticker; which traded."""
        traded: set[str] = set()
        for instrument in self.history:
            fresh = self.unapplied_trades(instrument)
            if not fresh:
                continue
            book, stats = self.books[instrument], self.tickers[instrument]
            for trade in fresh:
                book.on_trade(trade)
                stats.add(trade)
            traded.add(instrument)
        return traded

    def _send_books(self, now: float | None, wall_ms: int) -> None:
        """Send every book stream (pair, depth) whose view changed its update, faults permitting.

        The view of a stream is the venue's top levels to that depth as last published; it follows the book
        whether or not the update reaches the wire (a dropped or silenced update is lost, not delayed), so the
        next update's checksum tells the subscriber. Streams without subscribers are forgotten.

        Args:
            now: The event loop's clock, or ``None`` for the last changes (no drop, no silence).
            wall_ms: The wall clock, epoch ms: the updates' ``timestamp``.
        """
        silent = now is not None and self.silent(now)
        streams: dict[tuple[str, int], list[Client]] = {}
        for instrument in self.instruments:
            for client in self.subscribers(BOOK, instrument):
                depth = client.state["depth"].get(instrument, DEFAULT_DEPTH)
                streams.setdefault((instrument, depth), []).append(client)
        for stream in [stream for stream in self._views if stream not in streams]:
            del self._views[stream]
            self._unrevealed.pop(stream, None)
        for stream, clients in streams.items():
            instrument, depth = stream
            old = self._views.get(stream)
            book = self.books[instrument]
            unchanged = old is not None and old.last_id == book.update_id
            if unchanged and (now is not None or stream not in self._unrevealed):
                continue
            new = book.snapshot(depth)
            self._views[stream] = new
            if now is None:  # the last changes: a loss no later update revealed is healed from the view before it
                old = self._unrevealed.pop(stream, old)
            if old is None or (old.bids, old.asks) == (new.bids, new.asks):
                continue
            if silent:
                self._unrevealed.setdefault(stream, old)
                continue
            counted = self._update_counts[stream] = self._update_counts.get(stream, 0) + 1
            if now is not None and self.book_drop_every and counted % self.book_drop_every == 0:
                self._unrevealed.setdefault(stream, old)
                self.book_updates_dropped += 1
                continue
            self._unrevealed.pop(stream, None)
            changes = (
                kraken_wire.book_changes(old.bids, new.bids, depth, "bid"),
                kraken_wire.book_changes(old.asks, new.asks, depth, "ask"),
            )
            frame = kraken_wire.book_update(instrument, changes, (new.bids, new.asks), wall_ms * 1_000_000)
            broadcast([client.connection for client in clients], frame)
            self.book_updates_sent += 1

    def _send_tickers(self, now: float | None, wall_ms: int, traded: set[str]) -> None:
        """Send the ticker updates of one tick (not while silent).

        Subscribers with ``event_trigger`` ``trades`` get one update per pair that traded in the tick (Kraken
        publishes one per trade: the simulator coalesces the trades of one 10 ms tick), those with ``bbo`` one per
        pair whose best bid or ask (price or quantity) changed.

        Args:
            now: The event loop's clock, or ``None`` for the last changes (no silence).
            wall_ms: The wall clock, epoch ms: the updates' ``timestamp``.
            traded: The pairs with trades since the last call.
        """
        silent = now is not None and self.silent(now)
        for instrument, book in self.books.items():
            top = (book.best_bid(), book.best_ask())
            moved = self._tops.get(instrument) != top
            self._tops[instrument] = top
            due = {"trades": instrument in traded, "bbo": moved}
            clients = [
                client
                for client in self.subscribers(TICKER, instrument)
                if due[client.state["trigger"].get(instrument, DEFAULT_TRIGGER)]
            ]
            if not clients or silent:
                continue
            frame = self._ticker_frame(instrument, "update", wall_ms * 1_000_000)
            broadcast([client.connection for client in clients], frame)
            self.tickers_sent += 1

    def _ticker_frame(self, instrument: str, kind: Literal["snapshot", "update"], ts_ns: int) -> str:
        book = self.books[instrument]
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None and ask is not None  # a simulated book always has both sides
        return kraken_wire.ticker_frame(instrument, kind, self.tickers[instrument], bid, ask, ts_ns)


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
