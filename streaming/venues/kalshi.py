"""Kalshi (prediction markets): WebSocket v2 parser, REST trade history, symbols, subscriptions, API-key signing.

Pure functions only: no I/O, no clock, no state beyond a memo of ticker lookups. Signing takes the
timestamp and the key as arguments (RSA-PSS signatures are randomized, so two signatures of the same
message differ, but both verify).

Sources: the Kalshi WebSocket AsyncAPI specification (https://docs.kalshi.com/asyncapi.yaml), the
per-channel pages under https://docs.kalshi.com/websockets/ (``orderbook-updates``, ``public-trades``,
``market-ticker``, ``market-ticker-v2``, ``market-and-event-lifecycle``), the market lifecycle guide
(https://docs.kalshi.com/getting_started/market_lifecycle), the REST reference of ``GET /markets/trades``
(https://docs.kalshi.com/api-reference/market/get-trades) and the API-key guide
(https://docs.kalshi.com/getting_started/api_keys, https://docs.kalshi.com/getting_started/quick_start_websockets).

**Envelope.** Every server frame is a JSON object ``{"type": ..., "sid": int, "seq": int, "msg": {...}}``
(``id`` echoes a client command id on replies). ``sid`` is the server's subscription id; ``seq`` is a
counter **per sid**, contiguous (+1 per frame of that subscription, across all markets it covers).
Not every frame carries ``seq``: order-book snapshots/deltas, trades and lifecycle messages do;
``ticker``/``ticker_v2`` do not. Replies to ``update_subscription`` (``ok``), ``unsubscribed`` and
subscription-scoped ``error`` frames can carry a ``seq`` of their sid too, and count in its sequence.
:func:`envelope` and :func:`subscription_sequence` expose ``(sid, seq)`` of any frame (control or data)
so that a gap detector can check, per connection and sid, that each ``seq`` is the previous plus one.
Book records also carry the frame's ``seq`` as ``BookUpdate.sequence``; ``prev_sequence`` stays
``None`` because the previous ``seq`` of a sid may belong to another market.

**Wire eras.** Kalshi has moved prices from integer cents to dollar strings and counts from integers
to fixed-point strings, publishing both for a while. Frames of every era are accepted; when several
encodings of one value are present the most precise wins and the others are ignored (they can legitimately
differ: a sub-penny price such as ``"0.3450"`` has no exact cent value):

* price: ``*_dollars`` (fixed-point dollar string, up to 4 decimals) over the integer cent field;
* count: ``*_fp`` (fixed-point string, 2 decimals, fractional counts exist) over the integer field;
* book levels: ``yes_dollars_fp``/``no_dollars_fp`` (``[[price, count], ...]`` strings) over
  ``yes_dollars``/``no_dollars`` (dollar string, integer count) over ``yes``/``no`` (cents, count).

**Trades** (``trade``): ``trade_id``, ``market_ticker``, ``yes_price[_dollars]``, ``no_price[_dollars]``,
``count[_fp]``, taker direction, ``ts`` (seconds) / ``ts_ms`` (milliseconds), ``is_block_trade``.

* Price convention: ``Trade.price`` is the **YES price in dollars** (the exchange's canonical
  quote; both parties trade at it). From ``yes_price_dollars``, else ``yes_price`` cents / 100, else
  ``1 - no_price_dollars`` or ``(100 - no_price) / 100``. When YES and NO prices of one encoding are both
  present they must add up to exactly 1.
* Taker side (source: the ``taker_outcome_side``/``taker_book_side`` descriptions in the AsyncAPI
  spec and https://docs.kalshi.com/getting_started/order_direction): ``yes`` means the taker bought YES
  (or sold NO), ``no`` means the taker bought NO, which is economically **selling YES**. On the YES
  price axis: ``yes`` -> ``"buy"``, ``no`` -> ``"sell"``; likewise ``taker_book_side`` ``bid`` ->
  ``"buy"``, ``ask`` -> ``"sell"``. ``taker_outcome_side`` wins, then ``taker_book_side`` (the two must
  agree when both are present), then the deprecated ``taker_side``.
* Size is the contract count. Block trades (``is_block_trade``) are executions too and are kept.
* ``ts_event`` is ``ts_ms`` when present, else ``ts`` (seconds); REST trades use ``created_time``.
* Identity: ``trade_id`` (a UUID). Frames of the oldest documented form have none; they get the
  deterministic ``"derived-" + blake2b-128(ticker|ts_event ns|price|count|side|sid|seq)`` (normalized
  decimal text, empty for a missing sid/seq), stable across reparses of the same raw frame; two
  identical trades in the same second on a frame without ``seq`` would share it.

**Order book** (channel ``orderbook_delta``: one ``orderbook_snapshot`` per market, then
``orderbook_delta``). A Kalshi book holds only bids: YES bids and NO bids. A YES bid at ``p`` is a
bid of the YES contract; a NO bid at ``q`` is an offer to sell YES at ``1 - q`` (buying NO at ``q`` is
selling YES at ``1 - q``, same size). Records are on the YES price axis: ``bids`` are the YES bids,
``asks`` are the NO bids mapped to ``1 - q`` exactly (``Decimal("1") - q``). Snapshot levels are
ordered best first (bids descending, asks ascending). This assumes Kalshi's documented default
"no-leg pricing" of the NO side; :func:`subscribe_message` therefore pins ``use_yes_price: false`` for
``orderbook_delta`` subscriptions, because Kalshi announced that this default will flip.

**Deltas are RELATIVE.** An ``orderbook_delta`` carries a signed quantity *change* (``delta[_fp]``) at
one price, not the new size, so a Kalshi delta is a ``BookUpdate(kind="increment")`` with **one
level whose ``size`` is the signed change** (negative removes contracts). A reducer adds it to the
current size (removing the level at 0, treating a negative result as a desync and resnapshotting),
never replaces the size with it. Snapshots are absolute.

**Ticker** (``ticker``; ``ticker_v2`` is the incremental variant, carrying a subset of fields):
``price[_dollars]`` -> ``last_price``, ``yes_bid[_dollars]`` -> ``best_bid``, ``yes_ask[_dollars]``
-> ``best_ask``, ``yes_bid_size_fp``/``yes_ask_size_fp`` -> sizes, ``open_interest[_fp]`` ->
``open_interest`` (contracts). Prices are passed as sent (an empty side can appear as ``0``).
Kalshi's ``volume`` is the market's lifetime total, not a 24 h volume, and ``ticker_v2``'s
``*_delta`` fields are increments; neither fits ``Ticker.volume_24h``, which stays ``None``, as do the
``dollar_*`` notionals and ``no_bid*`` fields. ``ts_event`` is ``ts_ms``, else ``ts`` (seconds), else
``time`` (RFC 3339).

**Lifecycle** (``market_lifecycle_v2`` and ``multivariate_market_lifecycle``, ``event_type``):
``created`` -> ``"created"``; ``deactivated`` (trading paused) -> ``"paused"``; ``activated`` (paused
market reactivated; Kalshi cancels all resting orders then) -> ``"resumed"``; ``determined`` ->
``"determined"`` (``result``); ``settled`` (positions paid out) -> ``"settled"``;
``price_level_structure_updated`` -> ``"tick_size"``; ``close_date_updated``, ``metadata_updated`` and
any future event type -> ``"status"``. ``Lifecycle.status`` is the venue's ``event_type`` verbatim.
``event_lifecycle`` (an *event*, a group of markets, was created) -> ``"created"`` with status
``"event_created"`` and ``event_fee_update`` -> ``"status"`` with status ``"event_fee_update"``; both
name the event ticker as instrument (``KALSHI:<event_ticker>``). Every other field of ``msg`` goes into
``details`` as compact JSON with sorted keys. ``ts_event`` is ``determination_ts``/``settled_ts``
(seconds) for those events, else the receive time: Kalshi does not timestamp the other messages.

**Times.** Each field has its documented unit: ``ts``, ``open_ts``, ``close_ts``, ``determination_ts``,
``settled_ts`` are integer seconds; ``ts_ms`` is integer milliseconds; ``time``, ``created_time`` and the
order-book delta's deprecated ``ts`` are RFC 3339 strings (``Z`` or ``±hh:mm``, up to 9 fractional digits,
converted exactly by :func:`streaming.venues.wire.rfc3339_ns`; ``T`` and ``Z`` may be lower case, as RFC 3339
allows). All become integer epoch **nanoseconds**; a value that is not an integer of that
unit or does not fit an int64 of nanoseconds is rejected (a millisecond value in a seconds field is out
of range, never silently misread). When a message has no venue time (snapshots, some deltas and
tickers, most lifecycle events), ``ts_event`` is ``received_at``. Trades must carry a venue time.

**Decimals.** Dollar and count strings must be plain fixed-point text (``-?digits[.digits]``) and are
turned into :class:`~decimal.Decimal` from that text, never through a float. Integer cents become
``Decimal(cents).scaleb(-2)``; cents and dollar encodings of one price are equal decimals. The store is
``decimal(38, 18)``: more than 18 fractional or 20 integer significant digits are rejected. Prices of
trades and book levels must lie strictly between 0 and 1; ticker prices within [0, 1]; counts >= 0
(only delta changes are signed). JSON numbers where text is expected (and floats anywhere) are rejected.

**Control frames.** ``subscribed``, ``unsubscribed`` and ``ok`` are acks; ``error``
(``{"code": int, "msg": str}``) is an error. Kalshi's keep-alive is a WebSocket Ping frame with body
``heartbeat``; if such a body reaches :func:`parse` it is reported as a heartbeat. Any other ``type``
(private channels such as ``fill``, ``user_order``, RFQ messages) raises :class:`ParseError`.

**Authentication.** The WebSocket handshake is signed (the current specification requires it even for
public channels): ``KALSHI-ACCESS-KEY`` (the key id),
``KALSHI-ACCESS-TIMESTAMP`` (milliseconds) and ``KALSHI-ACCESS-SIGNATURE``, the base64 RSA-PSS
signature (SHA-256, MGF1 with SHA-256, salt length = digest length, 32 bytes) of
``f"{timestamp_ms}{METHOD}{path}"`` where ``path`` excludes any query string; for the WebSocket the
method is ``GET`` and the path ``/trade-api/ws/v2``.

**REST history.** ``GET /trade-api/v2/markets/trades?ticker=&limit=&cursor=&min_ts=`` returns
``{"trades": [...], "cursor": "..."}`` (newest first in practice; the order is not documented); an empty
cursor ends the walk. Its trades have the
same fields as the WebSocket's (``ticker`` instead of ``market_ticker``, ``created_time`` for the time)
and are parsed with the same price, side and identity conventions, so a WebSocket trade and its REST
copy have the same ``trade_id`` and deduplicate.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from contracts.instruments import prediction_instrument
from contracts.records import BookUpdate, Level, Lifecycle, LifecycleEvent, Record, Side, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues.base import Control, ParsedFrame
from streaming.venues.wire import (
    MALFORMED_ERRORS,
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    NS_PER_MILLISECOND,
    NS_PER_SECOND,
    describe,
    epoch_ns,
    json_kind,
    rfc3339_ns,
)

VENUE = "kalshi"

WS_PATH = "/trade-api/ws/v2"
"""Path of the WebSocket endpoint (the signed path of the handshake)."""

REST_TRADES_PATH = "/trade-api/v2/markets/trades"
"""Path of the public trade history (``GET``)."""

Channel = Literal[
    "trade", "ticker", "ticker_v2", "orderbook_delta", "market_lifecycle_v2", "multivariate_market_lifecycle"
]
"""The Kalshi channels this module parses."""

CHANNELS: tuple[Channel, ...] = (
    "trade",
    "ticker",
    "ticker_v2",
    "orderbook_delta",
    "market_lifecycle_v2",
    "multivariate_market_lifecycle",
)

REST_PAGE_LIMIT = 1000
"""The largest page ``GET /markets/trades`` serves."""

_PREFIX = "KALSHI:"
_ONE = Decimal(1)
_CENTS: tuple[Decimal, ...] = tuple(Decimal(cents).scaleb(-2) for cents in range(101))
_FIXED = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Fixed-point text that fits decimal(38, 18): <= 20 integer digits after leading zeros and <= 18
# fractional digits before trailing zeros. Anything else takes the slower, explaining path.
_FITTING = re.compile(r"0*[0-9]{1,20}(?:\.[0-9]{1,18}0*)?")
_SIGNED_FITTING = re.compile(r"-?0*[0-9]{1,20}(?:\.[0-9]{1,18}0*)?")
_TRADE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_METHOD = re.compile(r"[A-Z]{1,16}")

_OUTCOME_SIDES: dict[object, Side] = {"yes": "buy", "no": "sell"}
_BOOK_SIDES: dict[object, Side] = {"bid": "buy", "ask": "sell"}

_LIFECYCLE_EVENTS: dict[str, LifecycleEvent] = {
    "created": "created",
    "activated": "resumed",
    "deactivated": "paused",
    "determined": "determined",
    "settled": "settled",
    "price_level_structure_updated": "tick_size",
    "close_date_updated": "status",
    "metadata_updated": "status",
}
_LIFECYCLE_TIME = {"determined": "determination_ts", "settled": "settled_ts"}
_LIFECYCLE_SECONDS = ("open_ts", "close_ts", "determination_ts", "settled_ts")

_CONTROL: dict[str, Control] = {"subscribed": "ack", "unsubscribed": "ack", "ok": "ack", "error": "error"}
_HEARTBEAT = ParsedFrame(channel="", control="heartbeat")
_HEARTBEAT_BODIES = (b"heartbeat", "heartbeat")


# --- symbol mapping ----------------------------------------------------------------------------


def to_instrument(market_ticker: str) -> str:
    """The canonical instrument of a Kalshi market ticker.

    Args:
        market_ticker: A Kalshi market ticker, e.g. ``"KXBTCD-25NOV2117-T95999.99"``.

    Returns:
        ``"KALSHI:<market_ticker>"``, e.g. ``"KALSHI:KXBTCD-25NOV2117-T95999.99"``.

    Raises:
        ParseError: The ticker is not 1-128 characters of ``[A-Za-z0-9._-]``.
    """
    if type(market_ticker) is not str:
        raise ParseError(f"market ticker is {describe(market_ticker)}, not a string")
    return _instrument_of(market_ticker)


@functools.lru_cache(maxsize=8192)
def _instrument_of(ticker: str) -> str:
    try:
        return prediction_instrument(VENUE, ticker)
    except ValueError:
        raise ParseError(f"{ticker[:140]!r} is not a Kalshi ticker (1-128 characters of [A-Za-z0-9._-])") from None


def to_symbol(instrument: str) -> str:
    """The Kalshi market ticker of a canonical instrument.

    Args:
        instrument: A canonical Kalshi instrument, e.g. ``"KALSHI:KXBTCD-25NOV2117-T95999.99"``.

    Returns:
        The market ticker, e.g. ``"KXBTCD-25NOV2117-T95999.99"``.

    Raises:
        ValueError: The name is not ``KALSHI:<ticker>`` with a valid ticker.
    """
    if type(instrument) is not str or not instrument.startswith(_PREFIX):
        raise ValueError(f"{instrument!r} is not a Kalshi instrument such as 'KALSHI:KXBTCD-25NOV2117-T95999.99'")
    ticker = instrument[len(_PREFIX) :]
    try:
        to_instrument(ticker)
    except ParseError as error:
        raise ValueError(f"{instrument!r} is not a Kalshi instrument: {error}") from None
    return ticker


# --- subscriptions -----------------------------------------------------------------------------


def subscribe_message(channels: Sequence[str], market_tickers: Sequence[str], request_id: int) -> str:
    """The ``subscribe`` command for channels, optionally restricted to markets.

    For ``orderbook_delta`` the command pins ``"use_yes_price": false`` (Kalshi's documented default,
    announced to flip), the NO-side pricing :func:`parse` expects.

    Args:
        channels: Channel names from :data:`CHANNELS`, e.g. ``["orderbook_delta", "trade"]``.
        market_tickers: Market tickers, e.g. ``["FED-23DEC-T3.00"]``; empty for all markets (the
            lifecycle channels accept no market filter).
        request_id: The command id (>= 1) echoed in the reply.

    Returns:
        The JSON text, e.g.
        ``{"id":1,"cmd":"subscribe","params":{"channels":["trade"],"market_tickers":["FED-23DEC-T3.00"]}}``.

    Raises:
        ValueError: No or unknown channels, an invalid ticker or request id.
    """
    if not channels:
        raise ValueError("a subscription needs at least one channel")
    for channel in channels:
        if channel not in CHANNELS:
            raise ValueError(f"unknown Kalshi channel {channel!r}; expected one of {CHANNELS}")
    params: dict[str, Any] = {"channels": list(channels)}
    if market_tickers:
        params["market_tickers"] = _tickers(market_tickers)
    if "orderbook_delta" in channels:
        params["use_yes_price"] = False
    return _command("subscribe", params, request_id)


def unsubscribe_message(sids: Sequence[int], request_id: int) -> str:
    """The ``unsubscribe`` command for subscription ids.

    Args:
        sids: Subscription ids from ``subscribed`` replies, e.g. ``[1, 2]``.
        request_id: The command id (>= 1) echoed in the reply.

    Returns:
        The JSON text, e.g. ``{"id":2,"cmd":"unsubscribe","params":{"sids":[1,2]}}``.

    Raises:
        ValueError: No sids, or a sid or request id that is not a positive integer.
    """
    if not sids:
        raise ValueError("unsubscribe needs at least one subscription id")
    return _command("unsubscribe", {"sids": [_positive("sid", sid) for sid in sids]}, request_id)


def snapshot_request_message(sid: int, market_tickers: Sequence[str], request_id: int) -> str:
    """The ``update_subscription``/``get_snapshot`` command: fresh book snapshots, e.g. after a gap.

    Args:
        sid: The ``orderbook_delta`` subscription id.
        market_tickers: The markets to resnapshot (at least one).
        request_id: The command id (>= 1) echoed in the reply.

    Returns:
        The JSON text, e.g. ``{"id":3,"cmd":"update_subscription","params":{"sids":[7],
        "market_tickers":["FED-23DEC-T3.00"],"action":"get_snapshot"}}``.

    Raises:
        ValueError: No tickers, an invalid ticker, sid or request id.
    """
    if not market_tickers:
        raise ValueError("a snapshot request needs at least one market ticker")
    params = {"sids": [_positive("sid", sid)], "market_tickers": _tickers(market_tickers), "action": "get_snapshot"}
    return _command("update_subscription", params, request_id)


def _command(cmd: str, params: dict[str, Any], request_id: int) -> str:
    return json.dumps({"id": _positive("request id", request_id), "cmd": cmd, "params": params}, separators=(",", ":"))


def _tickers(market_tickers: Sequence[str]) -> list[str]:
    if isinstance(market_tickers, str):
        raise ValueError("market_tickers must be a sequence of tickers, not one string")
    for ticker in market_tickers:
        try:
            to_instrument(ticker)
        except ParseError as error:
            raise ValueError(str(error)) from None
    return list(market_tickers)


def _positive(name: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


# --- envelope and sequences --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Envelope:
    """The routing fields of a Kalshi frame.

    Attributes:
        type: The message type, e.g. ``"orderbook_delta"``, ``"subscribed"``, or ``"heartbeat"``.
        sid: The subscription id, when the frame has one.
        seq: The frame's position in its subscription's sequence, when it has one.
        request_id: The client command id a reply echoes, when it has one.
    """

    type: str
    sid: int | None
    seq: int | None
    request_id: int | None


def envelope(raw: bytes | str) -> Envelope:
    """The envelope of any Kalshi frame, data or control, for sequence checking and routing.

    A gap detector keys on (connection, ``sid``) and expects each ``seq`` to be the previous plus
    one; frames without ``seq`` (tickers, most acks) do not take part.

    Args:
        raw: The frame exactly as received.

    Returns:
        The frame's type, sid, seq and request id.

    Raises:
        ParseError: The frame is not a JSON object with a string ``type`` and well-typed ids.
    """
    if raw in _HEARTBEAT_BODIES:
        return Envelope("heartbeat", None, None, None)
    try:
        message = orjson.loads(raw)
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {error}") from None
    if type(message) is not dict:
        raise ParseError(f"frame is a JSON {json_kind(message)}, not an object")
    return _envelope(message)


def subscription_sequence(raw: bytes | str) -> tuple[int, int] | None:
    """``(sid, seq)`` of a frame that carries both, else ``None``.

    Args:
        raw: The frame exactly as received.

    Returns:
        The subscription id and its sequence number, or ``None`` for unsequenced frames.

    Raises:
        ParseError: As :func:`envelope`.
    """
    head = envelope(raw)
    if head.sid is None or head.seq is None:
        return None
    return head.sid, head.seq


def _envelope(message: dict[str, Any]) -> Envelope:
    kind = message.get("type")
    if type(kind) is not str:
        raise ParseError(f"message 'type' is {describe(kind)}, not a string")
    request_id = message.get("id")
    if request_id is not None and (type(request_id) is not int or request_id < 0):
        raise ParseError(f"command id 'id' is {describe(request_id)}, not a non-negative integer")
    return Envelope(kind, _optional_count(message, "sid"), _optional_count(message, "seq"), request_id)


def _optional_count(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise ParseError(f"{key!r} is {describe(value)}, not a positive integer")
    return value


# --- parsing -----------------------------------------------------------------------------------


def parse(raw: bytes | str, received_at: int) -> ParsedFrame:
    """Parse one Kalshi WebSocket frame.

    Args:
        raw: The frame exactly as received (UTF-8 bytes or text).
        received_at: When our socket received it, epoch nanoseconds; becomes ``ts_recv`` (and
            ``ts_event`` of messages without a venue time).

    Returns:
        For a data frame, its message type as channel and its records: one
        :class:`~contracts.records.Trade`, :class:`~contracts.records.BookUpdate`,
        :class:`~contracts.records.Ticker` or :class:`~contracts.records.Lifecycle`. For a reply, a
        control frame (``"ack"`` or ``"error"``) with channel ``""``; for a ``heartbeat`` body, a
        heartbeat.

    Raises:
        ParseError: The frame is not valid JSON, not an object, of an unsupported type, or not a
            well-formed message of its type. No other exception escapes.
    """
    try:
        if raw in _HEARTBEAT_BODIES:
            return _HEARTBEAT
        message = orjson.loads(raw)
        if type(message) is not dict:
            raise ParseError(f"frame is a JSON {json_kind(message)}, not an object")
        head = _envelope(message)
        handler = _HANDLERS.get(head.type)
        if handler is not None:
            body = message.get("msg")
            if type(body) is not dict:
                raise ParseError(f"{head.type} frame 'msg' is {describe(body)}, not an object")
            return ParsedFrame(channel=head.type, records=(handler(body, head, received_at),))
        control = _CONTROL.get(head.type)
        if control is not None:
            body = message.get("msg")
            if control == "error" and (type(body) is not dict or type(body.get("code")) is not int):
                raise ParseError("error frame without an object 'msg' holding an integer 'code'")
            if body is not None and type(body) not in (dict, list):
                raise ParseError(f"{head.type} frame 'msg' is {describe(body)}, not an object or array")
            return ParsedFrame(channel="", control=control)
        raise ParseError(f"unsupported message type {head.type[:40]!r}")
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("frame is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {error}") from None


def _trade_frame(body: dict[str, Any], head: Envelope, received_at: int) -> Trade:
    return _trade(body, "market_ticker", received_at, head.sid, head.seq, require_id=False)


def _trade(
    body: dict[str, Any], ticker_key: str, received_at: int, sid: int | None, seq: int | None, *, require_id: bool
) -> Trade:
    ticker = _string(body, ticker_key)
    instrument = _instrument_of(ticker)
    price = _yes_price(body)
    size = _count(body, "count_fp", "count")
    if size is None:
        raise ParseError("trade has no count: neither 'count_fp' nor 'count'")
    side = _taker_side(body)
    ts_event = _time(body, _TRADE_TIMES)
    if ts_event is None:
        raise ParseError("trade has no time: none of 'ts_ms', 'ts', 'created_time'")
    trade_id = body.get("trade_id")
    if trade_id is None and not require_id:
        parts = (ticker, str(ts_event), _plain(price), _plain(size), side, str(sid or ""), str(seq or ""))
        trade_id = "derived-" + hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()
    elif type(trade_id) is not str or _TRADE_ID.fullmatch(trade_id) is None:
        raise ParseError(f"'trade_id' is {describe(trade_id)}, not an id of 1-128 characters [A-Za-z0-9._:-]")
    return Trade(
        venue=VENUE,
        instrument=instrument,
        symbol=ticker,
        trade_id=trade_id,
        price=price,
        size=size,
        side=side,
        ts_event=ts_event,
        ts_recv=received_at,
    )


def _yes_price(body: dict[str, Any]) -> Decimal:
    yes_text = body.get("yes_price_dollars")
    no_text = body.get("no_price_dollars")
    if yes_text is not None or no_text is not None:
        yes = _dollars(yes_text, "yes_price_dollars") if yes_text is not None else None
        no = _dollars(no_text, "no_price_dollars") if no_text is not None else None
        source = "yes_price_dollars/no_price_dollars"
    else:
        yes_cents = body.get("yes_price")
        no_cents = body.get("no_price")
        if yes_cents is None and no_cents is None:
            raise ParseError(
                "trade has no price: none of 'yes_price_dollars', 'no_price_dollars', 'yes_price', 'no_price'"
            )
        yes = _cents(yes_cents, "yes_price") if yes_cents is not None else None
        no = _cents(no_cents, "no_price") if no_cents is not None else None
        source = "yes_price/no_price"
    if yes is None:
        assert no is not None
        yes = _ONE - no
    elif no is not None and yes + no != _ONE:
        raise ParseError(f"{source} do not add up to 1: {yes} + {no}")
    if not 0 < yes < 1:
        raise ParseError(f"trade price {yes} is not strictly between 0 and 1")
    return yes


def _taker_side(body: dict[str, Any]) -> Side:
    outcome = body.get("taker_outcome_side")
    book = body.get("taker_book_side")
    side: Side | None = None
    if outcome is not None:
        side = _OUTCOME_SIDES.get(outcome)
        if side is None:
            raise ParseError(f"'taker_outcome_side' is {describe(outcome)}, not 'yes' or 'no'")
    if book is not None:
        book_side = _BOOK_SIDES.get(book)
        if book_side is None:
            raise ParseError(f"'taker_book_side' is {describe(book)}, not 'bid' or 'ask'")
        if side is not None and side != book_side:
            raise ParseError(f"'taker_outcome_side' {outcome!r} contradicts 'taker_book_side' {book!r}")
        side = book_side
    if side is not None:
        return side
    legacy = body.get("taker_side")
    side = _OUTCOME_SIDES.get(legacy)
    if side is None:
        raise ParseError(f"'taker_side' is {describe(legacy)}, not 'yes' or 'no'")
    return side


def _snapshot(body: dict[str, Any], head: Envelope, received_at: int) -> BookUpdate:
    ticker = _string(body, "market_ticker")
    instrument = _instrument_of(ticker)
    bids = sorted(_levels(body, "yes"), key=_price_of, reverse=True)
    asks = sorted((Level(price=_ONE - level.price, size=level.size) for level in _levels(body, "no")), key=_price_of)
    for side, levels in (("yes", bids), ("no", asks)):
        if len({level.price for level in levels}) != len(levels):
            raise ParseError(f"snapshot repeats a {side} price level")
    return BookUpdate(
        venue=VENUE,
        instrument=instrument,
        symbol=ticker,
        kind="snapshot",
        bids=tuple(bids),
        asks=tuple(asks),
        ts_event=received_at,
        ts_recv=received_at,
        sequence=_required_seq(head),
    )


def _levels(body: dict[str, Any], side: str) -> list[Level]:
    for key, in_cents in ((f"{side}_dollars_fp", False), (f"{side}_dollars", False), (side, True)):
        entries = body.get(key)
        if entries is None:
            continue
        if type(entries) is not list:
            raise ParseError(f"{key!r} is {describe(entries)}, not an array of [price, count] levels")
        levels = []
        for entry in entries:
            if type(entry) is not list or len(entry) != 2:
                raise ParseError(f"{key!r} level {describe(entry)} is not a [price, count] pair")
            price = _cents(entry[0], key) if in_cents else _dollars(entry[0], key)
            if not 0 < price < 1:
                raise ParseError(f"{key!r} price {price} is not strictly between 0 and 1")
            levels.append(Level(price=price, size=_count_value(entry[1], key)))
        return levels
    return []


def _delta(body: dict[str, Any], head: Envelope, received_at: int) -> BookUpdate:
    ticker = _string(body, "market_ticker")
    instrument = _instrument_of(ticker)
    if "price_dollars" in body:
        price = _dollars(body["price_dollars"], "price_dollars")
    else:
        price = _cents(body.get("price"), "price")
    if not 0 < price < 1:
        raise ParseError(f"delta price {price} is not strictly between 0 and 1")
    if "delta_fp" in body:
        change = _decimal(body["delta_fp"], "delta_fp", signed=True)
    else:
        change = _whole(body.get("delta"), "delta", signed=True)
    side = body.get("side")
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    if side == "yes":
        bids = (Level(price=price, size=change),)
    elif side == "no":
        asks = (Level(price=_ONE - price, size=change),)
    else:
        raise ParseError(f"delta 'side' is {describe(side)}, not 'yes' or 'no'")
    ts_event = _time(body, _DELTA_TIMES)
    return BookUpdate(
        venue=VENUE,
        instrument=instrument,
        symbol=ticker,
        kind="increment",
        bids=bids,
        asks=asks,
        ts_event=received_at if ts_event is None else ts_event,
        ts_recv=received_at,
        sequence=_required_seq(head),
    )


def _required_seq(head: Envelope) -> int:
    if head.seq is None:
        raise ParseError(f"{head.type} frame without 'seq'")
    return head.seq


def _ticker(body: dict[str, Any], head: Envelope, received_at: int) -> Ticker:
    ticker = _string(body, "market_ticker")
    instrument = _instrument_of(ticker)
    ts_event = _time(body, _TICKER_TIMES)
    return Ticker(
        venue=VENUE,
        instrument=instrument,
        symbol=ticker,
        ts_event=received_at if ts_event is None else ts_event,
        ts_recv=received_at,
        best_bid=_quote(body, "yes_bid_dollars", "yes_bid"),
        best_bid_size=_optional_count_value(body, "yes_bid_size_fp"),
        best_ask=_quote(body, "yes_ask_dollars", "yes_ask"),
        best_ask_size=_optional_count_value(body, "yes_ask_size_fp"),
        last_price=_quote(body, "price_dollars", "price"),
        open_interest=_count(body, "open_interest_fp", "open_interest"),
        sequence=head.seq,
    )


def _quote(body: dict[str, Any], dollars_key: str, cents_key: str) -> Decimal | None:
    text = body.get(dollars_key)
    if text is not None:
        price = _dollars(text, dollars_key)
        if price > _ONE:
            raise ParseError(f"{dollars_key!r}={text!r} is above 1 dollar")
        return price
    cents = body.get(cents_key)
    return None if cents is None else _cents(cents, cents_key)


def _market_lifecycle(body: dict[str, Any], head: Envelope, received_at: int) -> Lifecycle:
    ticker = _string(body, "market_ticker")
    instrument = _instrument_of(ticker)
    event_type = body.get("event_type")
    if type(event_type) is not str or _EVENT_TYPE.fullmatch(event_type) is None:
        raise ParseError(f"'event_type' is {describe(event_type)}, not a lower-case event name")
    times = {key: _seconds(body[key], key) for key in _LIFECYCLE_SECONDS if body.get(key) is not None}
    result = body.get("result")
    if result is not None and type(result) is not str:
        raise ParseError(f"'result' is {describe(result)}, not a string")
    return Lifecycle(
        venue=VENUE,
        instrument=instrument,
        symbol=ticker,
        event=_LIFECYCLE_EVENTS.get(event_type, "status"),
        ts_event=times.get(_LIFECYCLE_TIME.get(event_type, ""), received_at),
        ts_recv=received_at,
        status=event_type,
        result=result or None,
        details=_details(body, ("market_ticker", "event_type", "result")),
    )


def _event_lifecycle(body: dict[str, Any], head: Envelope, received_at: int) -> Lifecycle:
    return _event_record(body, received_at, "created", "event_created")


def _event_fee_update(body: dict[str, Any], head: Envelope, received_at: int) -> Lifecycle:
    return _event_record(body, received_at, "status", "event_fee_update")


def _event_record(body: dict[str, Any], received_at: int, event: LifecycleEvent, status: str) -> Lifecycle:
    ticker = _string(body, "event_ticker")
    return Lifecycle(
        venue=VENUE,
        instrument=_instrument_of(ticker),
        symbol=ticker,
        event=event,
        ts_event=received_at,
        ts_recv=received_at,
        status=status,
        details=_details(body, ("event_ticker",)),
    )


def _details(body: dict[str, Any], consumed: tuple[str, ...]) -> str | None:
    rest = {key: value for key, value in body.items() if key not in consumed}
    return orjson.dumps(rest, option=orjson.OPT_SORT_KEYS).decode() if rest else None


_HANDLERS: dict[str, Callable[[dict[str, Any], Envelope, int], Record]] = {
    "trade": _trade_frame,
    "orderbook_snapshot": _snapshot,
    "orderbook_delta": _delta,
    "ticker": _ticker,
    "ticker_v2": _ticker,
    "market_lifecycle_v2": _market_lifecycle,
    "multivariate_market_lifecycle": _market_lifecycle,
    "event_lifecycle": _event_lifecycle,
    "event_fee_update": _event_fee_update,
}


# --- REST history ------------------------------------------------------------------------------


def rest_trades_request(
    instrument: str, cursor: str | None, min_ts: int | None, *, max_ts: int | None = None, limit: int = REST_PAGE_LIMIT
) -> tuple[str, dict[str, str]]:
    """The ``GET /trade-api/v2/markets/trades`` request for one page of an instrument's trades.

    The endpoint is public (no signature needed). Follow the returned cursor until it is ``None``.
    Kalshi filters whole seconds ("after this Unix timestamp"): to repair a gap that starts at ``t``
    ns, pass ``t // 1_000_000_000 - 1`` and deduplicate on ``trade_id``.

    Args:
        instrument: A canonical Kalshi instrument, e.g. ``"KALSHI:FED-23DEC-T3.00"``.
        cursor: The cursor of the previous page, ``None`` for the first page.
        min_ts: Only trades after this epoch time in **seconds** (Kalshi's unit), or ``None``.
        max_ts: Only trades before this epoch time in seconds, or ``None``.
        limit: Page size, 1 to 1000.

    Returns:
        The path (sign it without the query string if a signature is ever needed) and the query
        parameters, e.g. ``("/trade-api/v2/markets/trades", {"ticker": "FED-23DEC-T3.00", "limit": "1000"})``.

    Raises:
        ValueError: Not a Kalshi instrument, or a bad limit or time.
    """
    params = {"ticker": to_symbol(instrument), "limit": str(limit)}
    if type(limit) is not int or not 1 <= limit <= REST_PAGE_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {REST_PAGE_LIMIT}, not {limit!r}")
    if cursor:
        params["cursor"] = cursor
    for key, value in (("min_ts", min_ts), ("max_ts", max_ts)):
        if value is not None:
            if type(value) is not int or value < 0:
                raise ValueError(f"{key} must be a non-negative integer of epoch seconds, not {value!r}")
            params[key] = str(value)
    return REST_TRADES_PATH, params


def parse_rest_trades(body: bytes, received_at: int, instrument: str) -> tuple[list[Trade], str | None]:
    """Parse one page of ``GET /trade-api/v2/markets/trades``.

    Args:
        body: The response body.
        received_at: When the response arrived, epoch nanoseconds; becomes ``ts_recv``.
        instrument: The instrument the page was requested for; every trade must belong to it.

    Returns:
        The page's trades in the venue's order, with the WebSocket's conventions,
        and the cursor of the next page (``None`` when the walk is complete).

    Raises:
        ValueError: ``instrument`` is not a Kalshi instrument.
        ParseError: The body is not a well-formed page of trades of that instrument.
    """
    ticker = to_symbol(instrument)
    try:
        page = orjson.loads(body)
        if type(page) is not dict:
            raise ParseError(f"trades page is a JSON {json_kind(page)}, not an object")
        items = page.get("trades")
        if type(items) is not list:
            raise ParseError(f"'trades' is {describe(items)}, not an array")
        cursor = page.get("cursor")
        if cursor is not None and type(cursor) is not str:
            raise ParseError(f"'cursor' is {describe(cursor)}, not a string")
        trades = []
        for item in items:
            if type(item) is not dict:
                raise ParseError(f"trade {describe(item)} is not an object")
            trade = _trade(item, "ticker", received_at, None, None, require_id=True)
            if trade.symbol != ticker:
                raise ParseError(f"page for {ticker!r} holds a trade of {trade.symbol!r}")
            trades.append(trade)
        return trades, cursor or None
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("trades page is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable trades page: {type(error).__name__}: {error}") from None


# --- authentication ----------------------------------------------------------------------------


def sign_request(private_key_pem: bytes, timestamp_ms: int, method: str, path: str) -> str:
    """Kalshi's API-key signature of a request.

    RSA-PSS over ``f"{timestamp_ms}{method}{path}"`` (path without its query string) with SHA-256,
    MGF1-SHA-256 and a 32-byte salt (the digest length), base64-encoded.

    Args:
        private_key_pem: The RSA private key in PEM (PKCS#1 or PKCS#8, unencrypted), as Kalshi issues it.
        timestamp_ms: The request time in epoch milliseconds, also sent as ``KALSHI-ACCESS-TIMESTAMP``.
        method: The HTTP method in upper case, ``"GET"`` for the WebSocket handshake.
        path: The request path from the API root, e.g. ``"/trade-api/ws/v2"``.

    Returns:
        The base64 signature (randomized: each call gives a different, equally valid signature).

    Raises:
        ValueError: The key is not an unencrypted RSA private key in PEM, or a bad timestamp, method or path.
    """
    message = _signed_message(timestamp_ms, method, path)
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"cannot load the Kalshi private key: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"the Kalshi private key must be RSA, not {type(key).__name__}")
    signature = key.sign(message, _PSS, hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def auth_headers(api_key_id: str, private_key_pem: bytes, timestamp_ms: int, path: str = WS_PATH) -> dict[str, str]:
    """The headers that authenticate a Kalshi ``GET`` (by default, the WebSocket handshake).

    Args:
        api_key_id: The API key id.
        private_key_pem: The RSA private key in PEM.
        timestamp_ms: The request time in epoch milliseconds.
        path: The request path, ``/trade-api/ws/v2`` for the WebSocket.

    Returns:
        ``KALSHI-ACCESS-KEY``, ``KALSHI-ACCESS-SIGNATURE`` and ``KALSHI-ACCESS-TIMESTAMP``.

    Raises:
        ValueError: An empty key id, or anything :func:`sign_request` rejects.
    """
    if type(api_key_id) is not str or not api_key_id or not api_key_id.isprintable():
        raise ValueError("the Kalshi API key id must be a non-empty printable string")
    return {
        "KALSHI-ACCESS-KEY": api_key_id,
        "KALSHI-ACCESS-SIGNATURE": sign_request(private_key_pem, timestamp_ms, "GET", path),
        "KALSHI-ACCESS-TIMESTAMP": str(timestamp_ms),
    }


def verify_signature(public_key_pem: bytes, signature_b64: str, timestamp_ms: int, method: str, path: str) -> bool:
    """Whether a Kalshi request signature is valid (what the exchange, or our simulator, checks).

    Args:
        public_key_pem: The RSA public key in PEM (SubjectPublicKeyInfo or PKCS#1).
        signature_b64: The ``KALSHI-ACCESS-SIGNATURE`` header.
        timestamp_ms: The ``KALSHI-ACCESS-TIMESTAMP`` header as an integer.
        method: The request's HTTP method.
        path: The request's path (a query string is ignored, as in signing).

    Returns:
        ``True`` when the signature is valid base64 of an RSA-PSS (SHA-256, 32-byte salt) signature
        of that message by that key; ``False`` otherwise.

    Raises:
        ValueError: The public key is not an RSA public key in PEM, or a bad timestamp, method or path.
    """
    message = _signed_message(timestamp_ms, method, path)
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"cannot load the Kalshi public key: {error}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"the Kalshi public key must be RSA, not {type(key).__name__}")
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, message, _PSS, hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def _signed_message(timestamp_ms: int, method: str, path: str) -> bytes:
    if type(timestamp_ms) is not int or timestamp_ms <= 0:
        raise ValueError(f"timestamp_ms must be a positive integer of epoch milliseconds, not {timestamp_ms!r}")
    if type(method) is not str or _METHOD.fullmatch(method) is None:
        raise ValueError(f"method must be an upper-case HTTP method such as 'GET', not {method!r}")
    if type(path) is not str or not path.startswith("/"):
        raise ValueError(f"path must start with '/', not {path!r}")
    return f"{timestamp_ms}{method}{path.split('?', 1)[0]}".encode()


# --- fields ------------------------------------------------------------------------------------


def _string(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if type(value) is not str:
        raise ParseError(f"{key!r} is {describe(value)}, not a string")
    return value


def _decimal(text: object, key: str, *, signed: bool = False) -> Decimal:
    if type(text) is str and (_SIGNED_FITTING if signed else _FITTING).fullmatch(text) is not None:
        return Decimal(text)
    return _decimal_slow(text, key, signed=signed)


def _decimal_slow(text: object, key: str, *, signed: bool) -> Decimal:
    """Validate a decimal that is not plain fixed-point text fitting decimal(38, 18), explaining any refusal."""
    if type(text) is not str:
        raise ParseError(f"{key!r} is {describe(text)}, not a decimal string")
    if _FIXED.fullmatch(text) is None:
        raise ParseError(f"{key!r} is not a fixed-point decimal: {text[:40]!r}")
    if text[0] == "-" and not signed:
        raise ParseError(f"{key!r} is negative: {text[:40]!r}")
    integer, _, fraction = text.lstrip("-").partition(".")
    if len(fraction.rstrip("0")) > MAX_FRACTION_DIGITS:
        raise ParseError(f"{key!r}={text[:40]!r} has more than {MAX_FRACTION_DIGITS} fractional digits")
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise ParseError(f"{key!r}={text[:40]!r} has more than {MAX_INTEGER_DIGITS} integer digits")
    return Decimal(text)


def _dollars(text: object, key: str) -> Decimal:
    return _decimal(text, key)


def _cents(value: object, key: str) -> Decimal:
    if type(value) is not int or not 0 <= value <= 100:
        raise ParseError(f"{key!r} is {describe(value)}, not an integer number of cents from 0 to 100")
    return _CENTS[value]


def _whole(value: object, key: str, *, signed: bool = False) -> Decimal:
    if type(value) is not int:
        raise ParseError(f"{key!r} is {describe(value)}, not an integer")
    if value < 0 and not signed:
        raise ParseError(f"{key!r} is negative: {value}")
    if abs(value) >= 10**MAX_INTEGER_DIGITS:
        raise ParseError(f"{key!r}={value} has more than {MAX_INTEGER_DIGITS} digits")
    return Decimal(value)


def _count_value(value: object, key: str) -> Decimal:
    """A contract count given as an integer or a fixed-point string."""
    return _whole(value, key) if type(value) is int else _decimal(value, key)


def _count(body: dict[str, Any], fp_key: str, int_key: str) -> Decimal | None:
    """A count from its fixed-point field, else its integer field; ``None`` when neither is present."""
    text = body.get(fp_key)
    if text is not None:
        return _decimal(text, fp_key)
    value = body.get(int_key)
    return None if value is None else _whole(value, int_key)


def _optional_count_value(body: dict[str, Any], key: str) -> Decimal | None:
    text = body.get(key)
    return None if text is None else _decimal(text, key)


_Unit = Callable[[object, str], int]


def _seconds(value: object, key: str) -> int:
    return epoch_ns(value, key, NS_PER_SECOND, "seconds")


def _millis(value: object, key: str) -> int:
    return epoch_ns(value, key, NS_PER_MILLISECOND, "milliseconds")


_TRADE_TIMES: tuple[tuple[str, _Unit], ...] = (("ts_ms", _millis), ("ts", _seconds), ("created_time", rfc3339_ns))
_DELTA_TIMES: tuple[tuple[str, _Unit], ...] = (("ts_ms", _millis), ("ts", rfc3339_ns))
_TICKER_TIMES: tuple[tuple[str, _Unit], ...] = (("ts_ms", _millis), ("ts", _seconds), ("time", rfc3339_ns))


def _time(body: dict[str, Any], fields: tuple[tuple[str, _Unit], ...]) -> int | None:
    """The first present time field of ``fields``, in epoch ns; ``None`` when there is none."""
    for key, unit in fields:
        value = body.get(key)
        if value is not None:
            return unit(value, key)
    return None


def _price_of(level: Level) -> Decimal:
    return level.price


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")
