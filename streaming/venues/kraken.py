"""Kraken spot (WebSocket v2): parsers, symbol mapping, subscriptions, book checksum and REST trade history.

Pure functions only: no I/O, no clock, no state beyond memos of symbol and date lookups.

Wire conventions (sources: the Kraken WebSocket v2 reference, https://docs.kraken.com/api/docs/websocket-v2/trade,
.../websocket-v2/ticker, .../websocket-v2/book, .../websocket-v2/status, .../websocket-v2/heartbeat,
.../websocket-v2/ping; the v2 introduction, https://docs.kraken.com/api/docs/guides/spot-ws-intro; the book
checksum guide, https://docs.kraken.com/api/docs/guides/spot-ws-book-v2; the REST reference,
https://docs.kraken.com/api/docs/rest-api/get-recent-trades):

* **Frames.** Data frames are ``{"channel": ..., "type": "snapshot" | "update", "data": [...]}``; ``data`` is a
  list with one object per symbol (or per trade), so several symbols may share a frame. ``heartbeat`` frames are
  ``{"channel": "heartbeat"}`` (about once a second while subscribed). Replies to requests carry ``method``:
  ``{"method": "subscribe", "result": {...}, "success": true, "time_in": ..., "time_out": ..., "req_id": ...}``;
  a refusal has ``"success": false`` and an ``"error"`` text (e.g. ``"Subscription depth not supported"``,
  ``"Currency pair not supported XBT/EUR"``); ``ping`` is answered by ``{"method": "pong", ...}``.
  :func:`parse` reports successful replies as ``"ack"`` (channel: the ``result``'s channel, else ``""``),
  refusals and bare ``{"error": ...}`` frames as ``"error"``, and heartbeats and pongs as ``"heartbeat"``:
  control frames never carry records, and data frames are recognised by their ``channel`` only.
* **Numbers.** Prices and quantities are JSON *numbers* (not strings) that "contain the same precision as the
  engine" (v2 introduction): ``"price": 0.12290``, ``"qty": 0.00000000``. The frame is decoded with the standard
  library's JSON decoder and ``parse_float=Decimal``, so every number token becomes a :class:`~decimal.Decimal`
  built from the token's own text, never through a float; ``Decimal("0.12290")`` keeps its trailing zero, and
  ``format(value, "f")`` gives back the wire text exactly (a token in exponent form such as ``5.1e-05`` gives
  ``0.000051``). Integer tokens are ints and become ``Decimal(int)``; strings, booleans and nulls are refused
  where a price or quantity is expected. NaN and Infinity literals are refused. The stored type is
  ``decimal(38, 18)``: a value with more than 18 significant fractional digits or more than 20 integer digits is
  rejected, and a value with more than 18 fractional digits that are all zeros is rescaled to 18 places (its value
  unchanged) so it fits the Avro decimal. Prices of trades and book levels must be > 0, quantities >= 0; ticker
  values must be >= 0.
* **Times.** RFC 3339 text with ``Z`` (``"2023-09-25T07:49:37.708706Z"``; other channels use up to 9 fractional
  digits). :func:`parse_timestamp` reads ``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`` exactly, with integer
  arithmetic, into epoch **nanoseconds**. Older book snapshots and tickers carry no ``timestamp``; their
  ``ts_event`` is then ``received_at`` (as the BookUpdate contract prescribes). Status frames carry no time
  either: ``ts_event = received_at``.
* **Trades** (``trade``): ``symbol``, ``side``, ``price``, ``qty``, ``ord_type``, ``trade_id``, ``timestamp``. The
  snapshot holds the 50 most recent trades; updates follow each match (several trades may share a frame).
  **Taker side:** ``side`` is "the side of the taker order" (trade reference) and is used as is (``buy`` /
  ``sell``); ``ord_type`` is the taker's order type and is not stored. ``ts_event`` is ``timestamp``.
* **Identity and gaps.** ``trade_id`` is "a sequence number, unique per book" (trade reference): the trade identity
  is ``(kraken, symbol, str(trade_id))``, and a jump in ``trade_id`` between consecutive trades of a symbol is a
  suspected gap (the documented snapshot's ids are consecutive, 4665846 and 4665847, but the REST reference's
  example skips ids, so a jump should be confirmed against the REST history, which is also how it is repaired).
  Neither trades nor books carry a message sequence, so ``BookUpdate.sequence`` stays ``None``; book gaps show as
  a checksum mismatch (see below).
* **Books** (``book``): ``symbol``, ``bids`` and ``asks`` (lists of ``{"price", "qty"}``), ``checksum``,
  ``timestamp``. A snapshot (kind ``"snapshot"``) lists the book to the subscribed depth (10, 25, 100, 500 or
  1000); an update (kind ``"delta"``) lists changed levels in the order they must be applied (one message may
  touch a price twice); ``qty`` 0 removes a level. Levels are kept in wire order. ``BookUpdate.checksum`` is the
  frame's ``checksum``, an unsigned CRC32 of the venue's book after the frame (snapshots carry one too).
* **Book checksum** (checksum guide): CRC32 over the top 10 asks (price ascending) then the top 10 bids (price
  descending); each level contributes its price text then its quantity text, each with the ``.`` removed and
  leading zeros stripped; the result is an unsigned 32-bit int. Kraken computes it over the engine's text, which
  has a fixed number of decimals per pair (``price_precision`` / ``qty_precision`` of the ``instrument`` channel,
  e.g. 1 and 8 for BTC/USD). :func:`book_checksum` takes :class:`~contracts.records.Level` objects or
  ``(price, qty)`` pairs of ``Decimal`` or decimal text. Without precisions it uses each value's own digits
  (``format(value, "f")``): exact for levels parsed by :func:`parse` from live frames, which carry the engine's
  full text (a captured ETH/USD snapshot and update verify this way). With precisions it first pads each value
  with zeros to the pair's decimals, which is needed for text that lost trailing zeros (the reference's own book
  example prints ``0.566`` for ``0.5660``, and a frame re-serialized through floats prints ``5.1e-05`` for
  ``0.00005100``). The tests verify the guide's worked example (3310070434) and these cases.
* **Tickers** (``ticker``): ``bid``, ``bid_qty``, ``ask``, ``ask_qty``, ``last``, ``volume`` (24 h, base
  currency), ``vwap``, ``low``, ``high``, ``change``, ``change_pct``, ``timestamp``. The contract keeps best
  bid/ask with sizes, last price and 24 h volume; the other statistics have no field and are dropped.
* **Status** (``status``): sent on connect and when the engine status changes; ``data[0].system`` is ``online``,
  ``cancel_only``, ``maintenance`` or ``post_only``. It becomes a :class:`~contracts.records.Lifecycle` with
  event ``"status"``, ``status`` = the system text, and the other fields (``api_version``, ``connection_id``,
  ``version``) as compact JSON with sorted keys in ``details`` (integers stay exact; a number with a fraction
  would be written as a string). The status is venue-wide, so ``instrument`` and ``symbol`` are the
  placeholder :data:`VENUE_WIDE` (``"*"``), which no canonical instrument can be.
* **Symbols.** v2 symbols are ``BASE/QUOTE`` with common codes (``BTC/USD``, not v1's ``XBT/USD``; v2 refuses
  ``XBT/EUR`` with "Currency pair not supported"); the legacy codes ``XBT`` and ``XDG`` are still mapped to
  ``BTC`` and ``DOGE`` should a frame carry them. A record's ``symbol`` is the v2 symbol as sent.
* **REST history** (``GET /0/public/Trades?pair=&since=&count=``): ``since`` is a UNIX time in nanoseconds
  (https://support.kraken.com/hc/en-us/articles/218198197) and ``count`` at most 1000; the answer is
  ``{"error": [], "result": {"<pair key>": [[price, volume, time, "b"|"s", "m"|"l", misc, trade_id], ...],
  "last": "<ns>"}}``. The pair key is Kraken's internal name (``XXBTZUSD``), an altname (``SOLUSD``) or, with
  ``assetVersion=1``, the display name (``BTC/USD``). Price and volume are decimal strings; ``b``/``s`` is the same
  taker side as the WebSocket's ``side`` (the v1 WebSocket reference calls that field "Taker side"); ``trade_id``
  is, in both references, the pair's trade sequence number; and the record's ``symbol`` is the v2 symbol, so a
  repaired trade has the identity of the streamed one and deduplicates against it. ``time`` is seconds as a JSON
  float (``1688669597.8277369``): the engine stamps trades to the microsecond and a double keeps that to well under
  half a microsecond, so the time is rounded half-even to the microsecond, which reproduces the WebSocket's
  ``timestamp`` exactly.
"""

