"""Binance spot: the trade, diff-depth and book-ticker parser, symbol mapping, subscriptions, REST requests.

Pure functions only: no I/O, no clock, no state beyond a memo of symbol lookups.

Wire conventions (source: Binance spot "WebSocket Streams" documentation,
https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams, mirrored at
https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md):

* **Endpoints.** Raw streams are served at ``/ws/<streamName>`` (or ``/ws`` plus ``SUBSCRIBE``
  messages) and deliver the bare payload. Combined streams are served at
  ``/stream?streams=<s1>/<s2>/...`` and wrap every payload as
  ``{"stream": "<streamName>", "data": <rawPayload>}``. Stream names use the lower-case symbol:
  ``btcusdt@trade``, ``btcusdt@aggTrade``. :func:`parse` accepts both forms.
* **Live (un)subscription.** ``{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}``;
  success is answered with ``{"result": null, "id": 1}`` (other requests such as
  ``LIST_SUBSCRIPTIONS`` answer with a non-null ``result``). Failures are answered with
  ``{"code": <int>, "msg": "...", "id": ...}`` (the WebSocket API uses ``{"error": {...}}``).
  :func:`parse` reports both kinds as control frames (``"ack"`` / ``"error"``) with no records.
* **Trade payload** (``<symbol>@trade``, one per match): ``e`` event type ``"trade"``, ``E`` event
  time, ``s`` symbol, ``t`` trade id, ``p`` price (decimal string), ``q`` quantity (decimal string),
  ``T`` trade time, ``m`` "is the buyer the market maker?", ``M`` ("ignore"). Older captures also
  carry ``b``/``a`` (buyer/seller order ids), since removed from the documentation; they are
  ignored, as is ``M``.
* **Aggregate trade payload** (``<symbol>@aggTrade``, the fills of one taker order at one price):
  ``e`` = ``"aggTrade"``, ``E``, ``s``, ``a`` aggregate trade id, ``p``, ``q``, ``f`` first trade
  id, ``l`` last trade id, ``T``, ``m``, ``M``.
* **Taker side.** ``m`` is true when the buyer was the resting (maker) order, so the seller was the
  aggressor: ``m=true`` -> taker side ``"sell"``; ``m=false`` -> the buyer took liquidity ->
  ``"buy"``.
* **Timestamps.** Milliseconds since the epoch by default; microseconds when the connection was
  opened with ``timeUnit=MICROSECOND``. A frame does not say which unit it uses, so the unit is
  inferred from the magnitude: values ``>= 1e14`` are microseconds (1e14 ms would be the year 5138,
  1e14 µs is 1973, so the two ranges never overlap for real data). Every time becomes integer epoch
  **nanoseconds**. ``ts_event`` is the trade time ``T`` (when the match happened), not the push
  time ``E``.
* **Prices and sizes** are JSON strings. They are turned into :class:`~decimal.Decimal` straight
  from that text; a number that is not a string is rejected rather than read, so no value ever goes
  through a float. The stored type is ``decimal(38, 18)``: a value with more than 18 significant
  fractional digits or more than 20 integer digits is rejected. Prices must be > 0, sizes >= 0.
  Ids and times must be JSON integers (not booleans, not floats, within 64 bits; the JSON decoder,
  orjson, reads larger integers as floats, which are then rejected like any other ill-typed field).

* **Diff depth payload** (``<symbol>@depth``, pushed every 1000 ms, and ``<symbol>@depth@100ms``, every
  100 ms; section "Diff. Depth Stream"): ``e`` = ``"depthUpdate"``, ``E`` event time, ``s`` symbol,
  ``U`` first update id in the event, ``u`` final update id in the event, ``b`` bids and ``a`` asks to
  update, each a list of ``[price, quantity]`` decimal strings. The quantity is the level's new
  **absolute** size; ``"0"`` removes the level. Becomes a ``BookUpdate(kind="delta",
  first_sequence=U, sequence=u)`` with ``ts_event = E``. Very old captures carry a third, ignored
  element per level (``["0.0005","1634.0",[]]``); extra elements are ignored. A raw-stream
  ``depthUpdate`` does not say its speed, so its channel is ``<symbol>@depth``; a combined-stream frame
  keeps the stream name it came on (``@depth`` or ``@depth@100ms``).
* **Book ticker payload** (``<symbol>@bookTicker``, "Individual Symbol Book Ticker Streams", pushed
  in real time on every change of the best bid or ask): ``u`` order-book update id, ``s`` symbol,
  ``b``/``B`` best bid price/quantity, ``a``/``A`` best ask price/quantity. It has **no event type and
  no event time**: a bare frame is recognised by ``u`` and ``s`` without ``e``, and ``ts_event`` is the
  receive time (``received_at``), as the contract says for venues that send none. Becomes a
  :class:`~contracts.records.Ticker` with ``sequence = u``.
* **Local order book** (section "How to manage a local order book correctly"): buffer the diff events,
  GET ``/api/v3/depth?symbol=&limit=5000`` (REST "Order book": ``{"lastUpdateId": n, "bids": [[p, q],
  ...], "asks": [...]}``, ``limit`` 1..5000, default 100), drop buffered events with
  ``u <= lastUpdateId``, the first applied event has ``U <= lastUpdateId + 1 <= u``, and every later
  event's ``U`` is the previous ``u + 1``; otherwise resnapshot. Sources: the documentation above and
  https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#order-book.
  The snapshot carries no time: its ``ts_event`` is the receive time. :mod:`streaming.book_sync` runs
  the procedure; this module only parses.

Identity: ``trade`` frames use ``trade_id = str(t)``. ``aggTrade`` frames use ``f"{f}-{l}"``: an
aggregate covers the trades ``f..l``, so that id names exactly what it contains, stays traceable to
the underlying trade ids, and can never collide with a plain trade id (the aggregate counter ``a``
is a separate sequence whose values overlap the trade ids of the same symbol).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from contracts.instruments import split_spot
from contracts.records import BookUpdate, Level, Side, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues.base import ParsedFrame
from streaming.venues.wire import MALFORMED_ERRORS, MAX_NS, decimal_text, describe, json_kind

VENUE = "binance"

Channel = Literal["trade", "aggTrade"]
"""The Binance trade streams this module parses."""

CHANNELS: tuple[Channel, ...] = ("trade", "aggTrade")

BookChannel = Literal["depth", "depth@100ms", "bookTicker"]
"""The Binance book streams this module parses: diff depth (1000 ms or 100 ms) and the book ticker."""

BOOK_CHANNELS: tuple[BookChannel, ...] = ("depth", "depth@100ms", "bookTicker")

DEPTH_CHANNELS: tuple[BookChannel, ...] = ("depth", "depth@100ms")

QUOTE_ASSETS: tuple[str, ...] = (
    # USD stablecoins
    "USDT",
    "USDC",
    "FDUSD",
    "TUSD",
    "BUSD",
    "USDP",
    "USDS",
    "DAI",
    "PAX",
    "UST",
    "VAI",
    # crypto quotes
    "BTC",
    "ETH",
    "BNB",
    "XRP",
    "TRX",
    "DOGE",
    # fiat and fiat-pegged quotes
    "EUR",
    "AEUR",
    "EURI",
    "TRY",
    "BRL",
    "JPY",
    "GBP",
    "AUD",
    "RUB",
    "UAH",
    "ZAR",
    "PLN",
    "RON",
    "ARS",
    "MXN",
    "COP",
    "CZK",
    "NGN",
    "IDRT",
    "BIDR",
    "BVND",
    "BKRW",
)
"""Quote assets of Binance spot symbols; a symbol's quote is its longest matching suffix.

