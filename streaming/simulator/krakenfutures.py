"""The simulated Kraken Futures venue (frames rendered by :mod:`streaming.simulator.krakenfutures_wire`).

Endpoints, under ``/krakenfutures``, as on ``futures.kraken.com`` (sources: the Kraken Futures WebSocket v1
documentation, https://docs.kraken.com/api/docs/futures-api/websocket/trade, ``.../websocket/book``,
``.../websocket/ticker`` and ``.../websocket/heartbeat``; "Get public execution events",
https://docs.kraken.com/api/docs/futures-api/history/get-public-execution-events; the conventions and captures
documented in :mod:`streaming.venues.krakenfutures` and ``tests/fixtures/krakenfutures/``):

* ``/ws/v1`` -- the WebSocket. On connect the venue sends ``{"event":"info","version":1}``. Requests are
  ``{"event":"subscribe"|"unsubscribe","feed":...,"product_ids":[...]}``:

  - ``trade`` of a simulated product: ``{"event":"subscribed","feed":"trade","product_ids":[...]}``, then one
    ``trade_snapshot`` per product (its last :data:`SNAPSHOT_TRADES` trades on the tape, newest first, the ones
    the wire lost included, as the venue's own tape has them), then a ``trade`` message per trade.
  - ``book``: the ack, then one ``book_snapshot`` per product (the whole simulated book and the ``seq`` of its
    latest change), then a ``book`` message per changed level, with the next ``seq``.
  - ``ticker``: the ack, then a ``ticker`` message per product at once, every :data:`TICKER_SECONDS` while the
    venue trades (the documentation: "Delta messages are throttled such that they are published every 1s"),
    and once more when trading ends.
  - ``heartbeat`` (no product ids): ``{"event":"subscribed","feed":"heartbeat"}``, then
    ``{"feed":"heartbeat","time":...}`` every :attr:`KrakenFuturesSim.heartbeat_seconds`.
  - A product id that is a well-formed Kraken Futures product but not simulated here:
    ``{"event":"subscribed_failed","feed":...,"product_ids":[...]}`` (the simulated ones of the same request
    are subscribed). Unsubscribing what is not subscribed: ``unsubscribed_failed``. Subscribing again what is
    subscribed is acknowledged and changes nothing (no second snapshot).
  - ``ticker_lite`` is a real public feed this simulator does not produce: its subscriptions fail with
    ``subscribed_failed``.
  - Bad requests: text that is not a JSON object, or an unknown ``event``, or no ``feed`` string ->
    ``{"event":"error","message":"Json Error"}``; product ids missing, not a list of strings, or not Kraken
    Futures product ids -> ``{"event":"error","message":"Invalid product id"}``; an unknown feed ->
    ``{"event":"alert","message":"Couldn't subscribe to invalid feed"}`` (as captured from the live venue;
    ``{"event":"error","message":"Invalid feed"}`` for an unsubscription); a private feed (``fills``,
    ``open_orders``...) -> ``{"event":"alert","message":"Failed to subscribe to authenticated feed"}``.

  ``seq`` (trade and book) is per product, venue-wide: every connection gets the same rendering of a frame.
* ``GET /api/history/v3/market/{product_id}/executions`` with ``since``/``before`` (ms; ``since`` inclusive,
  ``before`` exclusive), ``sort`` (``asc``/``desc``, default ``desc``), ``count`` (at most
  :data:`MAX_EXECUTIONS`, the default) and ``continuation_token`` (from the previous answer's
  ``continuationToken`` or ``Next-Continuation-Token`` header): every generated trade, the skipped ones too,
  as the venue's history has them. Bad parameters are HTTP 400 and an unknown product or path HTTP 404, with
  the venue's error document.

Any other path is refused during the handshake with HTTP 404.

Books (:mod:`streaming.simulator.books`): every product has a simulated book that every generated trade changes
(the skipped ones too: the book is the venue's), one :class:`~streaming.simulator.books.SimBook` change set per
trade, sent as ``book`` messages right after the tick's trades. Products trade only while a connection
subscribes to their ``trade`` feed, so a book subscribed alone stays still. Tickers are computed by
:func:`streaming.simulator.krakenfutures_wire.ticker_fields` from the book, the last trade, the 24 hours'
trades (:class:`ProductStats`) and a simulated open interest. When ``sim_max_trades`` is reached the books stop
changing (their last changes were sent with the last trades) and a last ticker per subscribed product is sent.

Book fault: with ``sim_book_drop_every`` = N, every Nth ``book`` message of a product that has subscribers is
never sent (its ``seq`` is used: a gap that a collector repairs by resubscribing). When the Nth is the last
message of its tick for that product, the next one that is not the last is dropped instead
(:func:`book_drops`), so that every dropped message is followed by a delivered one and the gap is always
revealed, even at the end of trading. The silence fault silences books and tickers too. Book drops follow
their own knob rather than ``sim_skip_every`` so that trade-gap scenarios keep their gaps to trade ids.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import json
import random
import re
import time
from collections.abc import Hashable, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

from streaming.errors import ParseError
from streaming.simulator import krakenfutures_wire as wire
from streaming.simulator.books import SimBook, units
from streaming.simulator.market import PRICE_DECIMALS, SimTrade, profile_of
from streaming.simulator.outbox import broadcast
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

PRODUCT_FEEDS = ("trade", "book", "ticker")
"""The public feeds of products this simulator produces."""

TICKER_SECONDS = 1.0
"""Seconds between two ``ticker`` messages of a product."""

_BOOK_STREAM = "book"
_MINUTE_MS = 60_000
_EXECUTIONS = re.compile(r"/api/history/v3/market/([^/]+)/executions/?")
_UNSIMULATED_FEEDS = frozenset({"ticker_lite"})
_PRIVATE_FEEDS = frozenset(
    {"fills", "open_orders", "open_orders_verbose", "open_positions", "account_log", "balances", "notifications_auth"}
)
_SUBSCRIBE = ("subscribe", "unsubscribe")


class KrakenFuturesSim(VenueSim):
    """Kraken Futures: the v1 WebSocket (``trade``, ``book``, ``ticker``, ``heartbeat``) and the execution history."""

    venue = krakenfutures.VENUE
    trade_channels = ("trade",)
    heartbeat_seconds = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instrument_of_product = {wire.product_id_of(instrument): instrument for instrument in self.instruments}
        seed = self.settings.sim_seed
        self.books: dict[str, SimBook] = {
            instrument: SimBook(seed, instrument, (_BOOK_STREAM,)) for instrument in self.instruments
        }
        """The simulated book of each instrument."""
        self.book_seqs: dict[str, int] = {
            instrument: wire.first_book_seq(seed, instrument) for instrument in self.instruments
        }
        """The book ``seq`` of each instrument's latest change (what a ``book_snapshot`` now carries)."""
        self.stats: dict[str, ProductStats] = {
            instrument: ProductStats(seed, instrument) for instrument in self.instruments
        }
        """Each instrument's trade statistics, for its tickers."""
        self.book_drop_every = self.settings.sim_book_drop_every
        self._book_counts: dict[str, int] = {}
        self._drop_owed: dict[str, bool] = {}
        self._next_tickers: float | None = None
        self.book_messages_sent = 0
        """``book`` messages sent to at least one connection."""
        self.book_messages_dropped = 0
        """``book`` messages the book fault never sent."""
        self.book_snapshots_sent = 0
        """``book_snapshot`` messages sent (one per subscription)."""
        self.tickers_sent = 0
        """``ticker`` messages sent (one count per product and time, whatever the number of receivers)."""

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
        if feed not in PRODUCT_FEEDS and feed not in _UNSIMULATED_FEEDS:
            if subscribing:
                return Reply(frames=(wire.alert_message("Couldn't subscribe to invalid feed"),))
            return Reply(frames=(wire.error_message("Invalid feed"),))
        product_ids = _product_ids(request.get("product_ids"))
        if product_ids is None:
            return Reply(frames=(wire.error_message("Invalid product id"),))
        if feed not in PRODUCT_FEEDS:
            return Reply(frames=(wire.event_message(f"{event}d_failed", feed, product_ids),))
        if subscribing:
            return self._subscribe_feed(feed, product_ids)
        return self._unsubscribe_feed(client, feed, product_ids)

    def _heartbeat_request(self, client: Client, subscribing: bool) -> Reply:
        if subscribing:
            return Reply(frames=(wire.event_message("subscribed", "heartbeat"),), subscribe=[HEARTBEAT])
        if HEARTBEAT not in client.subscriptions:
            return Reply(frames=(wire.event_message("unsubscribed_failed", "heartbeat"),))
        return Reply(frames=(wire.event_message("unsubscribed", "heartbeat"),), unsubscribe=[HEARTBEAT])

    def _subscribe_feed(self, feed: str, product_ids: list[str]) -> Reply:
        known = [product for product in product_ids if product in self._instrument_of_product]
        unknown = [product for product in product_ids if product not in self._instrument_of_product]
        frames = []
        if known:
            frames.append(wire.event_message("subscribed", feed, known))
        if unknown:
            frames.append(wire.event_message("subscribed_failed", feed, unknown))
        return Reply(frames=frames, subscribe=[(feed, self._instrument_of_product[product]) for product in known])

    def _unsubscribe_feed(self, client: Client, feed: str, product_ids: list[str]) -> Reply:
        subscribed = [
            product
            for product in product_ids
            if (feed, self._instrument_of_product.get(product, "")) in client.subscriptions
        ]
        others = [product for product in product_ids if product not in subscribed]
        frames = []
        if subscribed:
            frames.append(wire.event_message("unsubscribed", feed, subscribed))
        if others:
            frames.append(wire.event_message("unsubscribed_failed", feed, others))
        return Reply(
            frames=frames, unsubscribe=[(feed, self._instrument_of_product[product]) for product in subscribed]
        )

    def after_subscribe(self, client: Client, added: Sequence[Subscription]) -> list[str]:
        """Per newly subscribed product: a ``trade_snapshot``, a ``book_snapshot`` or a first ``ticker``."""
        frames = []
        now_ms = time.time_ns() // 1_000_000
        for channel, instrument in added:
            if channel == "trade":
                recent = list(itertools.islice(reversed(self.history[instrument]), SNAPSHOT_TRADES))
                frames.append(wire.snapshot_message(self.symbol(instrument), recent[::-1]))
            elif channel == "book":
                frames.append(self.book_snapshot(instrument, now_ms))
                self.book_snapshots_sent += 1
            elif channel == "ticker":
                frames.append(wire.ticker_message(self.ticker(instrument, now_ms)))
                self.tickers_sent += 1
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

    # --- books and tickers -------------------------------------------------------------------

    def book_snapshot(self, instrument: str, now_ms: int) -> str:
        """The ``book_snapshot`` of an instrument's current book, at a server time (epoch ms)."""
        snapshot = self.books[instrument].snapshot()
        return wire.book_snapshot_message(
            self.symbol(instrument), self.book_seqs[instrument], now_ms, snapshot.bids, snapshot.asks
        )

    def ticker(self, instrument: str, now_ms: int) -> wire.TickerFields:
        """An instrument's ticker at a server time (epoch ms)."""
        book = self.books[instrument]
        state = self.stats[instrument].state(now_ms, book.best_bid(), book.best_ask())
        return wire.ticker_fields(self.symbol(instrument), now_ms, state)

    def tick(self, now: float, wall_ms: int) -> None:
        """Generate and send the due trades, apply them to the books and send the changes, then due tickers."""
        super().tick(now, wall_ms)
        silent = self.silent(now)
        self._apply_trades(silent=silent)
        if self._next_tickers is None or now >= self._next_tickers:
            self._next_tickers = now + TICKER_SECONDS
            if not silent:
                self._send_tickers(wall_ms)

    async def run(self) -> None:
        """Emit trades until ``sim_max_trades``; then the books change no more and a last ticker is sent."""
        await super().run()  # every trade's book changes went out in the tick that generated it
        self._send_tickers(time.time_ns() // 1_000_000)

    def _apply_trades(self, *, silent: bool) -> None:
        """Apply every trade generated since the last call (sent or not) to its book; send the changes."""
        for instrument in self.history:
            fresh = self.unapplied_trades(instrument)
            if not fresh:
                continue
            book = self.books[instrument]
            stats = self.stats[instrument]
            product = self.symbol(instrument)
            messages: list[str] = []
            for trade in fresh:
                book.on_trade(trade)
                stats.on_trade(trade)
                diff = book.drain(_BOOK_STREAM)
                if diff is None:
                    continue
                for side, price, qty in wire.book_changes(diff):
                    self.book_seqs[instrument] += 1
                    messages.append(
                        wire.book_message(product, side, self.book_seqs[instrument], price, qty, trade.ts_ms)
                    )
            clients = self.subscribers("book", instrument)
            if not messages or not clients or silent:
                continue  # changed, unseen: the seqs are used all the same
            drops, self._drop_owed[instrument] = book_drops(
                self._book_counts.get(instrument, 0),
                len(messages),
                self.book_drop_every,
                self._drop_owed.get(instrument, False),
            )
            self._book_counts[instrument] = self._book_counts.get(instrument, 0) + len(messages)
            connections = [client.connection for client in clients]
            for message, dropped in zip(messages, drops, strict=True):
                if dropped:
                    self.book_messages_dropped += 1
                    continue
                broadcast(connections, message)
                self.book_messages_sent += 1

    def _send_tickers(self, now_ms: int) -> None:
        for instrument in self.instruments:
            clients = self.subscribers("ticker", instrument)
            if clients:
                broadcast(
                    [client.connection for client in clients], wire.ticker_message(self.ticker(instrument, now_ms))
                )
                self.tickers_sent += 1


def book_drops(counted: int, size: int, every: int | None, owed: bool) -> tuple[tuple[bool, ...], bool]:
    """Which messages of one tick's batch of a product's ``book`` messages the book fault withholds.

    Every ``every``-th message counted is due to be dropped; a due drop that falls on the batch's last message
    moves to the next message that is not the last of its batch, so a dropped message is always followed by a
    delivered one (which reveals the gap).

    Args:
        counted: Messages of the product counted before this batch.
        size: Messages in the batch.
        every: ``sim_book_drop_every`` (``None``: no drops).
        owed: Whether a drop is due from an earlier batch.

    Returns:
        Per message whether it is dropped, and whether a drop is still due afterwards.
    """
    drops = []
    for index in range(size):
        counted += 1
        if every and counted % every == 0:
            owed = True
        dropped = owed and index < size - 1
        owed = owed and not dropped
        drops.append(dropped)
    return tuple(drops), owed


class ProductStats:
    """A product's trade statistics for its tickers: last price, the 24 hours' trades by minute, open interest.

    Pure state, no clock: trades and times are passed in. The open interest starts from a seeded number of
    median trade sizes and follows the tape: a trade whose id is a multiple of 3 closes its size (never below
    zero), any other one opens it (the simulator's own convention).

    Args:
        seed: The simulator seed.
        instrument: The canonical instrument (its profile gives the lot size).
    """

    def __init__(self, seed: int, instrument: str) -> None:
        profile = profile_of(instrument)
        lot = 10 ** (PRICE_DECIMALS - profile.size_decimals)
        median_lots = max(1, round(profile.median_size * 10**profile.size_decimals))
        rng = random.Random(f"ticklake-simulator/krakenfutures/open-interest/{seed}/{instrument}")
        self.open_interest = rng.randint(1_000, 5_000) * median_lots * lot
        """Open interest, in units of 1e-8."""
        self.last: int | None = None
        """The last trade's price, in units of 1e-8."""
        self._minutes: dict[int, list[int]] = {}  # minute -> [volume, notional (1e-16), first price], oldest first

    def on_trade(self, trade: SimTrade) -> None:
        """Count one trade of the tape."""
        price = units(trade.price_text)
        size = units(trade.size_text)
        self.last = price
        bucket = self._minutes.setdefault(trade.ts_ms // _MINUTE_MS, [0, 0, price])
        bucket[0] += size
        bucket[1] += price * size
        if trade.trade_id % 3:
            self.open_interest += size
        else:
            self.open_interest = max(0, self.open_interest - size)

    def state(
        self, now_ms: int, best_bid: tuple[int, int] | None, best_ask: tuple[int, int] | None
    ) -> wire.MarketState:
        """The market state at a time: the trades of the minutes that started less than 24 hours before it."""
        oldest = (now_ms - wire.VOLUME_WINDOW_MS) // _MINUTE_MS + 1
        for minute in [minute for minute in self._minutes if minute < oldest]:
            del self._minutes[minute]
        buckets = [self._minutes[minute] for minute in sorted(self._minutes)]
        return wire.MarketState(
            best_bid=best_bid,
            best_ask=best_ask,
            last=self.last,
            volume=sum(bucket[0] for bucket in buckets),
            volume_quote=sum(bucket[1] for bucket in buckets),
            open_price=buckets[0][2] if buckets else None,
            open_interest=self.open_interest,
        )


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