from __future__ import annotations

import functools
import heapq
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Literal

from contracts.instruments import split_spot
from contracts.records import BookUpdate, Level, Lifecycle, Record, Side, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues.base import ParsedFrame
from streaming.venues.wire import (
    MALFORMED_ERRORS,
    MAX_INT64,
    MAX_INTEGER_DIGITS,
    MAX_NS,
    check_fits,
    describe,
    rfc3339_ns,
)

VENUE = "kraken"

Channel = Literal["trade", "ticker", "book"]
"""The Kraken v2 market-data channels this module subscribes to and parses."""

CHANNELS: tuple[Channel, ...] = ("trade", "ticker", "book")

BOOK_DEPTHS: tuple[int, ...] = (10, 25, 100, 500, 1000)
"""The book depths Kraken serves; any other depth is refused ("Subscription depth not supported")."""

TICKER_TRIGGERS: tuple[str, ...] = ("bbo", "trades")
"""Ticker ``event_trigger`` values: publish on a best-bid/offer change, or on every trade (the default)."""

CHECKSUM_DEPTH = 10
"""Levels per side covered by the book checksum, whatever the subscribed depth."""

VENUE_WIDE = "*"
"""``instrument`` and ``symbol`` of records that concern the whole venue (system status)."""

REST_TRADES_PATH = "/0/public/Trades"
REST_TRADES_COUNT = 1000
"""Trades per REST page: the maximum Kraken serves."""

