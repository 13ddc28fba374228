"""Binance spot: the trade-stream parser, symbol mapping and subscription messages.

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
from contracts.records import Side, Trade
from streaming.errors import ParseError
from streaming.venues.base import ParsedFrame
from streaming.venues.wire import MAX_NS, decimal_text, describe, json_kind

VENUE = "binance"

Channel = Literal["trade", "aggTrade"]
"""The Binance trade streams this module parses."""

CHANNELS: tuple[Channel, ...] = ("trade", "aggTrade")

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


_CAUGHT = (
    ValueError,  # includes orjson.JSONDecodeError and UnicodeError
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,  # includes decimal.InvalidOperation and OverflowError
    RecursionError,
)


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
    return _instrument_of(symbol)


@functools.lru_cache(maxsize=4096)
def _instrument_of(symbol: str) -> str:
    if not isinstance(symbol, str) or not symbol.isascii() or not symbol.isalnum():
        raise ParseError(f"symbol {symbol!r} is not an alphanumeric Binance symbol")
    upper = symbol.upper()
    for quote in _QUOTES_LONGEST_FIRST:
        if upper.endswith(quote) and len(upper) > len(quote):
            return f"{upper[: -len(quote)]}-{quote}"
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


def stream_names(instruments: Sequence[str], channel: Channel) -> list[str]:
    """The Binance stream names of instruments on a trade channel.

    Args:
        instruments: Canonical instruments, e.g. ``["BTC-USDT"]``.
        channel: ``"trade"`` or ``"aggTrade"``.

    Returns:
        Stream names in the same order, e.g. ``["btcusdt@trade"]``.

    Raises:
        ValueError: Unknown channel or an instrument :func:`to_symbol` rejects.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown Binance trade channel {channel!r}; expected one of {CHANNELS}")
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
        name and its one :class:`~contracts.records.Trade`; for a request reply, a control frame
        (``"ack"`` or ``"error"``) with channel ``""`` and no records.

    Raises:
        ParseError: The frame is not valid JSON, not an object, or not a well-formed trade, trade
            aggregate or reply. No other exception escapes.
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
            trade = _trade(data, received_at)
            expected = f"{trade.symbol.lower()}@{data['e']}"
            if stream != expected:
                raise ParseError(f"stream {stream!r} carries a frame of stream {expected!r}")
            return ParsedFrame(channel=stream, records=(trade,))
        if "e" in message:
            trade = _trade(message, received_at)
            return ParsedFrame(channel=f"{trade.symbol.lower()}@{message['e']}", records=(trade,))
        return _control(message)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("frame is nested too deeply") from None
    except _CAUGHT as error:
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
    symbol = data.get("s")
    if type(symbol) is not str:
        raise ParseError(f"symbol 's' is {describe(symbol)}, not a string")
    maker = data.get("m")
    if type(maker) is not bool:
        raise ParseError(f"buyer-is-maker flag 'm' is {describe(maker)}, not a boolean")
    side: Side = "sell" if maker else "buy"
    price = decimal_text(data.get("p"), "p")
    if not price:
        raise ParseError(f"price 'p' is zero: {data['p']!r}")
    _ns(data, "E")
    return Trade(
        venue=VENUE,
        instrument=_instrument_of(symbol),
        symbol=symbol.upper(),
        trade_id=trade_id,
        price=price,
        size=decimal_text(data.get("q"), "q"),
        side=side,
        ts_event=_ns(data, "T"),
        ts_recv=received_at,
    )


def _control(message: dict[str, Any]) -> ParsedFrame:
    if "result" in message and "id" in message:
        if type(message["id"]) not in (int, str, type(None)):
            raise ParseError(f"reply id is {describe(message['id'])}, not an integer, string or null")
        return ParsedFrame(channel="", control="ack")
    if "error" in message or ("code" in message and "msg" in message):
        return ParsedFrame(channel="", control="error")
    raise ParseError(f"object with keys {sorted(message)[:10]} is neither a trade, a reply nor an error")


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
    except _CAUGHT as error:
        raise ParseError(f"unparseable historicalTrades body: {type(error).__name__}: {error}") from None
