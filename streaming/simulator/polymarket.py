"""The simulated Polymarket CLOB market channel and Data API (frames by :mod:`streaming.simulator.polymarket_wire`).

Endpoints, under ``/polymarket``, as on Polymarket (sources: :mod:`streaming.venues.polymarket`, the
market-channel documentation https://docs.polymarket.com/market-data/websocket/market-channel and
https://docs.polymarket.com/api-reference/wss/market, the Data API page
https://docs.polymarket.com/developers/CLOB/trades/trades-data-api):

* ``/ws/market`` -- the market channel (``wss://ws-subscriptions-clob.polymarket.com/ws/market``). The
  client's first message is ``{"assets_ids": [...], "type": "market", "custom_feature_enabled": ...}``;
  later ``{"assets_ids": [...], "operation": "subscribe" | "unsubscribe"}`` change the set (a
  ``custom_feature_enabled`` in them changes that option too). There is no ack: the server answers a
  subscription with the ``book`` snapshots of its assets (one JSON array) -- also of assets the
  connection already has, which is how a client asks for a fresh book (assumption: the documentation
  says the book is sent "when first subscribed"; the simulator answers every subscribe with the initial
  dump, ``initial_dump`` defaulting to true in the AsyncAPI reference). The text ``PING`` is answered
  ``PONG``; the server sends no heartbeat of its own. Anything unusable is answered with the text
  ``INVALID OPERATION``: a frame that is not a JSON object, a second initial (``type``) message on the
  connection (Polymarket rejects it, nautechsystems/nautilus_trader#3717), an unknown ``type`` or
  ``operation``, a missing or empty ``assets_ids``, more than 500 assets, or an asset id the venue does
  not list (assumption: the real venue's answer to unknown token ids is undocumented; the simulator
  refuses the whole request, so a misconfigured instrument is visible). There is no sequence number: a
  lost frame cannot be seen on the wire, only in the REST history (trades) or in the top of book the
  next ``price_change`` reports (books).
* ``GET /trades?market=&takerOnly=&limit=&offset=`` -- the Data API's public trades, newest first:
  ``market`` is one or more comma-separated condition ids (none: every market), ``limit`` 0..10000
  (default 100), ``offset`` 0..10000 (default 0), ``takerOnly`` ``true`` (default: one row per trade, on
  its taker side) or ``false`` (also each trade's maker row). Every generated trade is there, the ones
  the wire never delivered too. Bad parameters get HTTP 400 ``{"error": ...}``.
* ``GET /book?token_id=`` -- the CLOB book summary of an asset (its current simulated book), hashed like
  the venue's; an unknown token gets HTTP 404 ``{"error": "No orderbook exists for the requested token id"}``.

Any other path is refused during the handshake with HTTP 404.

What a subscribed asset's connection receives, per trade of the tape, in this order (each asset's
:class:`~streaming.simulator.polymarket_wire.ProbabilityBook` changes with every generated trade, sent
or not: the book is the venue's):

1. ``last_trade_price`` (the trade; the generic faults -- skip, duplicate, reorder, malformed -- apply);
2. ``tick_size_change`` when the trade moved the price across 0.04 or 0.96;
3. ``book``: the asset's full book after the trade (the documentation: a ``book`` is emitted "when there
   is a trade that affects the book");
4. one ``price_change`` per order event that follows the trade (placed or cancelled orders), each entry
   with the asset's ``best_bid``/``best_ask`` after it;
5. ``best_bid_ask`` after the book and after each ``price_change`` that changed the top of book, to
   connections with ``custom_feature_enabled`` (the documentation: that option turns on
   ``best_bid_ask``, ``new_market`` and ``market_resolved``).

The trade frames of one emission tick (10 ms) go out first, then the book frames of those trades in
tape order (each asset's book frames are in causal order; the two streams are independent).

Lifecycle (``custom_feature_enabled`` connections): a market is created when one of its assets gets
its first subscriber (the simulator starts trading it): ``new_market`` goes to every such connection,
to a subscribing one right after its books. When ``sim_max_trades`` is reached the books stop changing,
each subscribed asset gets its final ``book`` (the resting orders stay: assumption, the venue's
messages at resolution are undocumented) and every created market resolves: ``market_resolved`` to the
connections subscribed to its assets, the winner being the outcome with the higher last trade price
(:func:`~streaming.simulator.polymarket_wire.winner_of`).

Book fault: with ``sim_book_drop_every`` (:attr:`PolymarketSim.book_drop_every`) every Nth
``price_change`` of each asset that has subscribers is never sent; nothing numbers them, so a client
sees it only when a later ``price_change`` reports a top of book its own book does not have, and the
next ``book`` (the next trade, or a resubscription) heals it. The silence fault silences the book
frames too (the books keep changing). The final books are never dropped.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
import time
from collections.abc import Hashable, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.protocol import State

from streaming.simulator import polymarket_wire
from streaming.simulator.market import SimTrade
from streaming.simulator.outbox import broadcast
from streaming.simulator.polymarket_wire import INVALID_OPERATION, PONG, ProbabilityBook, SimMarket
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim
from streaming.venues import polymarket

WS_PATH = "/ws/market"
TRADES_PATH = "/trades"
BOOK_PATH = "/book"
MAX_LIMIT = 10_000
MAX_OFFSET = 10_000
DEFAULT_LIMIT = 100

log = logging.getLogger(__name__)

_CONDITION_ID = re.compile(r"0x[0-9a-fA-F]{64}")
_INVALID = Reply(frames=(INVALID_OPERATION,))


class PolymarketSim(VenueSim):
    """Polymarket: the CLOB market channel (trades, books, market events), the Data API ``/trades``, CLOB ``/book``."""

    venue = polymarket.VENUE
    trade_channels = (polymarket.CHANNEL,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.markets: dict[str, SimMarket] = polymarket_wire.sim_markets(self.instruments)
        """Instrument -> its simulated market."""
        self._instrument_of_asset = {polymarket.to_symbol(instrument): instrument for instrument in self.instruments}
        self._instruments_of_market: dict[str, list[str]] = {}
        for instrument, market in self.markets.items():
            self._instruments_of_market.setdefault(market.condition_id, []).append(instrument)
        self.books: dict[str, ProbabilityBook] = {
            instrument: ProbabilityBook(self.settings.sim_seed, instrument) for instrument in self.instruments
        }
        """Instrument -> its simulated book."""
        self.book_drop_every = self.settings.sim_book_drop_every
        """Every Nth ``price_change`` of each asset is never sent (``None``: none is dropped)."""
        self.created: dict[str, int] = {}
        """Condition id -> when its market was created (``new_market``), epoch ms."""
        self.resolved: dict[str, str] = {}
        """Condition id -> the winning asset of its resolved market."""
        self._tops: dict[str, tuple[int | None, int | None]] = {}
        self._change_counts: dict[str, int] = {}
        self.books_sent = 0
        """``book`` messages sent after trades and at the end (one count per asset and book, not per receiver)."""
        self.price_changes_sent = 0
        """``price_change`` messages sent (one count per asset and order event)."""
        self.price_changes_dropped = 0
        """``price_change`` messages the book fault never sent."""
        self.best_bid_asks_sent = 0
        """``best_bid_ask`` messages sent (one count per asset and change of its top)."""
        self.tick_size_changes_sent = 0
        """``tick_size_change`` messages sent."""

    # --- handshake ---------------------------------------------------------------------------

    def is_rest(self, path: str) -> bool:  # noqa: D102 - see VenueSim
        return path in (TRADES_PATH, BOOK_PATH)

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        route = urlsplit(path).path
        if route not in (WS_PATH, WS_PATH + "/"):
            raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{route}")

    def open(self, client: Client) -> list[Subscription]:  # noqa: D102 - see VenueSim
        client.state["initialized"] = False
        client.state["custom"] = False  # custom_feature_enabled: best_bid_ask, new_market, market_resolved
        return []

    # --- live requests -----------------------------------------------------------------------

    def on_message(self, client: Client, message: str | bytes) -> Reply:  # noqa: D102 - see VenueSim
        try:
            text = message.decode() if isinstance(message, bytes) else message
        except UnicodeDecodeError:
            return _INVALID
        if text.strip() == polymarket.PING_MESSAGE:
            return Reply(frames=(PONG,))
        try:
            request = json.loads(text)
        except ValueError:
            return _INVALID
        if not isinstance(request, dict):
            return _INVALID
        if "operation" in request:
            operation = request["operation"]
            if not isinstance(operation, str) or operation.lower() not in ("subscribe", "unsubscribe"):
                return _INVALID
            subscribing, initial = operation.lower() == "subscribe", False
        elif "type" in request:
            kind = request["type"]
            if client.state["initialized"] or not isinstance(kind, str) or kind.lower() != polymarket.CHANNEL:
                return _INVALID
            subscribing, initial = True, True
        else:
            return _INVALID
        instruments = self._instruments_named(request.get("assets_ids"))
        if instruments is None:
            return _INVALID
        custom = request.get("custom_feature_enabled")
        pairs = [(polymarket.CHANNEL, instrument) for instrument in instruments]
        if not subscribing:
            if isinstance(custom, bool):
                client.state["custom"] = custom
            return Reply(unsubscribe=pairs)
        if len(set(client.subscriptions) | set(pairs)) > polymarket.MAX_ASSETS_PER_CONNECTION:
            return _INVALID
        client.state["initialized"] = client.state["initialized"] or initial
        if isinstance(custom, bool):
            client.state["custom"] = custom
        # Assets the connection already has get their books again now (the new ones after being added).
        again = [instrument for channel, instrument in pairs if (channel, instrument) in client.subscriptions]
        if again:
            now_ms = time.time_ns() // 1_000_000
            return Reply(
                frames=(polymarket_wire.books_frame(self.book_summary(i, now_ms) for i in again),), subscribe=pairs
            )
        return Reply(subscribe=pairs)

    def _instruments_named(self, assets: object) -> list[str] | None:
        """The instruments of a request's ``assets_ids``; ``None`` when it is not a non-empty list of known ids."""
        if not isinstance(assets, list) or not assets:
            return None
        if not all(isinstance(asset, str) and asset in self._instrument_of_asset for asset in assets):
            return None
        return [self._instrument_of_asset[asset] for asset in dict.fromkeys(assets)]

    def after_subscribe(self, client: Client, added: Sequence[Subscription]) -> list[str]:
        """The ``book`` snapshots of the newly subscribed assets (one array frame), then the markets created now.

        A market is created when one of its assets gets its first subscriber: its ``new_market`` goes to
        this connection after the books (with ``custom_feature_enabled``) and to every other such connection.
        """
        now_ms = time.time_ns() // 1_000_000
        frames = [polymarket_wire.books_frame(self.book_summary(instrument, now_ms) for _, instrument in added)]
        for _, instrument in added:
            market = self.markets[instrument]
            if market.condition_id in self.created:
                continue
            self.created[market.condition_id] = now_ms
            frame = polymarket_wire.new_market_frame(market, now_ms)
            if client.state["custom"]:
                frames.append(frame)
            others = [c.connection for c in self.clients if c is not client and c.state.get("custom")]
            broadcast([connection for connection in others if connection.state is State.OPEN], frame)
        return frames

    def book_summary(self, instrument: str, ts_ms: int) -> dict[str, Any]:
        """The current book summary of an instrument (its simulated book, last trade price and tick size)."""
        book = self.books[instrument]
        return polymarket_wire.book_summary(
            polymarket.to_symbol(instrument),
            self.markets[instrument].condition_id,
            polymarket_wire.cents_text(book.last),
            ts_ms,
            book.levels(),
            book.tick_size,
        )

    # --- frames ------------------------------------------------------------------------------

    def format_key(self, client: Client) -> Hashable:  # noqa: D102 - see VenueSim
        return polymarket.CHANNEL  # no per-connection state in the frames: one rendering for everybody

    def render(self, trade: SimTrade, channel: str, client: Client) -> str:  # noqa: D102 - see VenueSim
        return polymarket_wire.trade_frame(trade, self.markets[trade.instrument].condition_id)

    def truth(self, trade: SimTrade, channel: str) -> TruthFields:  # noqa: D102 - see VenueSim
        return TruthFields(
            trade_id=polymarket_wire.trade_id_of(trade),
            price=Decimal(polymarket_wire.price_text(trade)),
            size=Decimal(polymarket_wire.size_text(trade)),
            ts_event=trade.ts_ms * 1_000_000,
        )

    def symbol(self, instrument: str) -> str:  # noqa: D102 - see VenueSim
        return polymarket.to_symbol(instrument)

    # --- books and market events -------------------------------------------------------------

    def tick(self, now: float, wall_ms: int) -> None:
        """Generate and send the due trades, then apply them to the books and send the book frames they caused."""
        super().tick(now, wall_ms)
        self._apply_trades(wall_ms, silent=self.silent(now))

    async def run(self) -> None:
        """Emit trades until ``sim_max_trades``; then send the final books and resolve the markets."""
        await super().run()
        wall_ms = time.time_ns() // 1_000_000
        self._apply_trades(wall_ms, silent=False)
        self.close_markets(wall_ms)

    def close_markets(self, wall_ms: int) -> None:
        """Trading has ended: send every subscribed asset's final ``book``, then resolve every created market.

        Args:
            wall_ms: The wall clock, epoch ms: the messages' time.
        """
        for instrument in self.instruments:
            clients = self.subscribers(polymarket.CHANNEL, instrument)
            if clients:
                broadcast(
                    [c.connection for c in clients], polymarket_wire.book_frame(self.book_summary(instrument, wall_ms))
                )
                self.books_sent += 1
        for condition_id, instruments in self._instruments_of_market.items():
            if condition_id not in self.created or condition_id in self.resolved:
                continue
            market = self.markets[instruments[0]]
            last = {polymarket.to_symbol(i): self.books[i].last for i in instruments}
            winner = self.resolved[condition_id] = polymarket_wire.winner_of(market, last)
            receivers = {
                c.connection: None
                for i in instruments
                for c in self.subscribers(polymarket.CHANNEL, i)
                if c.state["custom"]
            }
            broadcast(list(receivers), polymarket_wire.market_resolved_frame(market, winner, wall_ms))
            log.info("polymarket simulator: market %s resolved to %s", condition_id, winner)

    def _apply_trades(self, wall_ms: int, *, silent: bool) -> None:
        """Apply every trade generated since the last call (sent or not) to its book; send the frames they caused.

        Args:
            wall_ms: The wall clock, epoch ms: the book frames' time.
            silent: The venue is silent: the books change, nothing is sent.
        """
        for instrument in self.history:
            fresh = self.unapplied_trades(instrument)
            if not fresh:
                continue
            clients = [] if silent else self.subscribers(polymarket.CHANNEL, instrument)
            everyone = [c.connection for c in clients]
            custom = [c.connection for c in clients if c.state["custom"]]
            book = self.books[instrument]
            asset, market = polymarket.to_symbol(instrument), self.markets[instrument].condition_id
            for trade in fresh:
                tick_size = book.on_trade(trade)
                if everyone:
                    if tick_size is not None:
                        frame = polymarket_wire.tick_size_change_frame(market, asset, *tick_size, wall_ms)
                        broadcast(everyone, frame)
                        self.tick_size_changes_sent += 1
                    broadcast(everyone, polymarket_wire.book_frame(self.book_summary(instrument, wall_ms)))
                    self.books_sent += 1
                    self._send_top(instrument, custom, wall_ms)
                for _ in range(book.order_draws()):  # each event is reported before the next one changes the book
                    event = book.order_event()
                    if event is None or not everyone:
                        continue
                    count = self._change_counts[instrument] = self._change_counts.get(instrument, 0) + 1
                    if self.book_drop_every and count % self.book_drop_every == 0:
                        self.price_changes_dropped += 1
                    else:
                        broadcast(everyone, polymarket_wire.price_change_frame(market, asset, event, wall_ms))
                        self.price_changes_sent += 1
                    self._send_top(instrument, custom, wall_ms)

    def _send_top(self, instrument: str, connections: list[ServerConnection], wall_ms: int) -> None:
        """Send ``best_bid_ask`` to ``connections`` when the instrument's top of book changed since the last one."""
        book = self.books[instrument]
        top = (book.best_bid(), book.best_ask())
        if self._tops.get(instrument) == top:
            return
        self._tops[instrument] = top
        if connections:
            frame = polymarket_wire.best_bid_ask_frame(
                self.markets[instrument].condition_id, polymarket.to_symbol(instrument), *top, wall_ms
            )
            broadcast(connections, frame)
            self.best_bid_asks_sent += 1

    # --- REST --------------------------------------------------------------------------------

    def rest(self, path: str, query: dict[str, list[str]]) -> Response:  # noqa: D102 - see VenueSim
        if path == BOOK_PATH:
            return self._book(query)
        return self._trades(query)

    def _trades(self, query: dict[str, list[str]]) -> Response:
        """``GET /trades``: the markets' trades newest first, ``limit`` rows from ``offset``."""
        limit = _integer(query, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        offset = _integer(query, "offset", 0, MAX_OFFSET)
        taker_only = _first(query, "takerOnly", "true").lower()
        if taker_only not in ("true", "false"):
            raise Refusal(HTTPStatus.BAD_REQUEST, polymarket_wire.error_body("takerOnly must be true or false"))
        if "market" in query:
            conditions = [c for value in query["market"] for c in value.split(",") if c]
            bad = [c for c in conditions if _CONDITION_ID.fullmatch(c) is None]
            if bad or not conditions:
                raise Refusal(HTTPStatus.BAD_REQUEST, polymarket_wire.error_body(f"invalid market {bad[:1]}"))
            instruments = [i for c in dict.fromkeys(c.lower() for c in conditions) for i in self._market(c)]
        else:
            instruments = list(self.instruments)
        if limit == 0:
            return _json_response(polymarket_wire.rest_trades_body([]))
        per_trade = 1 if taker_only == "true" else 2
        wanted = -(-(offset + limit) // per_trade)  # the newest trades that can reach the page
        newest = heapq.merge(
            *(reversed(self.trades_from(instrument)[-wanted:]) for instrument in instruments),
            key=lambda trade: trade.ts_ms,
            reverse=True,
        )
        rows: list[str] = []
        for trade in newest:
            market = self.markets[trade.instrument]
            rows.append(polymarket_wire.rest_trade_row(trade, market))
            if per_trade == 2:
                rows.append(polymarket_wire.rest_trade_row(trade, market, taker=False))
            if len(rows) >= offset + limit:
                break
        return _json_response(polymarket_wire.rest_trades_body(rows[offset : offset + limit]))

    def _market(self, condition_id: str) -> list[str]:
        return self._instruments_of_market.get(condition_id, [])

    def _book(self, query: dict[str, list[str]]) -> Response:
        """``GET /book?token_id=``: the asset's book summary."""
        asset_id = _first(query, "token_id", "")
        if not asset_id:
            raise Refusal(HTTPStatus.BAD_REQUEST, polymarket_wire.error_body("Invalid payload"))
        instrument = self._instrument_of_asset.get(asset_id)
        if instrument is None:
            raise Refusal(
                HTTPStatus.NOT_FOUND, polymarket_wire.error_body("No orderbook exists for the requested token id")
            )
        summary = self.book_summary(instrument, time.time_ns() // 1_000_000)
        return _json_response(polymarket_wire.rest_book_body(summary))


def _first(query: dict[str, list[str]], name: str, default: str) -> str:
    values = query.get(name)
    return values[0] if values else default


def _integer(query: dict[str, list[str]], name: str, default: int, maximum: int) -> int:
    text = _first(query, name, str(default))
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= maximum:
        raise Refusal(HTTPStatus.BAD_REQUEST, polymarket_wire.error_body(f"{name} must be an integer in 0..{maximum}"))
    return value


def _json_response(body: str) -> Response:
    data = body.encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, data)