_LEGACY_ASSETS = {"XBT": "BTC", "XDG": "DOGE"}
"""Kraken's legacy asset codes and their common codes."""
_REST_ASSETS = {common: legacy for legacy, common in _LEGACY_ASSETS.items()}

_MAX_CHECKSUM = 2**32 - 1
_SCALE = 18  # decimal(38, 18)
_QUANTUM_18 = Decimal(1).scaleb(-_SCALE)
_WIDE = Context(prec=120)  # exact arithmetic on decimal(38, 18) values and checksum padding

_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]{1,9})?")


LevelLike = Level | tuple[Decimal | str, Decimal | str]
"""A book level for :func:`book_checksum`: a Level, or ``(price, qty)`` as Decimals or decimal text."""


# --- symbol mapping ----------------------------------------------------------------------------


def to_instrument(symbol: str) -> str:
    """The canonical instrument of a Kraken v2 symbol.

    Args:
        symbol: A v2 symbol, e.g. ``"BTC/USD"`` (legacy codes as in ``"XBT/USD"`` are mapped too).

    Returns:
        The canonical ``BASE-QUOTE`` name, e.g. ``"BTC-USD"``.

    Raises:
        ParseError: The symbol is not ``BASE/QUOTE`` with upper-case alphanumeric ASCII codes.
    """
    return _instrument_of(symbol)


@functools.lru_cache(maxsize=4096)
def _instrument_of(symbol: str) -> str:
    if type(symbol) is not str:
        raise ParseError(f"symbol is {describe(symbol)}, not a string")
    base, slash, quote = symbol.partition("/")
    if not slash or not _is_code(base) or not _is_code(quote):
        raise ParseError(f"symbol {symbol[:40]!r} is not a Kraken v2 symbol such as 'BTC/USD'")
    return f"{_LEGACY_ASSETS.get(base, base)}-{_LEGACY_ASSETS.get(quote, quote)}"


def _is_code(code: str) -> bool:
    return code.isascii() and code.isalnum() and code.upper() == code


def to_symbol(instrument: str) -> str:
    """The Kraken v2 symbol of a canonical spot instrument.

    Args:
        instrument: A canonical instrument, e.g. ``"BTC-USD"``.

    Returns:
        The v2 symbol, e.g. ``"BTC/USD"``.

    Raises:
        ValueError: The name is not a canonical ``BASE-QUOTE`` instrument, or uses a legacy code
            (``XBT-USD`` is not canonical: the canonical name is ``BTC-USD``).
    """
    base, quote = split_spot(instrument)
    symbol = f"{base}/{quote}"
    back = to_instrument(symbol)
    if back != instrument:
        raise ValueError(f"{instrument!r} uses a legacy asset code; its canonical name is {back!r}")
    return symbol


# --- subscriptions -----------------------------------------------------------------------------

_SUBSCRIBE_PARAMS: dict[str, frozenset[str]] = {
    "trade": frozenset({"snapshot"}),
    "ticker": frozenset({"snapshot", "event_trigger"}),
    "book": frozenset({"snapshot", "depth"}),
}
_UNSUBSCRIBE_PARAMS: dict[str, frozenset[str]] = {
    "trade": frozenset(),
    "ticker": frozenset({"event_trigger"}),
    "book": frozenset({"depth"}),
}


def subscribe_message(channel: Channel, symbols: Sequence[str], req_id: int, **params: object) -> str:
    """The ``subscribe`` request for a channel.

    Args:
        channel: ``"trade"``, ``"ticker"`` or ``"book"``.
        symbols: Kraken v2 symbols, e.g. ``["BTC/USD"]`` (see :func:`to_symbol`; v2 refuses legacy codes such as
            ``XBT/EUR`` with "Currency pair not supported").
        req_id: The request id Kraken echoes in its reply (a non-negative integer).
        **params: ``snapshot`` (bool, every channel; Kraken's default is true), ``depth`` (book: one of
            :data:`BOOK_DEPTHS`; Kraken's default is 10), ``event_trigger`` (ticker: ``"bbo"`` or ``"trades"``).

    Returns:
        The JSON text, e.g.
        ``{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":25},"req_id":1}``.

    Raises:
        ValueError: Unknown channel, no symbols, a symbol that is not a v2 symbol (or uses a legacy code), a bad
            request id, or a parameter the channel does not take or with a value Kraken would refuse.
    """
    return _request("subscribe", channel, symbols, req_id, params, _SUBSCRIBE_PARAMS)


def unsubscribe_message(channel: Channel, symbols: Sequence[str], req_id: int, **params: object) -> str:
    """The ``unsubscribe`` request for a channel.

    Args:
        channel: ``"trade"``, ``"ticker"`` or ``"book"``.
        symbols: Kraken v2 symbols, e.g. ``["BTC/USD"]``.
        req_id: The request id Kraken echoes in its reply.
        **params: ``depth`` (book: the depth that was subscribed) or ``event_trigger`` (ticker).

    Returns:
        The JSON text, e.g. ``{"method":"unsubscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":2}``.

    Raises:
        ValueError: As for :func:`subscribe_message`.
    """
    return _request("unsubscribe", channel, symbols, req_id, params, _UNSUBSCRIBE_PARAMS)