Binance symbols have no separator (``BTCUSDT``), so the split needs a list of quote assets.
Longest-suffix matching resolves overlaps such as ``TUSD``/``USD`` or ``AEUR``/``EUR``
(``BTCAEUR`` -> ``BTC-AEUR``).
"""

_QUOTES_LONGEST_FIRST = tuple(sorted(QUOTE_ASSETS, key=len, reverse=True))

_MICROS_THRESHOLD = 100_000_000_000_000  # 1e14: at or above, a timestamp is in microseconds


# --- symbol mapping ----------------------------------------------------------------------------


def to_instrument(symbol: str) -> str:
    """The canonical instrument of a Binance symbol.

    Args:
        symbol: A Binance symbol in any case, e.g. ``"BTCUSDT"`` or ``"btcusdt"``.

    Returns:
        The canonical ``BASE-QUOTE`` name, e.g. ``"BTC-USDT"``.

    Raises:
        ParseError: The symbol is not alphanumeric or does not end in a known quote asset
            (:data:`QUOTE_ASSETS`) preceded by a base asset.
    """
    return _names(symbol)[0]


@functools.lru_cache(maxsize=4096)
def _names(symbol: str) -> tuple[str, str]:
    """The canonical instrument and the upper-case symbol of a Binance symbol (memoized: one string object each)."""
    if not isinstance(symbol, str) or not symbol.isascii() or not symbol.isalnum():
        raise ParseError(f"symbol {symbol!r} is not an alphanumeric Binance symbol")
    upper = symbol.upper()
    for quote in _QUOTES_LONGEST_FIRST:
        if upper.endswith(quote) and len(upper) > len(quote):
            return f"{upper[: -len(quote)]}-{quote}", upper
    raise ParseError(f"symbol {symbol!r} does not end in a known quote asset ({', '.join(QUOTE_ASSETS)})")


def to_symbol(instrument: str) -> str:
    """The Binance symbol of a canonical instrument.

    Args:
        instrument: A canonical instrument, e.g. ``"BTC-USDT"``.

    Returns:
        The Binance symbol in upper case, e.g. ``"BTCUSDT"``.

    Raises:
        ValueError: The name is not canonical, or its symbol would not map back to it (unknown
            quote asset, or a split that :func:`to_instrument` cannot reproduce).
    """
    base, quote = split_spot(instrument)
    symbol = base + quote
    try:
        back = to_instrument(symbol)
    except ParseError as error:
        raise ValueError(f"{instrument!r} cannot be traded on Binance here: {error}") from None
    if back != instrument:
        raise ValueError(f"{instrument!r} maps to symbol {symbol!r}, which reads back as {back!r}")
    return symbol


# --- subscriptions -----------------------------------------------------------------------------


def stream_names(instruments: Sequence[str], channel: Channel | BookChannel) -> list[str]:
    """The Binance stream names of instruments on a trade or book channel.

    Args:
        instruments: Canonical instruments, e.g. ``["BTC-USDT"]``.
        channel: ``"trade"``, ``"aggTrade"``, ``"depth"``, ``"depth@100ms"`` or ``"bookTicker"``.

    Returns:
        Stream names in the same order, e.g. ``["btcusdt@trade"]`` or ``["btcusdt@depth@100ms"]``.

    Raises:
        ValueError: Unknown channel or an instrument :func:`to_symbol` rejects.
    """
    if channel not in CHANNELS and channel not in BOOK_CHANNELS:
        raise ValueError(f"unknown Binance channel {channel!r}; expected one of {CHANNELS + BOOK_CHANNELS}")
    return [f"{to_symbol(instrument).lower()}@{channel}" for instrument in instruments]


def combined_stream_url(base_url: str, streams: Sequence[str]) -> str:
    """The combined-stream URL of several streams.

    Args:
        base_url: The WebSocket base, e.g. ``"wss://stream.binance.com:9443"`` (a trailing slash is
            ignored).
        streams: Stream names, e.g. ``["btcusdt@trade", "ethusdt@trade"]``.

    Returns:
        ``f"{base_url}/stream?streams=btcusdt@trade/ethusdt@trade"``.

    Raises:
        ValueError: No streams were given.
    """
    if not streams:
        raise ValueError("a combined stream needs at least one stream name")
    return f"{base_url.rstrip('/')}/stream?streams={'/'.join(streams)}"


def subscribe_message(streams: Sequence[str], request_id: int) -> str:
    """The ``SUBSCRIBE`` request for streams.

    Args:
        streams: Stream names, e.g. ``["btcusdt@trade"]``.
        request_id: The request id echoed in the venue's reply.

    Returns:
        The JSON text, e.g. ``{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}``.
    """
    return _request("SUBSCRIBE", streams, request_id)


def unsubscribe_message(streams: Sequence[str], request_id: int) -> str:
    """The ``UNSUBSCRIBE`` request for streams.

    Args:
        streams: Stream names, e.g. ``["btcusdt@trade"]``.
        request_id: The request id echoed in the venue's reply.

    Returns:
        The JSON text, e.g. ``{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":2}``.
    """
    return _request("UNSUBSCRIBE", streams, request_id)


def _request(method: str, streams: Sequence[str], request_id: int) -> str:
    return json.dumps({"method": method, "params": list(streams), "id": request_id}, separators=(",", ":"))


# --- parsing -----------------------------------------------------------------------------------


def parse(raw: bytes | str, received_at: int) -> ParsedFrame:
    """Parse one Binance frame.

    Args:
        raw: The frame exactly as received (UTF-8 bytes or text).
        received_at: When our socket received it, epoch nanoseconds; becomes ``Trade.ts_recv``.

    Returns:
        For a ``trade`` or ``aggTrade`` frame (combined-stream wrapped or bare), the frame's stream
        name and its one :class:`~contracts.records.Trade`; for a ``depthUpdate``, its one delta
        :class:`~contracts.records.BookUpdate`; for a ``bookTicker``, its one
        :class:`~contracts.records.Ticker`; for a request reply, a control frame (``"ack"`` or
        ``"error"``) with channel ``""`` and no records.

    Raises:
        ParseError: The frame is not valid JSON, not an object, or not a well-formed trade, trade
            aggregate, depth update, book ticker or reply. No other exception escapes.
    """
    try:
        message = orjson.loads(raw)
        if type(message) is not dict:
            raise ParseError(f"frame is a JSON {json_kind(message)}, not an object")
        data = message.get("data")
        if data is not None:
            stream = message.get("stream")
            if type(stream) is not str:
                raise ParseError("combined-stream frame without a string 'stream'")
            if type(data) is not dict:
                raise ParseError(f"combined-stream 'data' is a JSON {json_kind(data)}, not an object")
            record: Trade | BookUpdate | Ticker
            if "e" not in data and stream.endswith("@bookTicker"):
                record = _book_ticker(data, received_at)
                expected = f"{record.symbol.lower()}@bookTicker"
            elif data.get("e") == "depthUpdate":
                record = _depth(data, received_at)
                expected = f"{record.symbol.lower()}@depth"
                if stream == f"{expected}@100ms":
                    expected = stream
            else:
                record = _trade(data, received_at)
                expected = f"{record.symbol.lower()}@{data['e']}"
            if stream != expected:
                raise ParseError(f"stream {stream!r} carries a frame of stream {expected!r}")
            return ParsedFrame(stream, (record,))
        if "e" in message:
            if message["e"] == "depthUpdate":
                book = _depth(message, received_at)
                return ParsedFrame(channel=f"{book.symbol.lower()}@depth", records=(book,))
            trade = _trade(message, received_at)
            return ParsedFrame(channel=f"{trade.symbol.lower()}@{message['e']}", records=(trade,))
        if "u" in message and "s" in message:
            ticker = _book_ticker(message, received_at)
            return ParsedFrame(channel=f"{ticker.symbol.lower()}@bookTicker", records=(ticker,))
        return _control(message)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("frame is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {error}") from None


def _trade(data: dict[str, Any], received_at: int) -> Trade:
    event = data.get("e")
    if event == "trade":
        trade_id = str(_int(data, "t"))
    elif event == "aggTrade":
        _int(data, "a")
        first = _int(data, "f")
        last = _int(data, "l")
        if first > last:
            raise ParseError(f"aggTrade first trade id f={first} is after last trade id l={last}")
        trade_id = f"{first}-{last}"
    elif type(event) is str:
        raise ParseError(f"unknown event type {event!r}; expected 'trade' or 'aggTrade'")
    else:
        raise ParseError(f"event type 'e' is {describe(event)}, not a string")
    symbol = _symbol(data)
    maker = data.get("m")
    if type(maker) is not bool:
        raise ParseError(f"buyer-is-maker flag 'm' is {describe(maker)}, not a boolean")
    side: Side = "sell" if maker else "buy"
    price = decimal_text(data.get("p"), "p")
    if not price:
        raise ParseError(f"price 'p' is zero: {data['p']!r}")
    _ns(data, "E")
    instrument, upper = _names(symbol)
    size = decimal_text(data.get("q"), "q")
    ts_event = _ns(data, "T")
    # Positional: on the hottest path, keyword arguments would cost a third of the dataclass's __init__ more.
    return Trade(VENUE, instrument, upper, trade_id, price, size, side, ts_event, received_at)


def _symbol(data: dict[str, Any]) -> str:
    symbol = data.get("s")
    if type(symbol) is not str:
        raise ParseError(f"symbol 's' is {describe(symbol)}, not a string")
    return symbol


def _levels(value: object, key: str) -> tuple[Level, ...]:
    """``[[price, quantity], ...]`` as levels: prices > 0, quantities >= 0 (0 removes the level)."""
    if type(value) is not list:
        raise ParseError(f"levels {key!r} are {describe(value)}, not a list")
    levels = []
    price_key, quantity_key = f"{key}.price", f"{key}.quantity"
    for entry in value:
        if type(entry) is not list or len(entry) < 2:
            raise ParseError(f"a level of {key!r} is {describe(entry)}, not a [price, quantity] pair")
        price = decimal_text(entry[0], price_key)
        if not price:
            raise ParseError(f"a level of {key!r} has price zero: {entry[0]!r}")
        levels.append(Level(price, decimal_text(entry[1], quantity_key)))
    return tuple(levels)


def _depth(data: dict[str, Any], received_at: int) -> BookUpdate:
    symbol = _symbol(data)
    first = _int(data, "U")
    last = _int(data, "u")
    if first > last:
        raise ParseError(f"depthUpdate first update id U={first} is after final update id u={last}")
    instrument, upper = _names(symbol)
    return BookUpdate(
        venue=VENUE,
        instrument=instrument,
        symbol=upper,
        kind="delta",
        bids=_levels(data.get("b"), "b"),
        asks=_levels(data.get("a"), "a"),
        ts_event=_ns(data, "E"),
        ts_recv=received_at,
        first_sequence=first,
        sequence=last,
    )


def _book_ticker(data: dict[str, Any], received_at: int) -> Ticker:
    symbol = _symbol(data)
    prices = [decimal_text(data.get(key), key) for key in ("b", "a")]
    for key, price in zip(("b", "a"), prices, strict=True):
        if not price:
            raise ParseError(f"best price {key!r} is zero: {data[key]!r}")
    instrument, upper = _names(symbol)
    return Ticker(
        venue=VENUE,
        instrument=instrument,
        symbol=upper,
        ts_event=received_at,
        ts_recv=received_at,
        best_bid=prices[0],
        best_bid_size=decimal_text(data.get("B"), "B"),
        best_ask=prices[1],
        best_ask_size=decimal_text(data.get("A"), "A"),
        sequence=_int(data, "u"),
    )


def _control(message: dict[str, Any]) -> ParsedFrame:
    if "result" in message and "id" in message:
        if type(message["id"]) not in (int, str, type(None)):
            raise ParseError(f"reply id is {describe(message['id'])}, not an integer, string or null")
        return ParsedFrame(channel="", control="ack")
    if "error" in message or ("code" in message and "msg" in message):
        return ParsedFrame(channel="", control="error")
    raise ParseError(f"object with keys {sorted(message)[:10]} is neither a trade, a book update, a reply nor an error")


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int:
        raise ParseError(f"{key!r} is {describe(value)}, not an integer")
    if value < 0:
        raise ParseError(f"{key!r} is negative: {value}")
    return value


def _ns(data: dict[str, Any], key: str) -> int:
    value = _int(data, key)
    ns = value * 1_000 if value >= _MICROS_THRESHOLD else value * 1_000_000
    if ns > MAX_NS or value == 0:
        raise ParseError(f"time {key!r}={value} is out of range")
    return ns


# --- REST history (gap repair) ----------------------------------------------------------------------

REST_TRADES_PATH = "/api/v3/historicalTrades"
"""Binance's "old trade lookup": trades from a trade id on (``GET``, public market data)."""

REST_TRADES_LIMIT = 1000
"""Binance's maximum page size for ``historicalTrades``."""


def rest_trades_request(instrument: str, from_id: int, limit: int = REST_TRADES_LIMIT) -> tuple[str, dict[str, str]]:
    """The request for trades of one symbol starting at trade id ``from_id`` (inclusive, ascending).

    Args:
        instrument: Canonical instrument, e.g. ``BTC-USDT``.
        from_id: The first trade id wanted.
        limit: At most this many trades (1..1000).

    Returns:
        The path (relative to the REST base URL) and the query parameters.

    Raises:
        ValueError: A bad instrument, id or limit.
    """
    if from_id < 0 or not 1 <= limit <= REST_TRADES_LIMIT:
        raise ValueError(f"from_id must be >= 0 and limit in 1..{REST_TRADES_LIMIT}, got {from_id}, {limit}")
    return REST_TRADES_PATH, {"symbol": to_symbol(instrument), "fromId": str(from_id), "limit": str(limit)}


def parse_rest_trades(body: bytes | str, received_at: int, instrument: str) -> list[Trade]:
    """Parse a ``historicalTrades`` response into trades identical to the streamed ``trade`` records.

    Entries look like ``{"id": 28457, "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
    "time": 1499865549590, "isBuyerMaker": true, "isBestMatch": true}``: ``id`` is the stream's ``t``,
    ``time`` its ``T`` and ``isBuyerMaker`` its ``m``, so the id, side and event time match exactly.

    Raises:
        ParseError: Anything but a list of such entries (an error body ``{"code": ..., "msg": ...}`` included).
    """
    try:
        entries = orjson.loads(body)
        if type(entries) is not list:
            raise ParseError(f"historicalTrades answered {describe(entries)}, not a list of trades")
        symbol = to_symbol(instrument)
        trades = []
        for entry in entries:
            if type(entry) is not dict:
                raise ParseError(f"historicalTrades entry is {describe(entry)}, not an object")
            maker = entry.get("isBuyerMaker")
            if type(maker) is not bool:
                raise ParseError(f"'isBuyerMaker' is {describe(maker)}, not a boolean")
            price = decimal_text(entry.get("price"), "price")
            if not price:
                raise ParseError("price 'price' is zero")
            trades.append(
                Trade(
                    venue=VENUE,
                    instrument=instrument,
                    symbol=symbol,
                    trade_id=str(_int(entry, "id")),
                    price=price,
                    size=decimal_text(entry.get("qty"), "qty"),
                    side="sell" if maker else "buy",
                    ts_event=_ns(entry, "time"),
                    ts_recv=received_at,
                )
            )
        return trades
    except ParseError:
        raise
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable historicalTrades body: {type(error).__name__}: {error}") from None


# --- REST depth snapshot (local order book) ---------------------------------------------------------

REST_DEPTH_PATH = "/api/v3/depth"
"""Binance's "Order book" endpoint: the book's levels and its ``lastUpdateId`` (``GET``, public market data)."""

REST_DEPTH_LIMIT = 5000
"""Binance's maximum depth per side (larger limits are truncated to it); the local-book procedure asks for it."""


def rest_depth_request(instrument: str, limit: int = REST_DEPTH_LIMIT) -> tuple[str, dict[str, str]]:
    """The request for a depth snapshot of one symbol.

    Args:
        instrument: Canonical instrument, e.g. ``BTC-USDT``.
        limit: Levels per side (1..5000; Binance's default is 100).

    Returns:
        The path (relative to the REST base URL) and the query parameters.

    Raises:
        ValueError: A bad instrument or limit.
    """
    if not 1 <= limit <= REST_DEPTH_LIMIT:
        raise ValueError(f"limit must be in 1..{REST_DEPTH_LIMIT}, got {limit}")
    return REST_DEPTH_PATH, {"symbol": to_symbol(instrument), "limit": str(limit)}


def parse_rest_depth(body: bytes | str, received_at: int, instrument: str) -> BookUpdate:
    """Parse an ``/api/v3/depth`` response into a snapshot book update.

    The body is ``{"lastUpdateId": 1027024, "bids": [["4.00000000", "431.00000000"]], "asks":
    [["4.00000200", "12.00000000"]]}``: bids best (highest) first, asks best (lowest) first. It has no
    time, so ``ts_event`` is ``received_at``; ``sequence`` is ``lastUpdateId``.

    Args:
        body: The response body.
        received_at: When it was received, epoch ns.
        instrument: The canonical instrument it was requested for.

    Returns:
        ``BookUpdate(kind="snapshot", sequence=lastUpdateId, ...)``.

    Raises:
        ParseError: Anything but such an object (an error body ``{"code": ..., "msg": ...}`` included).
    """
    try:
        document = orjson.loads(body)
        if type(document) is not dict:
            raise ParseError(f"depth answered {describe(document)}, not an object")
        if "lastUpdateId" not in document and "code" in document:
            raise ParseError(f"depth answered an error: {str(document.get('msg'))[:200]}")
        return BookUpdate(
            venue=VENUE,
            instrument=instrument,
            symbol=to_symbol(instrument),
            kind="snapshot",
            bids=_levels(document.get("bids"), "bids"),
            asks=_levels(document.get("asks"), "asks"),
            ts_event=received_at,
            ts_recv=received_at,
            sequence=_int(document, "lastUpdateId"),
        )
    except ParseError:
        raise
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable depth body: {type(error).__name__}: {error}") from None
