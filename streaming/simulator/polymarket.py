"""The simulated Polymarket CLOB market channel and Data API (frames by :mod:`streaming.simulator.polymarket_wire`).

Endpoints, under ``/polymarket``, as on Polymarket (sources: :mod:`streaming.venues.polymarket`, the
market-channel documentation https://docs.polymarket.com/market-data/websocket/market-channel and
https://docs.polymarket.com/api-reference/wss/market, the Data API page
https://docs.polymarket.com/developers/CLOB/trades/trades-data-api):

* ``/ws/market`` -- the market channel (``wss://ws-subscriptions-clob.polymarket.com/ws/market``). The
  client's first message is ``{"assets_ids": [...], "type": "market"}``; later
  ``{"assets_ids": [...], "operation": "subscribe" | "unsubscribe"}`` change the set. There is no ack:
  the server answers a subscription with the ``book`` snapshots of the new assets (one JSON array), then
  sends a ``last_trade_price`` event per trade. The text ``PING`` is answered ``PONG``; the server sends
  no heartbeat of its own. Anything unusable is answered with the text ``INVALID OPERATION``: a frame
  that is not a JSON object, a second initial (``type``) message on the connection (Polymarket rejects
  it, nautechsystems/nautilus_trader#3717), an unknown ``type`` or ``operation``, a missing or empty
  ``assets_ids``, more than 500 assets, or an asset id the venue does not list (assumption: the real
  venue's answer to unknown token ids is undocumented; the simulator refuses the whole request, so a
  misconfigured instrument is visible). There is no sequence number: a lost trade cannot be seen on the
  wire, only in the REST history.
* ``GET /trades?market=&takerOnly=&limit=&offset=`` -- the Data API's public trades, newest first:
  ``market`` is one or more comma-separated condition ids (none: every market), ``limit`` 0..10000
  (default 100), ``offset`` 0..10000 (default 0), ``takerOnly`` ``true`` (default: one row per trade, on
  its taker side) or ``false`` (also each trade's maker row). Every generated trade is there, the ones
  the wire never delivered too. Bad parameters get HTTP 400 ``{"error": ...}``.
* ``GET /book?token_id=`` -- the CLOB book summary of an asset, hashed like the venue's; an unknown token
  gets HTTP 404 ``{"error": "No orderbook exists for the requested token id"}``.

Any other path is refused during the handshake with HTTP 404.
"""

from __future__ import annotations

import heapq
import json
import re
import time
from collections.abc import Hashable, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

from streaming.simulator import polymarket_wire
from streaming.simulator.market import SimTrade, profile_of
from streaming.simulator.polymarket_wire import INVALID_OPERATION, PONG, SimMarket
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim
from streaming.venues import polymarket

WS_PATH = "/ws/market"
TRADES_PATH = "/trades"
BOOK_PATH = "/book"
MAX_LIMIT = 10_000
MAX_OFFSET = 10_000
DEFAULT_LIMIT = 100

_CONDITION_ID = re.compile(r"0x[0-9a-fA-F]{64}")
_INVALID = Reply(frames=(INVALID_OPERATION,))


class PolymarketSim(VenueSim):
    """Polymarket: the CLOB market channel, the Data API ``/trades`` and the CLOB ``/book``."""

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

    # --- handshake ---------------------------------------------------------------------------

    def is_rest(self, path: str) -> bool:  # noqa: D102 - see VenueSim
        return path in (TRADES_PATH, BOOK_PATH)

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        route = urlsplit(path).path
        if route not in (WS_PATH, WS_PATH + "/"):
            raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{route}")

    def open(self, client: Client) -> list[Subscription]:  # noqa: D102 - see VenueSim
        client.state["initialized"] = False
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
        pairs = [(polymarket.CHANNEL, instrument) for instrument in instruments]
        if not subscribing:
            return Reply(unsubscribe=pairs)
        if len(set(client.subscriptions) | set(pairs)) > polymarket.MAX_ASSETS_PER_CONNECTION:
            return _INVALID
        client.state["initialized"] = client.state["initialized"] or initial
        return Reply(subscribe=pairs)

    def _instruments_named(self, assets: object) -> list[str] | None:
        """The instruments of a request's ``assets_ids``; ``None`` when it is not a non-empty list of known ids."""
        if not isinstance(assets, list) or not assets:
            return None
        if not all(isinstance(asset, str) and asset in self._instrument_of_asset for asset in assets):
            return None
        return [self._instrument_of_asset[asset] for asset in dict.fromkeys(assets)]

    def after_subscribe(self, client: Client, added: Sequence[Subscription]) -> list[str]:
        """The ``book`` snapshots of the newly subscribed assets, in one array frame."""
        now_ms = time.time_ns() // 1_000_000
        return [polymarket_wire.books_frame(self.book_summary(instrument, now_ms) for _, instrument in added)]

    def book_summary(self, instrument: str, ts_ms: int) -> dict[str, Any]:
        """The current book summary of an instrument: a book around its last trade price (or its start price)."""
        history = self.history[instrument]
        last = history[-1].price_text if history else profile_of(instrument).start_price
        return polymarket_wire.book_summary(
            polymarket.to_symbol(instrument), self.markets[instrument].condition_id, last, ts_ms
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