def ping_message(req_id: int) -> str:
    """The application-level ``ping`` request; Kraken answers with a ``pong`` (a heartbeat control frame).

    Args:
        req_id: The request id Kraken echoes in its ``pong``.

    Returns:
        The JSON text, e.g. ``{"method":"ping","req_id":7}``.

    Raises:
        ValueError: The request id is not a non-negative integer.
    """
    _check_req_id(req_id)
    return json.dumps({"method": "ping", "req_id": req_id}, separators=(",", ":"))


def _request(
    method: str,
    channel: str,
    symbols: Sequence[str],
    req_id: int,
    params: dict[str, object],
    allowed_by_channel: dict[str, frozenset[str]],
) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"unknown Kraken channel {channel!r}; expected one of {CHANNELS}")
    if isinstance(symbols, str):
        raise ValueError(f"symbols must be a list of symbols, not the string {symbols!r}")
    names = list(symbols)
    if not names:
        raise ValueError("a subscription needs at least one symbol")
    for name in names:
        try:
            instrument = to_instrument(name)
        except ParseError as error:
            raise ValueError(str(error)) from None
        if to_symbol(instrument) != name:
            raise ValueError(f"Kraken v2 refuses the legacy symbol {name!r}; use {to_symbol(instrument)!r}")
    _check_req_id(req_id)
    allowed = allowed_by_channel[channel]
    for key, value in params.items():
        if key not in allowed:
            raise ValueError(f"{method} on {channel!r} takes {sorted(allowed)}, not {key!r}")
        if key == "snapshot" and type(value) is not bool:
            raise ValueError(f"snapshot must be a boolean, not {value!r}")
        if key == "depth" and (type(value) is not int or value not in BOOK_DEPTHS):
            raise ValueError(f"book depth must be one of {BOOK_DEPTHS}, not {value!r}")
        if key == "event_trigger" and value not in TICKER_TRIGGERS:
            raise ValueError(f"event_trigger must be one of {TICKER_TRIGGERS}, not {value!r}")
    body = {"method": method, "params": {"channel": channel, "symbol": names, **params}, "req_id": req_id}
    return json.dumps(body, separators=(",", ":"))


def _check_req_id(req_id: object) -> None:
    if type(req_id) is not int or not 0 <= req_id <= MAX_INT64:
        raise ValueError(f"req_id must be a non-negative 64-bit integer, not {req_id!r}")


# --- parsing -----------------------------------------------------------------------------------


def _reject_constant(name: str) -> object:
    raise ParseError(f"{name} is not a finite JSON number")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def _load(raw: bytes | str) -> Any:
    text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
    return _DECODER.decode(text)


def parse(raw: bytes | str, received_at: int) -> ParsedFrame:
    """Parse one Kraken WebSocket v2 frame.

    Args:
        raw: The frame exactly as received (UTF-8 bytes or text).
        received_at: When our socket received it, epoch nanoseconds; becomes every record's ``ts_recv``.

    Returns:
        For a ``trade``, ``ticker`` or ``book`` frame, the channel name and one
        :class:`~contracts.records.Trade`, :class:`~contracts.records.Ticker` or
        :class:`~contracts.records.BookUpdate` per entry of ``data``; for a ``status`` frame, channel
        ``"status"`` and a :class:`~contracts.records.Lifecycle`; for a heartbeat, a request reply or an error,
        a control frame (``"heartbeat"``, ``"ack"`` or ``"error"``) with no records.

    Raises:
        ParseError: The frame is not valid UTF-8 JSON, not an object, of an unknown channel, or not well formed
            for its channel. No other exception escapes.
    """
    try:
        message = _load(raw)
        if type(message) is not dict:
            raise ParseError(f"frame is {describe(message)}, not an object")
        if "channel" in message:
            return _data_frame(message, received_at)
        if "method" in message:
            return _reply(message)
        if "error" in message:
            return ParsedFrame(channel="", control="error")
        raise ParseError(f"object with keys {sorted(message)[:10]} is neither channel data nor a reply")
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("frame is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {str(error)[:200]}") from None


def _data_frame(message: dict[str, Any], received_at: int) -> ParsedFrame:
    channel = message["channel"]
    if channel == "heartbeat":
        return ParsedFrame(channel="heartbeat", control="heartbeat")
    if type(channel) is not str:
        raise ParseError(f"'channel' is {describe(channel)}, not a string")
    kind = message.get("type")
    if kind != "snapshot" and kind != "update":
        raise ParseError(f"'type' is {describe(kind)}; expected 'snapshot' or 'update'")
    data = message.get("data")
    if type(data) is not list:
        raise ParseError(f"'data' is {describe(data)}, not an array")
    records: list[Record] = []
    if channel == "trade":
        for item in data:
            records.append(_trade(_entry(item), received_at))
    elif channel == "book":
        book_kind: Literal["snapshot", "delta"] = "snapshot" if kind == "snapshot" else "delta"
        for item in data:
            records.append(_book(_entry(item), book_kind, received_at))
    elif channel == "ticker":
        for item in data:
            records.append(_ticker(_entry(item), received_at))
    elif channel == "status":
        for item in data:
            records.append(_status(_entry(item), received_at))
    else:
        raise ParseError(f"unsupported channel {channel[:40]!r}; this module parses trade, ticker, book, status")
    return ParsedFrame(channel=channel, records=tuple(records))


