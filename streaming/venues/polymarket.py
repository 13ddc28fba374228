"""Polymarket CLOB market channel: the parser, asset mapping, subscriptions and REST repair helpers.

Pure functions only: no I/O, no clock, no state beyond a memo of asset-id lookups.

Wire conventions (sources: the market-channel page
https://docs.polymarket.com/market-data/websocket/market-channel, its API reference
https://docs.polymarket.com/api-reference/wss/market (AsyncAPI: https://docs.polymarket.com/asyncapi.json),
the earlier page https://docs.polymarket.com/developers/CLOB/websocket/market-channel, the connection
overview https://docs.polymarket.com/developers/CLOB/websocket/wss-overview and the price_change
migration guide https://docs.polymarket.com/developers/CLOB/websocket/market-channel-migration-guide):

* **Endpoint and subscription.** ``wss://ws-subscriptions-clob.polymarket.com/ws/market``, public. After
  connecting, the client sends ``{"assets_ids": [...], "type": "market", "custom_feature_enabled": true}``
  (:func:`subscribe_message`); ``assets_ids`` are outcome-token ids (not condition ids),
  ``custom_feature_enabled`` turns on the ``best_bid_ask``, ``new_market`` and ``market_resolved`` events.
  Later ``{"assets_ids": [...], "operation": "subscribe" | "unsubscribe"}`` changes the set on the open
  connection (:func:`update_subscription_message`). No subscription ack is sent: the server starts with
  the ``book`` snapshots of the assets. At most 500 assets per connection.
* **Heartbeat.** The client sends the text ``PING`` about every 10 s and the server answers ``PONG``
  (plain text, not JSON); both are control frames (``"heartbeat"``). An unusable request is answered with
  the text ``INVALID OPERATION``, a control ``"error"``.
* **Framing.** A frame is one JSON object, or a JSON array of objects (the initial dump of several books,
  bursts); an empty array carries nothing. Every message has ``event_type``, except some initial book
  snapshots observed without it (recognized by ``asset_id`` plus ``bids``/``buys``). An array is parsed
  all or nothing: one bad message rejects the whole frame, which keeps the raw frame for the dead letters.
* **book** (``asset_id``, ``market`` condition id, ``bids``/``asks`` of ``{price, size}``; the earliest
  documentation names them ``buys``/``sells``, both are read; ``timestamp``, ``hash``, lately also
  ``tick_size`` and ``last_trade_price``): a full snapshot of one asset ->
  :class:`~contracts.records.BookUpdate` ``kind="snapshot"``. Levels keep the wire order (the venue sends
  bids ascending and asks descending, best last; https://docs.polymarket.com/market-data/prices-order-books).
* **price_change**, two formats. Current (since 2025-09-15 23:00 UTC): ``market``, ``timestamp`` and
  ``price_changes: [{asset_id, price, size, side, hash, best_bid, best_ask}]``, one frame may touch
  several assets (both outcomes of a market) -> one ``kind="delta"`` BookUpdate per asset, in order of
  first appearance, plus one :class:`~contracts.records.Ticker` per asset from the ``best_bid``/``best_ask``
  of its last change (the venue's own top of book after the frame, which lets a book reducer check itself,
  since the book hash cannot be checked; see below). Legacy (before that date): top-level ``asset_id``,
  ``hash``, ``market``, ``timestamp`` and ``changes: [{price, side, size}]`` -> one delta, no Ticker.
  In both, ``size`` is the new aggregate size at the level, not a change ("new aggregate size for price
  level" in the message table; ``"0"`` removes the level), which is exactly :class:`~contracts.records.Level`.
  ``side`` ``BUY`` -> bids, ``SELL`` -> asks.
* **last_trade_price** (``asset_id``, ``market``, ``price``, ``size``, ``side``, ``fee_rate_bps``,
  ``timestamp``, and since late 2025 ``transaction_hash``, see Polymarket/rs-clob-client-v2 PR #111) ->
  :class:`~contracts.records.Trade`. Emitted "when a maker and taker order is matched".
* **tick_size_change** (``asset_id``, ``market``, ``old_tick_size``, ``new_tick_size``, ``timestamp``,
  sometimes ``side``) -> :class:`~contracts.records.Lifecycle` ``event="tick_size"`` with those values
  as JSON ``details``.
* **best_bid_ask** (``asset_id``, ``market``, ``best_bid``, ``best_ask``, ``spread``, ``timestamp``) ->
  Ticker (the spread is implied and not kept).
* **new_market** (``id``, ``question``, ``market``, ``slug``, ``assets_ids``, ``outcomes`` positionally
  aligned with ``assets_ids``, ``timestamp``, ...) -> one Lifecycle ``event="created"`` per asset id.
* **market_resolved** (``market``, ``winning_asset_id``, ``winning_outcome``, ``assets_ids``,
  ``timestamp``, ...) -> one Lifecycle ``event="settled"``, ``status="resolved"`` per asset id, with
  ``result="yes"`` for the winning token and ``"no"`` for the others: every outcome token is a claim that
  pays 1 if its outcome wins, so the result says whether this contract paid, like a Kalshi market's
  yes/no result. (The docs' example of this message carries ``"event_type": "new_market"``, a copy slip.)
* Unknown event types, and messages missing what their type needs, are rejected (:class:`ParseError`).

**Taker side.** ``last_trade_price.side`` is the side of the taker (aggressor) order. A CLOB trade "is
initiated by a taker who creates a marketable limit order", matched against resting orders
(https://docs.polymarket.com/developers/CLOB/trades/trades-overview); the trade object's ``side`` is the
taker order's, the makers' sides are listed apart in ``maker_orders`` (opposite for same-token fills).
The Data API's public trade feed with ``takerOnly=true`` serves each fill once, on its taker side, with
that ``side`` (https://docs.polymarket.com/developers/CLOB/trades/trades-data-api), and NautilusTrader's
Polymarket adapter maps the message's ``side`` to the aggressor
(``nautilus_trader/adapters/polymarket/schemas/book.py``). ``BUY`` -> ``"buy"``, ``SELL`` -> ``"sell"``;
a missing or null side -> ``"unknown"``.

**Timestamps.** The market channel sends milliseconds since the epoch as decimal strings
(``"1757908892351"``); a JSON integer is accepted too. Every time becomes integer epoch **nanoseconds**
(``ms * 1_000_000``). The Data API sends integer **seconds**.

**Prices and sizes** are decimal strings, prices as probabilities that may lack the leading zero
(``".48"``). They become :class:`~decimal.Decimal` straight from that text (``Decimal(".48")`` is
``Decimal("0.48")``, same digits and exponent), never through a float; a JSON number where a string is
expected is rejected. The stored type is ``decimal(38, 18)``: more than 18 significant fractional digits
or 20 integer digits is rejected. Level and trade prices must be > 0, sizes >= 0. In ``best_bid`` /
``best_ask``, ``"0"`` and ``"1"`` mean "no order on that side" (the migration guide's example shows an
empty ask side as ``"1"`` and an empty bid side as ``"0"``; real orders lie in ``[tick, 1 - tick]``) and
become ``None``, as does an empty string.

**Identity.** Instruments are ``POLYMARKET:<asset_id>`` (:func:`to_instrument`); the symbol is the asset
id. A trade's id (:func:`trade_id`) is its ``transaction_hash`` in lower case when the message has one:
a match settles as one ``matchOrders`` call of the CTF Exchange in one Polygon transaction (one taker
order against its makers, https://docs.polymarket.com/developers/CLOB/orders/onchain-order-info; a trade
too large for one transaction is split into separate trade entities, one per transaction, per the trades
overview), so with the asset (the record's symbol) it names the trade; it is the same on every
re-delivery and it is exactly what the Data API returns as ``transactionHash``, so REST repairs
deduplicate against the live stream (assumption: the operator never puts two matches of one asset into
one transaction). Messages without a hash (before late 2025) get ``"h:"`` + the first 32 hex digits of
the SHA-256 of ``asset_id|timestamp_ms|price|size|side`` (canonical decimal text, trailing zeros
dropped): stable across re-delivery, distinct unless two trades of one asset share the millisecond,
price, size and side; such ids cannot be reproduced from the Data API (second-resolution times, numeric
prices).

**Sequence and book hash.** The channel has no sequence numbers. ``hash`` is the SHA-1 (160 bits) of the
compact JSON of the book summary with its ``hash`` emptied, in the field order ``market, asset_id,
timestamp, hash, bids, asks, min_order_size, tick_size, neg_risk, last_trade_price``
(py-clob-client-v2 ``generate_orderbook_summary_hash``; Polymarket/py-clob-client#124, #209 and PR #232).
It does not fit the int64 ``checksum``, which stays ``None``. It can be recomputed (:func:`book_hash`,
:func:`verify_rest_book_hash`) only for a REST ``GET /book`` body, which carries every hashed field: the
``book`` message lacks ``min_order_size`` and ``neg_risk``, its ``last_trade_price`` may be newer than its
levels (Polymarket/py-clob-client-v2#117), the per-change ``hash`` of ``price_change`` is the hash "of the
order", and the venue has changed the hashed field set more than once (Polymarket/rs-clob-client#225).
So a stream gap cannot be proven from the hash: after a reconnect (each one starts with fresh ``book``
snapshots) or any doubt, resnapshot with :func:`rest_book_request` / :func:`parse_rest_book` and compare
the venue's ``best_bid``/``best_ask`` Tickers with the reduced book.

**REST history** (gap repair) comes from the public Data API ``GET https://data-api.polymarket.com/trades``
(the CLOB ``/data/trades`` needs L2 credentials and only lists the caller's trades). It filters by
``market`` (condition id), not by asset, pages by ``limit``/``offset`` (newest first, offset <= 10000) and
returns JSON numbers for price and size, integer seconds for ``timestamp``, and ``transactionHash``;
:func:`parse_rest_trades` keeps the rows of the requested asset. The condition id of an asset is in the
``market`` field of every message; :func:`asset_markets` collects it from the frames.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import orjson

from contracts.instruments import prediction_instrument
from contracts.records import BookUpdate, Level, Lifecycle, LifecycleEvent, Record, Side, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues.base import Control, ParsedFrame
from streaming.venues.wire import (
    MALFORMED_ERRORS,
    MAX_NS,
    NS_PER_MILLISECOND,
    NS_PER_SECOND,
    decimal_text_leading_point,
    describe,
)

VENUE = "polymarket"

CHANNEL = "market"
"""The WebSocket channel this module parses; the ``channel`` of every data frame."""

WS_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
CLOB_URL = "https://clob.polymarket.com"
DATA_API_URL = "https://data-api.polymarket.com"

PING_MESSAGE = "PING"
"""The text heartbeat the client sends; the server answers ``PONG``."""

PING_INTERVAL_SECONDS = 10.0
MAX_ASSETS_PER_CONNECTION = 500

Operation = Literal["subscribe", "unsubscribe"]

_PREFIX = "POLYMARKET:"
_CONTROL_TEXT: dict[str, Control] = {"PONG": "heartbeat", "PING": "heartbeat", "INVALID OPERATION": "error"}
_MAX_CONTROL_LENGTH = 64

_MAX_MS = MAX_NS // NS_PER_MILLISECOND
_MAX_SECONDS = MAX_NS // NS_PER_SECOND

_DIGITS = re.compile(r"[0-9]{1,19}")
_TX_HASH = re.compile(r"0[xX][0-9A-Za-z]{1,128}")
_CONDITION_ID = re.compile(r"0x[0-9a-fA-F]{64}")
_SIDES: dict[str, Literal["buy", "sell"]] = {"BUY": "buy", "SELL": "sell", "buy": "buy", "sell": "sell"}
_NO_QUOTE = (Decimal(0), Decimal(1))

_HASHED_FIELDS = (
    "market",
    "asset_id",
    "timestamp",
    "hash",
    "bids",
    "asks",
    "min_order_size",
    "tick_size",
    "neg_risk",
    "last_trade_price",
)


# --- asset mapping -----------------------------------------------------------------------------


def to_instrument(asset_id: str) -> str:
    """The canonical instrument of a Polymarket outcome token.

    Args:
        asset_id: The asset (outcome token) id, a decimal string of about 77 digits.

    Returns:
        ``"POLYMARKET:<asset_id>"``.

    Raises:
        ParseError: The id is empty, longer than 128 characters or has characters outside ``[A-Za-z0-9._-]``.
    """
    return _instrument_of(asset_id)


@functools.lru_cache(maxsize=65536)
def _instrument_of(asset_id: str) -> str:
    if type(asset_id) is not str:
        raise ParseError(f"asset id is {describe(asset_id)}, not a string")
    try:
        return prediction_instrument(VENUE, asset_id)
    except ValueError:
        raise ParseError(f"asset id {asset_id[:90]!r} is not 1-128 characters of [A-Za-z0-9._-]") from None


def to_symbol(instrument: str) -> str:
    """The Polymarket asset id of a canonical instrument.

    Args:
        instrument: ``"POLYMARKET:<asset_id>"``.

    Returns:
        The asset id.

    Raises:
        ValueError: The name is not a canonical Polymarket instrument.
    """
    if type(instrument) is not str or not instrument.startswith(_PREFIX):
        raise ValueError(f"{instrument!r} is not a Polymarket instrument such as 'POLYMARKET:<asset id>'")
    asset_id = instrument[len(_PREFIX) :]
    try:
        _instrument_of(asset_id)
    except ParseError as error:
        raise ValueError(f"{instrument!r} is not a canonical Polymarket instrument: {error}") from None
    return asset_id


# --- subscriptions -----------------------------------------------------------------------------


def subscribe_message(asset_ids: Sequence[str], custom_feature_enabled: bool = True) -> str:
    """The first message on a market-channel connection.

    Args:
        asset_ids: Asset (token) ids, at most :data:`MAX_ASSETS_PER_CONNECTION`.
        custom_feature_enabled: Also receive ``best_bid_ask``, ``new_market`` and ``market_resolved``.

    Returns:
        The JSON text, e.g. ``{"assets_ids":["123"],"type":"market","custom_feature_enabled":true}``.

    Raises:
        ValueError: No ids, too many ids, or an id :func:`to_instrument` rejects.
    """
    ids = _checked_assets(asset_ids)
    return _json({"assets_ids": ids, "type": CHANNEL, "custom_feature_enabled": bool(custom_feature_enabled)})


def update_subscription_message(
    asset_ids: Sequence[str], operation: Operation, custom_feature_enabled: bool = True
) -> str:
    """The message that adds assets to, or removes them from, an open connection.

    Args:
        asset_ids: Asset (token) ids.
        operation: ``"subscribe"`` or ``"unsubscribe"``.
        custom_feature_enabled: As in :func:`subscribe_message`.

    Returns:
        The JSON text, e.g. ``{"assets_ids":["123"],"operation":"subscribe","custom_feature_enabled":true}``.

    Raises:
        ValueError: Unknown operation, no ids, too many ids, or an id :func:`to_instrument` rejects.
    """
    if operation not in ("subscribe", "unsubscribe"):
        raise ValueError(f"operation must be 'subscribe' or 'unsubscribe', not {operation!r}")
    ids = _checked_assets(asset_ids)
    return _json({"assets_ids": ids, "operation": operation, "custom_feature_enabled": bool(custom_feature_enabled)})


def _checked_assets(asset_ids: Sequence[str]) -> list[str]:
    if isinstance(asset_ids, str):
        raise ValueError("asset_ids must be a sequence of ids, not one string")
    ids = list(asset_ids)
    if not ids:
        raise ValueError("a subscription needs at least one asset id")
    if len(ids) > MAX_ASSETS_PER_CONNECTION:
        raise ValueError(f"{len(ids)} asset ids; a connection carries at most {MAX_ASSETS_PER_CONNECTION}")
    for asset_id in ids:
        try:
            _instrument_of(asset_id)
        except ParseError as error:
            raise ValueError(str(error)) from None
    return ids


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- trade identity ----------------------------------------------------------------------------


def trade_id(
    asset_id: str,
    timestamp_ms: int,
    price: Decimal,
    size: Decimal,
    side: Side,
    transaction_hash: str | None = None,
) -> str:
    """The deterministic id of a Polymarket trade (see the module notes on identity).

    Args:
        asset_id: The traded asset.
        timestamp_ms: The trade time in epoch milliseconds.
        price: The trade price.
        size: The trade size.
        side: The taker side.
        transaction_hash: The match's Polygon transaction hash, when known.

    Returns:
        The lower-cased transaction hash, else ``"h:"`` and 32 hex digits of a SHA-256 of the other fields.
    """
    if transaction_hash:
        return transaction_hash.lower()
    text = f"{asset_id}|{timestamp_ms}|{_canonical(price)}|{_canonical(size)}|{side}"
    return "h:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _canonical(value: Decimal) -> str:
    text = format(value, "f")  # exact: no context rounding, unlike Decimal.normalize
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# --- book checksum -----------------------------------------------------------------------------


def top_of_book_checksum(bids: Sequence[Level], asks: Sequence[Level]) -> int:
    """The checksum of a book's top: the CRC32 of its best bid and best ask prices.

    Polymarket's own ``hash`` cannot be checked by a subscriber (a SHA-1 over fields the messages do not
    carry), but every current-format ``price_change`` entry reports the asset's ``best_bid``/``best_ask``
    after it. :func:`parse` puts :func:`top_checksum` of the asset's last entry on the asset's delta;
    a book (a :data:`streaming.book.Checksum`) that agrees with the venue has the same checksum. A lost
    change shows when it moved the top; one that did not is healed by the next ``book``.

    Args:
        bids: The bids, best (highest) first.
        asks: The asks, best (lowest) first.

    Returns:
        ``zlib.crc32`` of ``"<best bid>|<best ask>"``, each price as decimal text without trailing zeros
        (``"0.48|0.5"``), an empty side as the empty text.
    """
    return top_checksum(bids[0].price if bids else None, asks[0].price if asks else None)


def top_checksum(best_bid: Decimal | None, best_ask: Decimal | None) -> int:
    """:func:`top_of_book_checksum` of a top of book given as its two prices (``None``: an empty side)."""
    bid = "" if best_bid is None else _canonical(best_bid)
    ask = "" if best_ask is None else _canonical(best_ask)
    return zlib.crc32(f"{bid}|{ask}".encode())


# --- parsing -----------------------------------------------------------------------------------


def parse(raw: bytes | str, received_at: int) -> ParsedFrame:
    """Parse one market-channel frame.

    Args:
        raw: The frame exactly as received (UTF-8 bytes or text).
        received_at: When our socket received it, epoch nanoseconds; becomes every record's ``ts_recv``.

    Returns:
        For ``PONG``/``PING`` a ``"heartbeat"`` control frame and for ``INVALID OPERATION`` an ``"error"``
        one (channel ``""``, no records); otherwise channel ``"market"`` and the records of every message
        of the frame, in order (none for an empty array).

    Raises:
        ParseError: The frame is not valid JSON, not an object or an array of objects, or a message is
            not a well-formed market-channel event. No other exception escapes.
    """
    try:
        if len(raw) <= _MAX_CONTROL_LENGTH:
            text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
            control = _CONTROL_TEXT.get(text.strip())
            if control is not None:
                return ParsedFrame(channel="", control=control)
        message = orjson.loads(raw)
        records: list[Record] = []
        if type(message) is dict:
            _message(message, received_at, records)
        elif type(message) is list:
            for index, item in enumerate(message):
                if type(item) is not dict:
                    raise ParseError(f"frame array item {index} is {describe(item)}, not an object")
                _message(item, received_at, records)
        else:
            raise ParseError(f"frame is {describe(message)}, not an object or an array of objects")
        return ParsedFrame(channel=CHANNEL, records=tuple(records))
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("frame is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {error}") from None


def _message(message: dict[str, Any], received_at: int, out: list[Record]) -> None:
    event = message.get("event_type")
    if event == "last_trade_price":
        out.append(_trade(message, received_at))
    elif event == "price_change":
        _price_change(message, received_at, out)
    elif event == "book" or (event is None and "asset_id" in message and ("bids" in message or "buys" in message)):
        out.append(_book(message, received_at))
    elif event == "best_bid_ask":
        asset_id = _asset(message, "asset_id")
        out.append(
            Ticker(
                venue=VENUE,
                instrument=_instrument_of(asset_id),
                symbol=asset_id,
                ts_event=_ms_ns(message.get("timestamp"), "timestamp"),
                ts_recv=received_at,
                best_bid=_quote(message.get("best_bid"), "best_bid"),
                best_ask=_quote(message.get("best_ask"), "best_ask"),
            )
        )
    elif event == "tick_size_change":
        out.append(_tick_size(message, received_at))
    elif event == "new_market":
        _new_market(message, received_at, out)
    elif event == "market_resolved":
        _market_resolved(message, received_at, out)
    elif type(event) is str:
        raise ParseError(f"unknown event_type {event[:40]!r}")
    else:
        raise ParseError(f"event_type is {describe(event)}, not a string")


def _trade(message: dict[str, Any], received_at: int) -> Trade:
    asset_id = _asset(message, "asset_id")
    price = _price(message.get("price"), "price")
    size = _size(message.get("size"), "size")
    side = _taker_side(message.get("side"), "side")
    timestamp_ms = _ms(message.get("timestamp"), "timestamp")
    transaction_hash = _tx_hash(message.get("transaction_hash"), "transaction_hash")
    return Trade(
        venue=VENUE,
        instrument=_instrument_of(asset_id),
        symbol=asset_id,
        trade_id=trade_id(asset_id, timestamp_ms, price, size, side, transaction_hash),
        price=price,
        size=size,
        side=side,
        ts_event=timestamp_ms * 1_000_000,
        ts_recv=received_at,
    )


def _book(message: dict[str, Any], received_at: int) -> BookUpdate:
    asset_id = _asset(message, "asset_id")
    bids = _levels(_either(message, "bids", "buys"), "bids")
    asks = _levels(_either(message, "asks", "sells"), "asks")
    _optional_text(message.get("hash"), "hash")
    return BookUpdate(
        venue=VENUE,
        instrument=_instrument_of(asset_id),
        symbol=asset_id,
        kind="snapshot",
        bids=bids,
        asks=asks,
        ts_event=_ms_ns(message.get("timestamp"), "timestamp"),
        ts_recv=received_at,
    )


def _price_change(message: dict[str, Any], received_at: int, out: list[Record]) -> None:
    ts_event = _ms_ns(message.get("timestamp"), "timestamp")
    if "price_changes" in message:
        if "changes" in message:
            raise ParseError("price_change has both 'price_changes' (current) and 'changes' (legacy)")
        changes = message["price_changes"]
        if type(changes) is not list:
            raise ParseError(f"'price_changes' is {describe(changes)}, not an array")
        books: dict[str, tuple[list[Level], list[Level]]] = {}
        last: dict[str, dict[str, Any]] = {}
        for index, change in enumerate(changes):
            try:
                if type(change) is not dict:
                    raise ParseError(f"is {describe(change)}, not an object")
                asset_id = _asset(change, "asset_id")
                bids, asks = books.setdefault(asset_id, ([], []))
                side, level = _change(change)
                (bids if side == "buy" else asks).append(level)
                _optional_text(change.get("hash"), "hash")
            except ParseError as error:
                raise ParseError(f"price_changes[{index}]: {error}") from None
            last[asset_id] = change
        for asset_id, (bids, asks) in books.items():
            instrument = _instrument_of(asset_id)
            change = last[asset_id]
            if "best_bid" not in change and "best_ask" not in change:
                out.append(_delta(asset_id, instrument, bids, asks, ts_event, received_at))
                continue
            top = Ticker(
                venue=VENUE,
                instrument=instrument,
                symbol=asset_id,
                ts_event=ts_event,
                ts_recv=received_at,
                best_bid=_quote(change.get("best_bid"), "best_bid"),
                best_ask=_quote(change.get("best_ask"), "best_ask"),
            )
            checksum = top_checksum(top.best_bid, top.best_ask)
            out.append(_delta(asset_id, instrument, bids, asks, ts_event, received_at, checksum))
            out.append(top)
    elif "changes" in message:
        asset_id = _asset(message, "asset_id")
        changes = message["changes"]
        if type(changes) is not list:
            raise ParseError(f"'changes' is {describe(changes)}, not an array")
        bids, asks = [], []
        for index, change in enumerate(changes):
            try:
                if type(change) is not dict:
                    raise ParseError(f"is {describe(change)}, not an object")
                side, level = _change(change)
            except ParseError as error:
                raise ParseError(f"changes[{index}]: {error}") from None
            (bids if side == "buy" else asks).append(level)
        _optional_text(message.get("hash"), "hash")
        out.append(_delta(asset_id, _instrument_of(asset_id), bids, asks, ts_event, received_at))
    else:
        raise ParseError("price_change has neither 'price_changes' nor 'changes'")


def _delta(
    asset_id: str,
    instrument: str,
    bids: list[Level],
    asks: list[Level],
    ts_event: int,
    received_at: int,
    checksum: int | None = None,
) -> BookUpdate:
    return BookUpdate(
        venue=VENUE,
        instrument=instrument,
        symbol=asset_id,
        kind="delta",
        bids=tuple(bids),
        asks=tuple(asks),
        ts_event=ts_event,
        ts_recv=received_at,
        checksum=checksum,
    )


def _tick_size(message: dict[str, Any], received_at: int) -> Lifecycle:
    asset_id = _asset(message, "asset_id")
    details: dict[str, object] = {}
    for key in ("old_tick_size", "new_tick_size"):
        _price(message.get(key), key)
        details[key] = message[key]
    side = message.get("side")
    if side is not None:
        details["side"] = _book_side(side, "side").upper()
    market = _optional_text(message.get("market"), "market")
    if market is not None:
        details["market"] = market
    return _lifecycle(asset_id, "tick_size", message, received_at, details=details)


def _new_market(message: dict[str, Any], received_at: int, out: list[Record]) -> None:
    assets = _asset_list(message, "assets_ids")
    outcomes = _outcomes(message, len(assets))
    common = _market_details(message)
    active = message.get("active")
    status = None if type(active) is not bool else ("active" if active else "inactive")
    for index, asset_id in enumerate(assets):
        details = dict(common)
        if outcomes is not None:
            details["outcome"] = outcomes[index]
        out.append(_lifecycle(asset_id, "created", message, received_at, status=status, details=details))


def _market_resolved(message: dict[str, Any], received_at: int, out: list[Record]) -> None:
    winner = _asset(message, "winning_asset_id")
    assets = _asset_list(message, "assets_ids") if message.get("assets_ids") is not None else [winner]
    if winner not in assets:
        raise ParseError(f"winning_asset_id {winner[:90]!r} is not one of 'assets_ids'")
    outcomes = _outcomes(message, len(assets))
    common = _market_details(message)
    common["winning_asset_id"] = winner
    winning_outcome = _optional_text(message.get("winning_outcome"), "winning_outcome")
    if winning_outcome is not None:
        common["winning_outcome"] = winning_outcome
    for index, asset_id in enumerate(assets):
        details = dict(common)
        if outcomes is not None:
            details["outcome"] = outcomes[index]
        result = "yes" if asset_id == winner else "no"
        out.append(
            _lifecycle(asset_id, "settled", message, received_at, status="resolved", result=result, details=details)
        )


def _lifecycle(
    asset_id: str,
    event: LifecycleEvent,
    message: dict[str, Any],
    received_at: int,
    *,
    status: str | None = None,
    result: str | None = None,
    details: dict[str, object],
) -> Lifecycle:
    return Lifecycle(
        venue=VENUE,
        instrument=_instrument_of(asset_id),
        symbol=asset_id,
        event=event,
        ts_event=_ms_ns(message.get("timestamp"), "timestamp"),
        ts_recv=received_at,
        status=status,
        result=result,
        details=json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if details else None,
    )


def _market_details(message: dict[str, Any]) -> dict[str, object]:
    details: dict[str, object] = {}
    for key in ("market", "slug", "question"):
        value = _optional_text(message.get(key), key)
        if value is not None:
            details[key] = value
    market_id = message.get("id")
    if type(market_id) is int or type(market_id) is str:
        details["market_id"] = str(market_id)
    elif market_id is not None:
        raise ParseError(f"'id' is {describe(market_id)}, not a string or an integer")
    return details


def _outcomes(message: dict[str, Any], count: int) -> list[str] | None:
    outcomes = message.get("outcomes")
    if outcomes is None:
        return None
    if type(outcomes) is not list or any(type(outcome) is not str for outcome in outcomes):
        raise ParseError(f"'outcomes' is {describe(outcomes)}, not an array of strings")
    if len(outcomes) != count:
        raise ParseError(f"'outcomes' has {len(outcomes)} labels for {count} 'assets_ids'")
    return outcomes


# --- REST: gap repair and resnapshot -----------------------------------------------------------


def rest_trades_request(
    instrument: str,
    market: str,
    *,
    limit: int = 500,
    offset: int = 0,
    base_url: str = DATA_API_URL,
) -> tuple[str, dict[str, str]]:
    """The Data API request for the recent trades of an instrument's market.

    The endpoint filters by condition id only (both outcomes of the market come back, newest first);
    page with ``offset`` until the oldest row is older than the gap, then keep this instrument's rows
    with :func:`parse_rest_trades`.

    Args:
        instrument: ``"POLYMARKET:<asset_id>"`` (validated; the endpoint cannot filter by asset).
        market: The condition id of the asset's market (``0x`` + 64 hex digits), the ``market`` field of
            every market-channel message.
        limit: Rows per page, 1-10000 (older documentation caps it at 500).
        offset: Rows to skip, 0-10000.
        base_url: The Data API base URL (a trailing slash is ignored).

    Returns:
        The URL and its query parameters, e.g. ``("https://data-api.polymarket.com/trades",
        {"market": "0x...", "takerOnly": "true", "limit": "500", "offset": "0"})``. ``takerOnly=true``
        returns each match once, on its taker side, which is the side and the row the live stream has.

    Raises:
        ValueError: A malformed instrument or condition id, or limit/offset out of range.
    """
    to_symbol(instrument)
    if type(market) is not str or _CONDITION_ID.fullmatch(market) is None:
        raise ValueError(f"market {market!r} is not a condition id ('0x' and 64 hex digits)")
    if type(limit) is not int or not 1 <= limit <= 10_000:
        raise ValueError(f"limit {limit!r} is not an integer in 1..10000")
    if type(offset) is not int or not 0 <= offset <= 10_000:
        raise ValueError(f"offset {offset!r} is not an integer in 0..10000")
    params = {"market": market, "takerOnly": "true", "limit": str(limit), "offset": str(offset)}
    return f"{base_url.rstrip('/')}/trades", params


def asset_markets(raw: bytes | str) -> dict[str, str]:
    """The asset id -> market (condition id) pairs a market-channel frame names.

    :func:`rest_trades_request` needs an asset's condition id, which no record carries; every message
    has it in ``market``, so a collector can learn the map from the frames it parses.

    Args:
        raw: A frame as received (control frames name nothing).

    Returns:
        Asset id -> condition id, for every message with a well-formed ``market`` (``0x`` + 64 hex
        digits) and asset ids (``asset_id``, ``price_changes[].asset_id`` or ``assets_ids``).

    Raises:
        ParseError: The frame is neither a control frame nor JSON.
    """
    try:
        if len(raw) <= _MAX_CONTROL_LENGTH:
            text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
            if text.strip() in _CONTROL_TEXT:
                return {}
        decoded = orjson.loads(raw)
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {error}") from None
    pairs: dict[str, str] = {}
    for message in decoded if type(decoded) is list else [decoded]:
        if type(message) is not dict:
            continue
        market = message.get("market")
        if type(market) is not str or _CONDITION_ID.fullmatch(market) is None:
            continue
        assets = [message.get("asset_id")]
        for key in ("price_changes", "assets_ids"):
            values = message.get(key)
            if type(values) is list:
                assets.extend(value.get("asset_id") if type(value) is dict else value for value in values)
        for asset_id in assets:
            if type(asset_id) is str and _is_asset_id(asset_id):
                pairs[asset_id] = market
    return pairs


def _is_asset_id(asset_id: str) -> bool:
    try:
        _instrument_of(asset_id)
    except ParseError:
        return False
    return True


def parse_rest_trades(body: bytes | str, received_at: int, instrument: str) -> list[Trade]:
    """Parse a Data API ``/trades`` response into the instrument's trades.

    Prices and sizes are JSON numbers there; they are read as :class:`~decimal.Decimal` from their
    literal text (never a float). The id and side are those of the live stream (:func:`trade_id` on
    ``transactionHash``; ``side`` is the taker side with ``takerOnly=true``), so repaired trades
    deduplicate with streamed ones; ``ts_event`` has second resolution only.

    Args:
        body: The response body.
        received_at: When the response was received, epoch nanoseconds; becomes ``ts_recv``.
        instrument: ``"POLYMARKET:<asset_id>"``; rows of other assets (the market's other outcomes) are
            not this instrument's and are left out.

    Returns:
        The instrument's trades in response order.

    Raises:
        ParseError: The body is not a JSON array of well-formed trade rows (including a row without
            ``transactionHash``), or the instrument is not a Polymarket instrument.
    """
    asset_id = _rest_symbol(instrument)
    try:
        rows = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
        if type(rows) is not list:
            raise ParseError(f"trades body is {describe(rows)}, not an array")
        trades: list[Trade] = []
        for index, row in enumerate(rows):
            name = f"row {index}"
            if type(row) is not dict:
                raise ParseError(f"{name} is {describe(row)}, not an object")
            row_asset = _asset(row, "asset", name)
            price = _price(_exact(row.get("price")), f"{name}.price")
            size = _size(_exact(row.get("size")), f"{name}.size")
            side = _taker_side(row.get("side"), f"{name}.side", required=True)
            seconds = _seconds(row.get("timestamp"), f"{name}.timestamp")
            transaction_hash = _tx_hash(row.get("transactionHash"), f"{name}.transactionHash")
            if transaction_hash is None:
                raise ParseError(f"{name} has no transactionHash, so its trade id cannot match the stream's")
            if row_asset != asset_id:
                continue
            trades.append(
                Trade(
                    venue=VENUE,
                    instrument=instrument,
                    symbol=asset_id,
                    trade_id=trade_id(asset_id, seconds * 1_000, price, size, side, transaction_hash),
                    price=price,
                    size=size,
                    side=side,
                    ts_event=seconds * 1_000_000_000,
                    ts_recv=received_at,
                )
            )
        return trades
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("body is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable trades body: {type(error).__name__}: {error}") from None


def rest_book_request(instrument: str, base_url: str = CLOB_URL) -> tuple[str, dict[str, str]]:
    """The CLOB request for an instrument's full book (the resnapshot path).

    Args:
        instrument: ``"POLYMARKET:<asset_id>"``.
        base_url: The CLOB base URL (a trailing slash is ignored).

    Returns:
        ``("https://clob.polymarket.com/book", {"token_id": "<asset_id>"})``.

    Raises:
        ValueError: The instrument is not a Polymarket instrument.
    """
    return f"{base_url.rstrip('/')}/book", {"token_id": to_symbol(instrument)}


def parse_rest_book(body: bytes | str, received_at: int, instrument: str) -> BookUpdate:
    """Parse a CLOB ``GET /book`` response into a snapshot.

    The body is the book summary (``market``, ``asset_id``, ``timestamp``, ``hash``, ``bids``,
    ``asks``, ``min_order_size``, ``tick_size``, ``neg_risk``, ``last_trade_price``); its hash is not
    checked here (see :func:`verify_rest_book_hash`).

    Args:
        body: The response body.
        received_at: When the response was received, epoch nanoseconds; becomes ``ts_recv``.
        instrument: The instrument requested; the body must be its book.

    Returns:
        A ``kind="snapshot"`` :class:`~contracts.records.BookUpdate` stamped with the book's ``timestamp``.

    Raises:
        ParseError: The body is an error reply, not a well-formed book, or another asset's book.
    """
    asset_id = _rest_symbol(instrument)
    try:
        summary = orjson.loads(body)
        if type(summary) is not dict:
            raise ParseError(f"book body is {describe(summary)}, not an object")
        if "error" in summary and "bids" not in summary:
            raise ParseError(f"book request failed: {str(summary['error'])[:200]}")
        book = _book(summary, received_at)
        if book.symbol != asset_id:
            raise ParseError(f"asked for the book of {asset_id[:90]!r}, got {book.symbol[:90]!r}")
        return book
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("body is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable book body: {type(error).__name__}: {error}") from None


def book_hash(summary: Mapping[str, Any]) -> str:
    """The venue's hash of a book summary, as the CLOB computes it for ``GET /book``.

    SHA-1 over the compact JSON (no spaces) of the ten summary fields in the venue's order, with
    ``hash`` set to ``""`` and each level reduced to ``{"price", "size"}``; values are hashed as they
    are on the wire (strings stay strings, ``neg_risk`` a boolean).

    Args:
        summary: A decoded ``GET /book`` body.

    Returns:
        40 lower-case hex digits.

    Raises:
        ValueError: A hashed field is missing or a level is not a ``{price, size}`` object.
    """
    payload: dict[str, object] = {}
    for field in _HASHED_FIELDS:
        if field == "hash":
            payload[field] = ""
        elif field not in summary:
            raise ValueError(f"the book summary lacks {field!r}, one of the hashed fields {_HASHED_FIELDS}")
        elif field in ("bids", "asks"):
            levels = summary[field]
            if not isinstance(levels, list) or not all(isinstance(level, Mapping) for level in levels):
                raise ValueError(f"{field!r} is not an array of price levels")
            try:
                payload[field] = [{"price": level["price"], "size": level["size"]} for level in levels]
            except KeyError as error:
                raise ValueError(f"a level of {field!r} lacks {error}") from None
        else:
            payload[field] = summary[field]
    return hashlib.sha1(_json(payload).encode(), usedforsecurity=False).hexdigest()


def verify_rest_book_hash(body: bytes | str) -> bool:
    """Whether a ``GET /book`` body's ``hash`` is the hash of its content (:func:`book_hash`).

    A mismatch means the body is damaged or the venue changed its hashing again; count it, do not
    drop the book over it.

    Args:
        body: The response body.

    Returns:
        ``True`` when the recomputed hash equals the body's ``hash`` (case-insensitive).

    Raises:
        ParseError: The body is not a JSON object with a string ``hash`` and every hashed field.
    """
    try:
        summary = orjson.loads(body)
        expected = summary.get("hash") if type(summary) is dict else None
        if type(expected) is not str:
            raise ParseError("book body is not an object with a string 'hash'")
        return book_hash(summary) == expected.lower()
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("body is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"cannot hash the book body: {type(error).__name__}: {error}") from None


def _rest_symbol(instrument: str) -> str:
    try:
        return to_symbol(instrument)
    except ValueError as error:
        raise ParseError(str(error)) from None


def _reject_constant(name: str) -> object:
    raise ParseError(f"the body has the non-finite number {name}")


def _exact(value: object) -> object:
    """A JSON number decoded as Decimal/int, turned into its decimal text; strings pass through."""
    if type(value) is int:
        return str(value)
    if type(value) is Decimal:
        return str(value)  # the literal's digits and exponent, e.g. "0.89" or "1E-7"
    return value


# --- field readers -----------------------------------------------------------------------------


def _asset(container: dict[str, Any], key: str, where: str = "") -> str:
    value = container.get(key)
    name = f"{where}.{key}" if where else key
    if type(value) is not str:
        raise ParseError(f"{name!r} is {describe(value)}, not a string")
    _instrument_of(value)
    return value


def _asset_list(message: dict[str, Any], key: str) -> list[str]:
    values = message.get(key)
    if type(values) is not list or not values:
        raise ParseError(f"{key!r} is {describe(values)}, not a non-empty array of asset ids")
    for index, value in enumerate(values):
        if type(value) is not str:
            raise ParseError(f"'{key}[{index}]' is {describe(value)}, not a string")
        _instrument_of(value)
    if len(set(values)) != len(values):
        raise ParseError(f"{key!r} lists an asset id twice")
    return values


def _either(message: dict[str, Any], key: str, alias: str) -> object:
    if key in message:
        if alias in message:
            raise ParseError(f"book has both {key!r} and its older name {alias!r}")
        return message[key]
    if alias in message:
        return message[alias]
    raise ParseError(f"book has neither {key!r} nor {alias!r}")


def _levels(value: object, key: str) -> tuple[Level, ...]:
    if type(value) is not list:
        raise ParseError(f"{key!r} is {describe(value)}, not an array of levels")
    levels = []
    for index, level in enumerate(value):
        try:
            if type(level) is not dict:
                raise ParseError(f"is {describe(level)}, not a {{price, size}} object")
            levels.append(Level(_price(level.get("price"), "price"), _size(level.get("size"), "size")))
        except ParseError as error:
            raise ParseError(f"{key}[{index}]: {error}") from None
    return tuple(levels)


def _change(change: dict[str, Any]) -> tuple[Literal["buy", "sell"], Level]:
    """One price-level change of either price_change format: its book side and new level."""
    level = Level(_price(change.get("price"), "price"), _size(change.get("size"), "size"))
    return _book_side(change.get("side"), "side"), level


def _book_side(value: object, name: str) -> Literal["buy", "sell"]:
    side = _SIDES.get(value) if type(value) is str else None
    if side is None:
        raise ParseError(f"{name!r} is {describe(value)}, not 'BUY' or 'SELL'")
    return side


def _taker_side(value: object, name: str, required: bool = False) -> Side:
    if value is None and not required:
        return "unknown"
    return _book_side(value, name)


def _tx_hash(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is not str or _TX_HASH.fullmatch(value) is None:
        raise ParseError(f"{name!r} is {describe(value)}, not a 0x-prefixed transaction hash")
    return value


def _optional_text(value: object, name: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise ParseError(f"{name!r} is {describe(value)}, not a string")


def _ms(value: object, name: str) -> int:
    return _epoch_count(value, name, _MAX_MS, "milliseconds as a digit string")


def _ms_ns(value: object, name: str) -> int:
    return _ms(value, name) * NS_PER_MILLISECOND


def _seconds(value: object, name: str) -> int:
    return _epoch_count(value, name, _MAX_SECONDS, "seconds")


def _epoch_count(value: object, name: str, limit: int, unit: str) -> int:
    """A count of epoch units given as a digit string or a JSON integer, after the epoch and at most ``limit``."""
    if type(value) is str and _DIGITS.fullmatch(value) is not None:
        count = int(value)
    elif type(value) is int:
        count = value
    else:
        raise ParseError(f"{name!r} is {describe(value)}, not epoch {unit}")
    if not 0 < count <= limit:
        raise ParseError(f"time {name!r}={value!r} is out of range")
    return count


def _price(value: object, name: str) -> Decimal:
    price = decimal_text_leading_point(value, name)
    if not price:
        raise ParseError(f"price {name!r} is zero: {value!r}")
    return price


def _size(value: object, name: str) -> Decimal:
    return decimal_text_leading_point(value, name)


def _quote(value: object, name: str) -> Decimal | None:
    """A best bid/ask: ``None`` when absent, empty or a no-order sentinel (``0`` or ``1``)."""
    if value is None or value == "":
        return None
    price = decimal_text_leading_point(value, name)
    return None if price in _NO_QUOTE else price