def _entry(item: object) -> dict[str, Any]:
    if type(item) is not dict:
        raise ParseError(f"'data' entry is {describe(item)}, not an object")
    return item


def _trade(item: dict[str, Any], received_at: int) -> Trade:
    symbol, instrument = _symbol(item)
    taker = item.get("side")
    if taker != "buy" and taker != "sell":
        raise ParseError(f"'side' is {describe(taker)}; expected 'buy' or 'sell'")
    side: Side = "buy" if taker == "buy" else "sell"
    ord_type = item.get("ord_type")
    if ord_type is not None and type(ord_type) is not str:
        raise ParseError(f"'ord_type' is {describe(ord_type)}, not a string")
    trade_id = item.get("trade_id")
    if type(trade_id) is not int or not 0 <= trade_id <= MAX_INT64:
        raise ParseError(f"'trade_id' is {describe(trade_id)}, not a non-negative 64-bit integer")
    return Trade(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        trade_id=str(trade_id),
        price=_amount(item.get("price"), "'price'", positive=True),
        size=_amount(item.get("qty"), "'qty'", positive=False),
        side=side,
        ts_event=rfc3339_ns(item.get("timestamp"), "timestamp"),
        ts_recv=received_at,
    )


def _book(item: dict[str, Any], kind: Literal["snapshot", "delta"], received_at: int) -> BookUpdate:
    symbol, instrument = _symbol(item)
    checksum = item.get("checksum")
    if type(checksum) is not int or not 0 <= checksum <= _MAX_CHECKSUM:
        raise ParseError(f"'checksum' is {describe(checksum)}, not an unsigned 32-bit integer")
    timestamp = item.get("timestamp")
    return BookUpdate(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        kind=kind,
        bids=_levels(item.get("bids"), "bids"),
        asks=_levels(item.get("asks"), "asks"),
        ts_event=received_at if timestamp is None else rfc3339_ns(timestamp, "timestamp"),
        ts_recv=received_at,
        checksum=checksum,
    )


def _levels(levels: object, side: str) -> tuple[Level, ...]:
    if type(levels) is not list:
        raise ParseError(f"{side!r} is {describe(levels)}, not an array")
    parsed = []
    for level in levels:
        if type(level) is not dict:
            raise ParseError(f"{side!r} level is {describe(level)}, not an object")
        parsed.append(
            Level(
                price=_amount(level.get("price"), f"{side} 'price'", positive=True),
                size=_amount(level.get("qty"), f"{side} 'qty'", positive=False),
            )
        )
    return tuple(parsed)


def _ticker(item: dict[str, Any], received_at: int) -> Ticker:
    symbol, instrument = _symbol(item)
    timestamp = item.get("timestamp")
    return Ticker(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        ts_event=received_at if timestamp is None else rfc3339_ns(timestamp, "timestamp"),
        ts_recv=received_at,
        best_bid=_optional_amount(item, "bid"),
        best_bid_size=_optional_amount(item, "bid_qty"),
        best_ask=_optional_amount(item, "ask"),
        best_ask_size=_optional_amount(item, "ask_qty"),
        last_price=_optional_amount(item, "last"),
        volume_24h=_optional_amount(item, "volume"),
    )


def _optional_amount(item: dict[str, Any], key: str) -> Decimal | None:
    value = item.get(key)
    return None if value is None else _amount(value, repr(key), positive=False)


def _status(item: dict[str, Any], received_at: int) -> Lifecycle:
    system = item.get("system")
    if type(system) is not str or not system:
        raise ParseError(f"status 'system' is {describe(system)}, not a non-empty string")
    others = {key: value for key, value in item.items() if key != "system"}
    details = json.dumps(others, sort_keys=True, separators=(",", ":"), default=str) if others else None
    return Lifecycle(
        venue=VENUE,
        instrument=VENUE_WIDE,
        symbol=VENUE_WIDE,
        event="status",
        ts_event=received_at,
        ts_recv=received_at,
        status=system,
        details=details,
    )


def _reply(message: dict[str, Any]) -> ParsedFrame:
    method = message["method"]
    if type(method) is not str:
        raise ParseError(f"'method' is {describe(method)}, not a string")
    req_id = message.get("req_id")
    if req_id is not None and type(req_id) is not int:
        raise ParseError(f"'req_id' is {describe(req_id)}, not an integer")
    if method == "pong":
        return ParsedFrame(channel="", control="heartbeat")
    success = message.get("success")
    if success is True:
        result = message.get("result")
        channel = result.get("channel") if type(result) is dict else None
        return ParsedFrame(channel=channel if type(channel) is str else "", control="ack")
    if success is False or (success is None and "error" in message):
        return ParsedFrame(channel="", control="error")
    raise ParseError(f"reply to {method[:40]!r} has 'success' {describe(success)}, not a boolean")


def _symbol(item: dict[str, Any]) -> tuple[str, str]:
    symbol = item.get("symbol")
    if type(symbol) is not str:
        raise ParseError(f"'symbol' is {describe(symbol)}, not a string")
    return symbol, _instrument_of(symbol)


# --- values ------------------------------------------------------------------------------------


def _amount(value: object, what: str, *, positive: bool) -> Decimal:
    """A JSON number (Decimal or int) as a Decimal that fits decimal(38, 18), exactly."""
    if type(value) is Decimal:
        number = value
    elif type(value) is int:
        number = Decimal(value)
    else:
        raise ParseError(f"{what} is {describe(value)}, not a JSON number")
    sign, _digits, exponent = number.as_tuple()
    if type(exponent) is not int:
        raise ParseError(f"{what} is not finite: {number}")
    if sign:
        raise ParseError(f"{what} is negative: {_short(number)}")
    if exponent < -_SCALE or number.adjusted() >= MAX_INTEGER_DIGITS:
        number = _fit(number, what)
    if positive and not number:
        raise ParseError(f"{what} is zero: {_short(number)}")
    return number


def _fit(number: Decimal, what: str) -> Decimal:
    """Rescale a value with more than 18 fractional digits that are zeros, or explain why it does not fit."""
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: checked by the caller
    if not number:
        return number.quantize(_QUANTUM_18, context=_WIDE) if exponent < -_SCALE else Decimal(0)
    check_fits(number, f"{what}={_short(number)}")
    return number.quantize(_QUANTUM_18, context=_WIDE) if exponent < -_SCALE else number


def _text_amount(value: object, what: str, *, positive: bool) -> Decimal:
    """A decimal string (REST) as a Decimal that fits decimal(38, 18), exactly."""
    if type(value) is not str:
        raise ParseError(f"{what} is {describe(value)}, not a decimal string")
    if _DECIMAL_TEXT.fullmatch(value) is None:
        raise ParseError(f"{what} is not a non-negative decimal number: {value[:40]!r}")
    return _amount(Decimal(value), what, positive=positive)


def parse_timestamp(text: str) -> int:
    """An RFC 3339 time as integer epoch nanoseconds, exactly (:func:`streaming.venues.wire.rfc3339_ns`).

    Args:
        text: ``YYYY-MM-DDTHH:MM:SS``, an optional fraction of 1 to 9 digits, then ``Z`` or ``±HH:MM``, e.g.
            ``"2023-09-25T07:49:37.708706Z"``. ``T`` and ``Z`` may be lower case; digits are ASCII.

    Returns:
        Nanoseconds since 1970-01-01T00:00:00Z.

    Raises:
        ParseError: Not that form, not a real date or time of day (leap seconds included), or not after the
            epoch and within a signed 64-bit count of nanoseconds.
    """
    return rfc3339_ns(text)


# --- book checksum -----------------------------------------------------------------------------


def book_checksum(
    bids: Iterable[LevelLike],
    asks: Iterable[LevelLike],
    *,
    price_precision: int | None = None,
    qty_precision: int | None = None,
) -> int:
    """Kraken's v2 book checksum (CRC32 of the top 10 levels a side), as an unsigned 32-bit int.

    Args:
        bids: The bid levels of a book, in any order: :class:`~contracts.records.Level` objects or
            ``(price, qty)`` pairs of :class:`~decimal.Decimal` or decimal text. Each price appears once and
            every quantity is > 0 (a level of quantity 0 is a removal: apply it before checksumming).
        asks: The ask levels, likewise.
        price_precision: The pair's price decimals (``price_precision`` of Kraken's ``instrument`` channel,
            e.g. 1 for BTC/USD). When given, prices are padded with zeros to that many decimals first; a price
            with more non-zero decimals keeps them (and so cannot match). When omitted, each price's own digits
            are used, which is exact for levels parsed from live frames.
        qty_precision: The pair's quantity decimals (``qty_precision``, e.g. 8), likewise for quantities.

    Returns:
        CRC32 of, for the 10 lowest asks ascending then the 10 highest bids descending, each level's price then
        quantity written out in full (``format(value, "f")``), ``.`` removed and leading zeros stripped.

    Raises:
        ValueError: A level is not a Level or a pair, a value is not a finite non-negative decimal, a quantity is
            zero, a price repeats on one side, or a precision is not a non-negative integer.
    """
    _check_precision(price_precision, "price_precision")
    _check_precision(qty_precision, "qty_precision")
    best_asks = heapq.nsmallest(CHECKSUM_DEPTH, _checked_levels(asks, "asks"), key=_price_of)
    best_bids = heapq.nlargest(CHECKSUM_DEPTH, _checked_levels(bids, "bids"), key=_price_of)
    text = "".join(
        checksum_token(price, price_precision) + checksum_token(qty, qty_precision)
        for price, qty in (*best_asks, *best_bids)
    )
    return zlib.crc32(text.encode("ascii")) & _MAX_CHECKSUM


def checksum_token(value: Decimal | str, precision: int | None = None) -> str:
    """One value as it enters the book checksum.

    Args:
        value: A price or quantity, as a Decimal or decimal text.
        precision: Decimals to pad the value to first (see :func:`book_checksum`); ``None`` keeps its own digits.

    Returns:
        The value written out in full, ``.`` removed, leading zeros stripped: ``"0.00100000"`` -> ``"100000"``,
        ``"45285.2"`` -> ``"452852"``; ``Decimal("0.566")`` with precision 4 -> ``"5660"``.

    Raises:
        ValueError: The value is not a finite non-negative decimal, or the precision is not a non-negative int.
    """
    _check_precision(precision, "precision")
    number = _checksum_decimal(value)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: checked above
    if precision is not None and exponent != -precision:
        quantized = number.quantize(Decimal(1).scaleb(-precision), context=_WIDE)
        if exponent > -precision or quantized == number:
            number = quantized  # padding zeros, or dropping zeros beyond the precision: exact either way
    return format(number, "f").replace(".", "").lstrip("0")


def _checked_levels(levels: Iterable[LevelLike], side: str) -> list[tuple[Decimal, Decimal]]:
    checked: list[tuple[Decimal, Decimal]] = []
    seen: set[Decimal] = set()
    for level in levels:
        if isinstance(level, Level):
            price, qty = _checksum_decimal(level.price), _checksum_decimal(level.size)
        elif isinstance(level, tuple) and len(level) == 2:
            price, qty = _checksum_decimal(level[0]), _checksum_decimal(level[1])
        else:
            raise ValueError(f"{side} level {level!r} is neither a Level nor a (price, qty) pair")
        if not qty:
            raise ValueError(f"{side} level at {price} has quantity 0: remove it before computing the checksum")
        if price in seen:
            raise ValueError(f"{side} has the price {price} twice")
        seen.add(price)
        checked.append((price, qty))
    return checked


def _price_of(level: tuple[Decimal, Decimal]) -> Decimal:
    return level[0]


def _checksum_decimal(value: object) -> Decimal:
    if type(value) is str:
        if _DECIMAL_TEXT.fullmatch(value) is None:
            raise ValueError(f"{value[:40]!r} is not a non-negative decimal number")
        return Decimal(value)
    if type(value) is Decimal:
        if not value.is_finite() or value.is_signed():
            raise ValueError(f"{value} is not a finite non-negative decimal")
        return value
    raise ValueError(f"{value!r} is neither a Decimal nor decimal text")


def _check_precision(precision: object, name: str) -> None:
    if precision is not None and (type(precision) is not int or not 0 <= precision <= _SCALE):
        raise ValueError(f"{name} must be an integer from 0 to {_SCALE}, not {precision!r}")


# --- REST history ------------------------------------------------------------------------------


def rest_pair(instrument: str) -> str:
    """The REST ``pair`` parameter of an instrument: base and quote with Kraken's legacy codes (``XBTUSD``).

    Raises:
        ValueError: The instrument is not a canonical spot name (see :func:`to_symbol`).
    """
    to_symbol(instrument)
    base, quote = split_spot(instrument)
    return _REST_ASSETS.get(base, base) + _REST_ASSETS.get(quote, quote)


def rest_trades_request(instrument: str, since: int | None) -> tuple[str, dict[str, str]]:
    """The REST request for the trades of an instrument from a time on (gap repair).

    Args:
        instrument: A canonical spot instrument, e.g. ``"BTC-USD"``.
        since: Epoch nanoseconds to start from (e.g. the time of the last trade before a gap: Kraken answers with
            the trades since then, oldest first, at most :data:`REST_TRADES_COUNT`; trades already held deduplicate
            on their id), or ``None`` for the most recent trades.

    Returns:
        The path :data:`REST_TRADES_PATH` and the query parameters, e.g.
        ``("/0/public/Trades", {"pair": "XBTUSD", "since": "1688669597827737000", "count": "1000"})``.

    Raises:
        ValueError: Not a canonical spot instrument, or ``since`` is not a non-negative integer.
    """
    params = {"pair": rest_pair(instrument)}
    if since is not None:
        if type(since) is not int or not 0 <= since <= MAX_NS:
            raise ValueError(f"since must be epoch nanoseconds (a non-negative integer), not {since!r}")
        params["since"] = str(since)
    params["count"] = str(REST_TRADES_COUNT)
    return REST_TRADES_PATH, params


def parse_rest_trades(body: bytes, received_at: int, instrument: str) -> list[Trade]:
    """The trades of a ``GET /0/public/Trades`` answer, identical to the WebSocket's for the same trades.

    Args:
        body: The HTTP response body.
        received_at: When the response was received, epoch ns; becomes every trade's ``ts_recv``.
        instrument: The canonical instrument that was asked for, e.g. ``"BTC-USD"``.

    Returns:
        The trades in the answer's order (oldest first), with ``symbol`` the v2 symbol (``"BTC/USD"``),
        ``trade_id`` the per-pair sequence, ``side`` the taker side and ``ts_event`` rounded to the microsecond.

    Raises:
        ValueError: ``instrument`` is not a canonical spot name.
        ParseError: The body is not a well-formed answer for that instrument, reports an error, or holds a trade
            without a trade id. No other exception escapes.
    """
    symbol = to_symbol(instrument)
    base, quote = split_spot(instrument)
    try:
        message = _load(body)
        if type(message) is not dict:
            raise ParseError(f"REST answer is {describe(message)}, not an object")
        errors = message.get("error")
        if type(errors) is not list:
            raise ParseError(f"REST answer 'error' is {describe(errors)}, not an array")
        if errors:
            raise ParseError(f"Kraken refused the request: {', '.join(map(str, errors))[:200]}")
        entries = _rest_entries(message.get("result"), base, quote)
        return [_rest_trade(entry, symbol, instrument, received_at) for entry in entries]
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("REST answer is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable REST answer: {type(error).__name__}: {str(error)[:200]}") from None


def rest_trades_next_since(body: bytes) -> int:
    """The ``since`` of the next page: the answer's ``last`` (epoch ns of its newest trade).

    Raises:
        ParseError: The body is not a successful Trades answer with a ``last`` of decimal digits.
    """
    try:
        message = _load(body)
        result = message.get("result") if type(message) is dict else None
        last = result.get("last") if type(result) is dict else None
        if type(last) is str and last.isascii() and last.isdigit() and len(last) <= 19:
            return int(last)
        raise ParseError(f"REST answer 'last' is {describe(last)}, not a nanosecond time as text")
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("REST answer is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable REST answer: {type(error).__name__}: {str(error)[:200]}") from None


def _rest_entries(result: object, base: str, quote: str) -> list[Any]:
    if type(result) is not dict:
        raise ParseError(f"REST answer 'result' is {describe(result)}, not an object")
    keys = [key for key in result if key != "last"]
    if len(keys) != 1:
        raise ParseError(f"REST answer holds pairs {keys[:5]}, not exactly one")
    key = keys[0]
    if key not in _rest_keys(base, quote):
        raise ParseError(f"REST answer is for pair {key[:40]!r}, not {base}/{quote}")
    entries = result[key]
    if type(entries) is not list:
        raise ParseError(f"REST trades are {describe(entries)}, not an array")
    return entries


@functools.lru_cache(maxsize=256)
def _rest_keys(base: str, quote: str) -> frozenset[str]:
    """The spellings Kraken uses for a pair's key: internal (XXBTZUSD), altname (XBTUSD), display (BTC/USD)."""
    bases = _spellings(base)
    quotes = _spellings(quote)
    return frozenset({b + q for b in bases for q in quotes} | {b + "/" + q for b in bases for q in quotes})


def _spellings(asset: str) -> set[str]:
    names = {asset, _REST_ASSETS.get(asset, asset)}
    return {prefix + name for name in names for prefix in ("", "X", "Z")}


def _rest_trade(entry: object, symbol: str, instrument: str, received_at: int) -> Trade:
    if type(entry) is not list or len(entry) < 7:
        raise ParseError(f"REST trade is {describe(entry)}; expected [price, volume, time, side, type, misc, trade_id]")
    price, volume, time, taker, order_type, misc, trade_id = entry[:7]
    if taker != "b" and taker != "s":
        raise ParseError(f"REST trade side is {describe(taker)}; expected 'b' or 's'")
    side: Side = "buy" if taker == "b" else "sell"
    if type(order_type) is not str or type(misc) is not str:
        raise ParseError("REST trade order type and misc must be strings")
    if type(trade_id) is not int or not 0 <= trade_id <= MAX_INT64:
        raise ParseError(f"REST trade id is {describe(trade_id)}, not a non-negative 64-bit integer")
    return Trade(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        trade_id=str(trade_id),
        price=_text_amount(price, "REST price", positive=True),
        size=_text_amount(volume, "REST volume", positive=False),
        side=side,
        ts_event=_rest_time(time),
        ts_recv=received_at,
    )


def _rest_time(value: object) -> int:
    """REST seconds (a JSON float) as epoch ns, rounded half-even to the microsecond the engine stamps."""
    if type(value) is Decimal:
        seconds = value
    elif type(value) is int:
        seconds = Decimal(value)
    else:
        raise ParseError(f"REST trade time is {describe(value)}, not a number of seconds")
    if not seconds.is_finite() or seconds <= 0 or seconds.adjusted() > 10:
        raise ParseError(f"REST trade time {_short(seconds)} is out of range")
    micros = int(seconds.scaleb(6, context=_WIDE).to_integral_value(rounding=ROUND_HALF_EVEN, context=_WIDE))
    ns = micros * 1_000
    if not 0 < ns <= MAX_NS:
        raise ParseError(f"REST trade time {_short(seconds)} is out of range")
    return ns


# --- messages ----------------------------------------------------------------------------------


def _short(number: Decimal) -> str:
    text = str(number)
    return text if len(text) <= 40 else f"{text[:40]}..."
