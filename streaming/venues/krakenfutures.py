"""Kraken Futures (WebSocket v1): trade, book and ticker parsers, symbol mapping, subscriptions, REST history.

Pure functions only: no I/O, no clock, no state beyond a memo of symbol lookups and one immutable JSON
decoder.

Wire conventions (sources: the Kraken Futures WebSocket v1 documentation,
https://docs.kraken.com/api/docs/futures-api/websocket/trade, ``.../websocket/book``, ``.../websocket/ticker``
and ``.../websocket/heartbeat``; the subscription rules at
https://support.kraken.com/hc/en-us/articles/360022635632-Subscriptions-WebSockets-API-; and public captures
listed in ``tests/fixtures/krakenfutures/README.md``):

* **Endpoint and (un)subscription.** One socket, ``wss://futures.kraken.com/ws/v1``. A subscription names a
  feed and product ids: ``{"event":"subscribe","feed":"trade","product_ids":["PF_XBTUSD"]}`` (the
  ``heartbeat`` feed takes no product ids). The venue answers ``{"event":"subscribed","feed":...,
  "product_ids":[...]}`` (``unsubscribed`` likewise), or ``subscribed_failed`` / ``unsubscribed_failed``,
  or ``{"event":"error","message":"Invalid product id" | "Invalid feed" | "Json Error"}``, or
  ``{"event":"alert","message":"..."}`` (e.g. "Failed to subscribe to authenticated feed"). On connect it
  sends ``{"event":"info","version":1}``; private feeds use ``{"event":"challenge","message":...}``.
  :func:`parse` reports every ``event`` frame as a control frame with channel ``""`` and no records:
  ``subscribed``, ``unsubscribed``, ``info`` and ``challenge`` are ``"ack"``; ``subscribed_failed``,
  ``unsubscribed_failed``, ``error`` and ``alert`` are ``"error"``. ``{"feed":"heartbeat","time":...}`` is
  control ``"heartbeat"`` on channel ``"heartbeat"``. A frame with an ``event`` key is never read as data,
  and an unknown event or feed is a :class:`~streaming.errors.ParseError`.
* **Feeds parsed.** ``trade_snapshot`` (``trades``: the recent trades, newest first) and ``trade`` (one trade:
  ``feed, product_id, uid, side, type, seq, time, qty, price``) -> :class:`~contracts.records.Trade`;
  ``book_snapshot`` (``seq, timestamp, tickSize`` (always null), ``bids``/``asks`` of ``{price, qty}``) and
  ``book`` (one level: ``side`` ``"buy"``/``"sell"``, ``price``, ``qty`` (0 removes the level), ``seq``,
  ``timestamp``) -> :class:`~contracts.records.BookUpdate`; ``ticker`` ->
  :class:`~contracts.records.Ticker`. The frame's channel is ``"<feed>:<product_id>"`` with the subscribed
  feed name (``trade``, ``book``, ``ticker``) for snapshots and updates alike, e.g. ``"book:PF_XBTUSD"``.
  A snapshot's trades are returned oldest first (by ``time``, then ``seq``).
* **Taker side.** The documentation defines a trade's ``side`` as "The classification of the taker side in
  the matched trade: buy if the taker is a buyer, sell if the taker is a seller." (trade feed, and the same
  words for the REST ``/history`` endpoint). It is therefore the aggressor side and is stored as is;
  anything but ``"buy"``/``"sell"`` is rejected. The trade ``type`` (``fill``, ``liquidation``,
  ``termination``, ``block``, ``assignment``) must be a string and is not stored.
* **Identity.** ``trade_id = uid``, documented as the "Unique identifier for the matched trade". Not ``seq``:
  the docs call it "the subscription message sequence number", it is a per-product counter of the trade
  feed (consecutive trades of a product carry consecutive values), it restarts with the venue's trading
  engine (PI_XBTUSD trades carried seq 85423 in a 2019-08 example, 6922 and 222736 in 2021-07 and 2022-03
  captures), so it is not unique over time, and the REST history has no seq at all. The uid is the one key
  that both the socket and the REST history carry, so a gap repair deduplicates against the live trades on
  ``(venue, symbol, trade_id)``. The trade ``seq`` is validated (a non-negative integer) but not stored:
  :class:`~contracts.records.Trade` has no sequence field.
* **Book sequence.** ``seq`` ("the subscription message sequence number") is per product and book feed,
  and contiguous: consecutive book messages of a product carry consecutive values (captures of PI_XBTUSD and
  FI_XBTUSD_220624 taken minutes apart show separate counters; cryptofeed treats any other step between
  deltas as a missing message), and the deltas continue from the snapshot's ``seq``.
  ``BookUpdate.sequence = seq``; a delta also gets ``first_sequence = seq`` and ``prev_sequence = seq - 1``,
  so a generic checker compares ``prev_sequence`` with the last ``sequence`` it saw (snapshot or delta); a
  snapshot starts a new chain (``prev_sequence`` ``None``). Like the trade seq, the counter restarts with
  the venue's engine (PI_XBTUSD book seq: 326072249 in the 2021-02 docs example, 270511410 in a 2022-03
  capture): a lower seq after a new snapshot is a reset, not a gap. The venue sends no book checksum.
* **Ticker.** ``bid``/``bid_size``/``ask``/``ask_size`` -> best bid/ask and sizes, ``last`` ->
  ``last_price``, ``volume`` ("the sum of the sizes of all fills observed in the last 24 hours", in the
  same unit as trade sizes; ``volumeQuote`` is not stored) -> ``volume_24h``, ``markPrice`` ->
  ``mark_price``, ``index`` -> ``index_price``, ``openInterest`` -> ``open_interest``, ``time`` (server
  time) -> ``ts_event``. **Funding:** the ticker carries two rates per perpetual. ``funding_rate`` is
  *absolute*: a charge in the settlement unit per contract per funding period (quote currency per unit of
  base for a linear ``PF_`` perpetual, e.g. 0.912 USD per BTC; base currency per one-USD contract for an
  inverse ``PI_`` perpetual, e.g. 3.2e-12 BTC). ``relative_funding_rate`` is "the absolute funding rate
  relative to the spot price at the time of funding rate calculation": a dimensionless fraction of notional
  per funding period (one hour on Kraken Futures), comparable with other venues' funding rates and with
  itself across linear and inverse contracts. :attr:`Ticker.funding_rate <contracts.records.Ticker>` stores
  ``relative_funding_rate``; the absolute rate and the predictions (``*_prediction``) are not stored. The
  docs say a funding field that is zero is not sent; an absent or null field is stored as ``None`` (not
  zero), since absence cannot be told apart from a feed that does not carry funding (dated futures).
  ``suspended``, ``dtm``, ``leverage``, ``premium``, ``change``, ``tag``, ``pair``, ``maturityTime``,
  ``post_only`` and ``next_funding_rate_time`` are not stored. Tickers have no sequence number.
* **Timestamps** (``time``, ``timestamp``) are integer milliseconds since the epoch; they become integer epoch
  **nanoseconds** (an out-of-range or non-integer time is rejected). A trade's ``ts_event`` is its ``time``
  (when it matched); a book update's is its ``timestamp``; a ticker's is the server ``time``.
* **Prices and sizes are JSON numbers** (``"qty":0.0002``, ``"price":83994.0``, ``"funding_rate":3.2e-12``).
  Frames are decoded with the standard library's JSON decoder with ``parse_float=decimal.Decimal``, which
  hands every number with a fraction or exponent to :class:`~decimal.Decimal` as its literal text, so no
  value ever goes through a float: ``0.12290`` stays ``Decimal("0.12290")`` (scale kept), ``5.1e-05`` is
  ``Decimal("0.000051")`` and ``1.2e10`` is ``Decimal("1.2E+10")``. Integer literals arrive as ``int`` and
  become exact decimals. ``NaN``/``Infinity`` literals are rejected, as are decimal strings on the socket
  (the wire type is a number). The stored type is ``decimal(38, 18)``: a price or size with more than 18
  significant fractional digits or more than 20 integer digits is rejected. Prices must be > 0, sizes and
  book quantities >= 0. The one deliberate exception is the ticker's *computed* measures (mark price, index
  price, funding rate), which the venue renders from binary floats (``-1.687995833333e-06``,
  ``84004.11362574516``): digits below 1e-18 are float noise, so those three are rounded half-even to 18
  fractional digits instead of failing the whole ticker; every quoted or traded quantity stays exact.
  Ids, sequences and times must be JSON integers (not booleans) within 64 bits.

Instruments (source: "Ticker symbols",
https://support.kraken.com/hc/en-us/articles/360022835891-Ticker-symbols): ``PF_`` linear multi-collateral
perpetuals, ``PI_`` inverse perpetuals, ``FF_`` linear multi-collateral and ``FI_`` inverse fixed-maturity
futures with a ``_YYMMDD`` expiry. Kraken's asset codes ``XBT`` and ``XDG`` become ``BTC`` and ``DOGE``. A
linear contract maps to the plain canonical name (``PF_XBTUSD`` -> ``BTC-USD-PERP``, ``FF_XBTUSD_230929`` ->
``BTC-USD-20230929``). An inverse contract is a different market (its size is in USD contracts, it settles
in BTC), so it must not share the linear one's name; the canonical patterns of
:mod:`contracts.instruments` have no place for a contract type, so until they do the inverse marker
``INV`` is appended to the quote: ``PI_XBTUSD`` -> ``BTC-USDINV-PERP``, ``FI_XBTUSD_230929`` ->
``BTC-USDINV-20230929``. Every mapping round-trips (:func:`to_symbol` refuses names that would not), which
is why a product id that spells ``BTC`` or ``DOGE`` directly is refused (``XBT``/``XDG`` map to those).
Vanilla (``PV_``/``FV_``) products, indices (``IN_``) and reference rates (``RR_``) are not supported.

REST history for gap repair (source: "Get public execution events",
https://docs.kraken.com/api-reference/market-history/get-public-execution-events; the older
``/derivatives/api/v3/history`` endpoint, https://docs.kraken.com/api/docs/futures-api/trading/get-history,
returns only the 100 trades before a time, for at most 7 days or since the last engine restart, and its
support page, https://support.kraken.com/hc/en-us/articles/360022839511-History, sends readers to the Market
History endpoints for history): ``GET https://futures.kraken.com/api/history/v3/market/{product_id}/executions``
with ``since`` (ms) and ``sort=asc`` lists up to 1000 executions from a time forwards (page on by moving
``since`` to the last trade's time: repeats deduplicate on the trade id). Each element holds
``event.Execution.execution`` with the execution ``uid`` (taken as the trade's id: the socket's ``uid`` is
"the unique identifier for the matched trade" and a matched trade is one execution; no public capture pairs
the two feeds, so this equality is the one assumption of the repair path), ``timestamp`` (ms; captures
show integers and digit strings), ``price`` and ``quantity`` (decimal strings, read exactly) and
``takerOrder.direction`` (``"Buy"``/``"Sell"``, the taker's side: the same convention as the socket's
``side``).
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, Literal, NoReturn

from contracts.records import BookUpdate, Level, Side, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues.base import ParsedFrame
from streaming.venues.wire import (
    MALFORMED_ERRORS,
    MAX_FRACTION_DIGITS,
    MAX_INT64,
    MAX_INTEGER_DIGITS,
    NS_PER_MILLISECOND,
    check_fits,
    describe,
    epoch_ns,
    fraction_digits,
    json_kind,
)

VENUE = "krakenfutures"

WS_URL = "wss://futures.kraken.com/ws/v1"
"""The public WebSocket v1 endpoint."""

REST_BASE_URL = "https://futures.kraken.com"
"""The base of the REST paths :func:`rest_trades_request` returns."""

Feed = Literal["trade", "book", "ticker", "heartbeat"]
"""The public feeds this module subscribes to and parses."""

FEEDS: tuple[Feed, ...] = ("trade", "book", "ticker", "heartbeat")

INVERSE_MARKER = "INV"
"""Appended to the quote asset of an inverse contract's canonical name (``BTC-USDINV-PERP``)."""

QUOTE_ASSETS: tuple[str, ...] = ("USD", "USDT", "USDC", "EUR", "GBP", "XBT")
"""Quote assets of Kraken Futures product ids; a pair's quote is its longest matching suffix."""

ASSET_ALIASES: dict[str, str] = {"XBT": "BTC", "XDG": "DOGE"}
"""Kraken asset code -> common asset code."""

_VENUE_CODES = {common: kraken for kraken, common in ASSET_ALIASES.items()}
_QUOTES_LONGEST_FIRST = tuple(sorted(QUOTE_ASSETS, key=len, reverse=True))
_PRODUCT_TYPES: dict[str, tuple[bool, bool]] = {  # prefix -> (perpetual, inverse)
    "PF": (True, False),
    "PI": (True, True),
    "FF": (False, False),
    "FI": (False, True),
}
_CANONICAL = re.compile(r"([A-Z0-9]+)-([A-Z0-9]+)-(PERP|\d{8})")

_QUANTUM = Decimal("1E-18")
_WIDE = Context(prec=80)  # enough for any decimal(38, 18) value, so rounding never raises
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]{1,9})?")
_DIGITS = re.compile(r"[0-9]{1,19}")

_ACK_EVENTS = frozenset({"subscribed", "unsubscribed", "info", "challenge"})
_ERROR_EVENTS = frozenset({"subscribed_failed", "unsubscribed_failed", "error", "alert"})


def _reject_constant(name: str) -> NoReturn:
    raise ParseError(f"JSON constant {name} is not a number")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


# --- symbol mapping ----------------------------------------------------------------------------


def to_instrument(product_id: str) -> str:
    """The canonical instrument of a Kraken Futures product id.

    Args:
        product_id: A product id in any case, e.g. ``"PF_XBTUSD"``, ``"pi_xbtusd"`` or ``"FI_XBTUSD_230929"``.

    Returns:
        The canonical name, e.g. ``"BTC-USD-PERP"``, ``"BTC-USDINV-PERP"`` or ``"BTC-USDINV-20230929"``.

    Raises:
        ParseError: The id is not a linear or inverse perpetual or fixed-maturity future of a known quote
            asset, its expiry is not a date, or it spells an asset Kraken spells otherwise (``BTC``).
    """
    if type(product_id) is not str:
        raise ParseError(f"product id is {describe(product_id)}, not a string")
    return _instrument_of(product_id)


@functools.lru_cache(maxsize=4096)
def _instrument_of(product_id: str) -> str:
    if not product_id.isascii() or len(product_id) > 64:
        raise ParseError(f"product id {product_id[:70]!r} is not a Kraken Futures product id")
    parts = product_id.upper().split("_")
    if len(parts) not in (2, 3) or parts[0] not in _PRODUCT_TYPES:
        raise ParseError(
            f"product id {product_id!r} is not a PF_/PI_ perpetual or an FF_/FI_ future (e.g. 'PF_XBTUSD')"
        )
    perpetual, inverse = _PRODUCT_TYPES[parts[0]]
    if perpetual != (len(parts) == 2):
        raise ParseError(f"product id {product_id!r}: a perpetual has no expiry and a future needs one")
    pair = parts[1]
    if not pair.isalnum():
        raise ParseError(f"product id {product_id!r} has a non-alphanumeric pair {pair!r}")
    for quote in _QUOTES_LONGEST_FIRST:
        if pair.endswith(quote) and len(pair) > len(quote):
            base = pair[: -len(quote)]
            break
    else:
        raise ParseError(f"product id {product_id!r} does not end in a known quote asset ({', '.join(QUOTE_ASSETS)})")
    tail = "PERP" if perpetual else _expiry(product_id, parts[2])
    marker = INVERSE_MARKER if inverse else ""
    return f"{_common(product_id, base)}-{_common(product_id, quote)}{marker}-{tail}"


def _common(product_id: str, asset: str) -> str:
    if asset in _VENUE_CODES:
        raise ParseError(f"product id {product_id!r} spells {asset}; Kraken Futures spells it {_VENUE_CODES[asset]}")
    return ASSET_ALIASES.get(asset, asset)


def _expiry(product_id: str, text: str) -> str:
    if len(text) != 6 or not text.isdigit():
        raise ParseError(f"product id {product_id!r} has expiry {text!r}, not YYMMDD")
    try:
        date = datetime.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        raise ParseError(f"product id {product_id!r} has expiry {text!r}, which is not a date") from None
    return date.strftime("%Y%m%d")


def to_symbol(instrument: str) -> str:
    """The Kraken Futures product id of a canonical instrument.

    Args:
        instrument: A canonical perpetual or dated future, e.g. ``"BTC-USD-PERP"`` (-> ``PF_XBTUSD``),
            ``"BTC-USDINV-PERP"`` (-> ``PI_XBTUSD``) or ``"ETH-USD-20230929"`` (-> ``FF_ETHUSD_230929``).

    Returns:
        The product id in upper case, as the socket uses it.

    Raises:
        ValueError: The name is not a canonical perpetual or future, or its product id would not map back
            to it (unknown quote asset, expiry outside 2000-2099, a split :func:`to_instrument` cannot
            reproduce).
    """
    match = _CANONICAL.fullmatch(instrument) if type(instrument) is str else None
    if match is None:
        raise ValueError(
            f"{instrument!r} is not a canonical perpetual or future such as 'BTC-USD-PERP' or 'BTC-USD-20261225'"
        )
    base, quote, tail = match.groups()
    inverse = quote.endswith(INVERSE_MARKER) and len(quote) > len(INVERSE_MARKER)
    if inverse:
        quote = quote[: -len(INVERSE_MARKER)]
    pair = _VENUE_CODES.get(base, base) + _VENUE_CODES.get(quote, quote)
    if tail == "PERP":
        symbol = f"{'PI' if inverse else 'PF'}_{pair}"
    else:
        symbol = f"{'FI' if inverse else 'FF'}_{pair}_{tail[2:]}"
    try:
        back = _instrument_of(symbol)
    except ParseError as error:
        raise ValueError(f"{instrument!r} cannot be traded on Kraken Futures here: {error}") from None
    if back != instrument:
        raise ValueError(f"{instrument!r} maps to product id {symbol!r}, which reads back as {back!r}")
    return symbol


def product_ids(instruments: Sequence[str]) -> list[str]:
    """The product ids of canonical instruments, in the same order (see :func:`to_symbol`).

    Raises:
        ValueError: An instrument :func:`to_symbol` rejects.
    """
    return [to_symbol(instrument) for instrument in instruments]


# --- subscriptions -----------------------------------------------------------------------------


def subscribe_message(feed: Feed, product_ids: Sequence[str]) -> str:
    """The request subscribing to a feed.

    Args:
        feed: ``"trade"``, ``"book"``, ``"ticker"`` or ``"heartbeat"``.
        product_ids: Product ids, e.g. ``["PF_XBTUSD"]`` (see :func:`product_ids`); none for ``heartbeat``.

    Returns:
        The JSON text, e.g. ``{"event":"subscribe","feed":"trade","product_ids":["PF_XBTUSD"]}``.

    Raises:
        ValueError: Unknown feed, product ids missing (or given for ``heartbeat``), or a product id
            :func:`to_instrument` rejects.
    """
    return _request("subscribe", feed, product_ids)


def unsubscribe_message(feed: Feed, product_ids: Sequence[str]) -> str:
    """The request ending a subscription.

    Args:
        feed: ``"trade"``, ``"book"``, ``"ticker"`` or ``"heartbeat"``.
        product_ids: Product ids, e.g. ``["PF_XBTUSD"]``; none for ``heartbeat``.

    Returns:
        The JSON text, e.g. ``{"event":"unsubscribe","feed":"trade","product_ids":["PF_XBTUSD"]}``.

    Raises:
        ValueError: As for :func:`subscribe_message`.
    """
    return _request("unsubscribe", feed, product_ids)


def _request(event: str, feed: str, ids: Sequence[str]) -> str:
    if feed not in FEEDS:
        raise ValueError(f"unknown Kraken Futures feed {feed!r}; expected one of {FEEDS}")
    if isinstance(ids, str):
        raise ValueError(f"product_ids must be a sequence of product ids, not the string {ids!r}")
    message: dict[str, Any] = {"event": event, "feed": feed}
    if feed == "heartbeat":
        if ids:
            raise ValueError("the heartbeat feed takes no product ids")
    else:
        if not ids:
            raise ValueError(f"the {feed} feed needs at least one product id")
        for product_id in ids:
            try:
                to_instrument(product_id)
            except ParseError as error:
                raise ValueError(str(error)) from None
        message["product_ids"] = [product_id.upper() for product_id in ids]
    return json.dumps(message, separators=(",", ":"))


# --- parsing -----------------------------------------------------------------------------------


def parse(raw: bytes | str, received_at: int) -> ParsedFrame:
    """Parse one Kraken Futures frame.

    Args:
        raw: The frame exactly as received (UTF-8 bytes or text).
        received_at: When our socket received it, epoch nanoseconds; becomes every record's ``ts_recv``.

    Returns:
        For ``trade_snapshot``/``trade``, channel ``"trade:<product_id>"`` and the trades (oldest first);
        for ``book_snapshot``/``book``, ``"book:<product_id>"`` and one book update; for ``ticker``,
        ``"ticker:<product_id>"`` and one ticker; for ``heartbeat``, a ``"heartbeat"`` control frame; for an
        ``event`` frame, an ``"ack"`` or ``"error"`` control frame with channel ``""`` and no records.

    Raises:
        ParseError: The frame is not UTF-8 JSON, not an object, or not a well-formed frame of a feed or
            event listed above. No other exception escapes.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        message = _DECODER.decode(text)
        if type(message) is not dict:
            raise ParseError(f"frame is a JSON {json_kind(message)}, not an object")
        if "event" in message:
            return _event(message)
        feed = message.get("feed")
        handler = _HANDLERS.get(feed) if type(feed) is str else None
        if handler is None:
            if "feed" not in message:
                raise ParseError(f"object with keys {sorted(message)[:10]} has neither an 'event' nor a 'feed'")
            raise ParseError(f"unsupported feed {describe(feed)}; expected one of {sorted(_HANDLERS)}")
        return handler(message, received_at)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("frame is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {error}") from None


def _event(message: dict[str, Any]) -> ParsedFrame:
    event = message["event"]
    if type(event) is not str:
        raise ParseError(f"'event' is {describe(event)}, not a string")
    if event in ("subscribed", "unsubscribed", "subscribed_failed", "unsubscribed_failed"):
        _optional_str(message, "feed")
        ids = message.get("product_ids")
        if ids is not None and (type(ids) is not list or any(type(item) is not str for item in ids)):
            raise ParseError(f"'product_ids' is {describe(ids)}, not a list of strings")
    elif event in ("error", "alert", "challenge"):
        _optional_str(message, "message")
    elif event == "info":
        version = message.get("version")
        if version is not None and type(version) is not int:
            raise ParseError(f"'version' is {describe(version)}, not an integer")
    if event in _ACK_EVENTS:
        return ParsedFrame(channel="", control="ack")
    if event in _ERROR_EVENTS:
        return ParsedFrame(channel="", control="error")
    raise ParseError(f"unknown event {event[:40]!r}; expected one of {sorted(_ACK_EVENTS | _ERROR_EVENTS)}")


def _heartbeat(message: dict[str, Any], received_at: int) -> ParsedFrame:
    _ns(message, "time")
    return ParsedFrame(channel="heartbeat", control="heartbeat")


def _trade_snapshot(message: dict[str, Any], received_at: int) -> ParsedFrame:
    symbol, instrument = _product(message)
    items = message.get("trades")
    if type(items) is not list:
        raise ParseError(f"'trades' is {describe(items)}, not a list")
    keyed: list[tuple[int, int, Trade]] = []
    for item in items:
        if type(item) is not dict:
            raise ParseError(f"a snapshot trade is {describe(item)}, not an object")
        feed = item.get("feed", "trade")
        if feed != "trade":
            raise ParseError(f"a snapshot trade has feed {describe(feed)}, not 'trade'")
        inner = item.get("product_id", symbol)
        if type(inner) is not str or inner.upper() != symbol:
            raise ParseError(f"a snapshot trade of {describe(inner)} in the snapshot of {symbol!r}")
        seq, trade = _trade(item, symbol, instrument, received_at)
        keyed.append((trade.ts_event, seq, trade))
    keyed.sort(key=lambda entry: (entry[0], entry[1]))
    return ParsedFrame(channel=f"trade:{symbol}", records=tuple(trade for _, _, trade in keyed))


def _trade_update(message: dict[str, Any], received_at: int) -> ParsedFrame:
    symbol, instrument = _product(message)
    _seq, trade = _trade(message, symbol, instrument, received_at)
    return ParsedFrame(channel=f"trade:{symbol}", records=(trade,))


def _trade(data: dict[str, Any], symbol: str, instrument: str, received_at: int) -> tuple[int, Trade]:
    uid = data.get("uid")
    if type(uid) is not str or not 0 < len(uid) <= 128 or not uid.isascii() or not uid.isprintable():
        raise ParseError(f"trade id 'uid' is {describe(uid)}, not a non-empty printable ASCII string")
    side = data.get("side")
    if side != "buy" and side != "sell":
        raise ParseError(f"taker side 'side' is {describe(side)}, not 'buy' or 'sell'")
    kind = data.get("type")
    if kind is not None and type(kind) is not str:
        raise ParseError(f"trade type 'type' is {describe(kind)}, not a string")
    seq = _int(data, "seq")
    price = _number(data, "price")
    if price <= 0:
        raise ParseError(f"price 'price' is not positive: {price}")
    size = _number(data, "qty")
    if size.is_signed():
        raise ParseError(f"quantity 'qty' is negative: {size}")
    trade = Trade(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        trade_id=uid,
        price=price,
        size=size,
        side=side,
        ts_event=_ns(data, "time"),
        ts_recv=received_at,
    )
    return seq, trade


def _book_snapshot(message: dict[str, Any], received_at: int) -> ParsedFrame:
    symbol, instrument = _product(message)
    update = BookUpdate(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        kind="snapshot",
        bids=_levels(message, "bids"),
        asks=_levels(message, "asks"),
        ts_event=_ns(message, "timestamp"),
        ts_recv=received_at,
        sequence=_int(message, "seq"),
    )
    return ParsedFrame(channel=f"book:{symbol}", records=(update,))


def _book_update(message: dict[str, Any], received_at: int) -> ParsedFrame:
    symbol, instrument = _product(message)
    side = message.get("side")
    if side != "buy" and side != "sell":
        raise ParseError(f"book side 'side' is {describe(side)}, not 'buy' or 'sell'")
    level = (_level(message),)
    seq = _int(message, "seq")
    update = BookUpdate(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        kind="delta",
        bids=level if side == "buy" else (),
        asks=level if side == "sell" else (),
        ts_event=_ns(message, "timestamp"),
        ts_recv=received_at,
        first_sequence=seq,
        sequence=seq,
        prev_sequence=seq - 1 if seq else None,
    )
    return ParsedFrame(channel=f"book:{symbol}", records=(update,))


def _levels(message: dict[str, Any], key: str) -> tuple[Level, ...]:
    entries = message.get(key)
    if type(entries) is not list:
        raise ParseError(f"{key!r} is {describe(entries)}, not a list")
    levels = []
    for entry in entries:
        if type(entry) is not dict:
            raise ParseError(f"a level of {key!r} is {describe(entry)}, not an object")
        levels.append(_level(entry))
    return tuple(levels)


def _level(data: dict[str, Any]) -> Level:
    price = _number(data, "price")
    if price <= 0:
        raise ParseError(f"level price 'price' is not positive: {price}")
    size = _number(data, "qty")
    if size.is_signed():
        raise ParseError(f"level quantity 'qty' is negative: {size}")
    return Level(price=price, size=size)


def _ticker(message: dict[str, Any], received_at: int) -> ParsedFrame:
    symbol, instrument = _product(message)
    ticker = Ticker(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        ts_event=_ns(message, "time"),
        ts_recv=received_at,
        best_bid=_measure(message, "bid"),
        best_bid_size=_measure(message, "bid_size"),
        best_ask=_measure(message, "ask"),
        best_ask_size=_measure(message, "ask_size"),
        last_price=_measure(message, "last"),
        volume_24h=_measure(message, "volume"),
        funding_rate=_measure(message, "relative_funding_rate", signed=True, computed=True),
        mark_price=_measure(message, "markPrice", computed=True),
        index_price=_measure(message, "index", computed=True),
        open_interest=_measure(message, "openInterest"),
    )
    return ParsedFrame(channel=f"ticker:{symbol}", records=(ticker,))


_HANDLERS: dict[str, Callable[[dict[str, Any], int], ParsedFrame]] = {
    "trade_snapshot": _trade_snapshot,
    "trade": _trade_update,
    "book_snapshot": _book_snapshot,
    "book": _book_update,
    "ticker": _ticker,
    "heartbeat": _heartbeat,
}


def _product(message: dict[str, Any]) -> tuple[str, str]:
    product_id = message.get("product_id")
    if type(product_id) is not str:
        raise ParseError(f"'product_id' is {describe(product_id)}, not a string")
    return product_id.upper(), _instrument_of(product_id)


# --- REST history ------------------------------------------------------------------------------


def rest_trades_request(instrument: str, since_ms: int | None) -> tuple[str, dict[str, str]]:
    """The public trade-history request of an instrument (Market History "public execution events").

    Args:
        instrument: A canonical instrument, e.g. ``"BTC-USD-PERP"``.
        since_ms: List executions from this time on (epoch ms, ascending); ``None`` for the most recent
            ones (newest first).

    Returns:
        The path below :data:`REST_BASE_URL` and the query parameters, e.g.
        ``("/api/history/v3/market/PF_XBTUSD/executions", {"since": "1790359960000", "sort": "asc"})``.

    Raises:
        ValueError: An instrument :func:`to_symbol` rejects, or a negative or non-integer ``since_ms``.
    """
    path = f"/api/history/v3/market/{to_symbol(instrument)}/executions"
    if since_ms is None:
        return path, {}
    if type(since_ms) is not int or since_ms < 0:
        raise ValueError(f"since_ms must be a non-negative integer (epoch ms), not {since_ms!r}")
    return path, {"since": str(since_ms), "sort": "asc"}


def parse_rest_trades(body: bytes, received_at: int, instrument: str) -> list[Trade]:
    """Parse a public-execution-events answer into trades identical to the socket's.

    Args:
        body: The HTTP response body.
        received_at: When the response was received, epoch nanoseconds; becomes every trade's ``ts_recv``.
        instrument: The canonical instrument the request was for.

    Returns:
        The trades, oldest first, with ``trade_id`` the execution uid and ``side`` the taker order's
        direction, exactly as :func:`parse` gives them for the same trades on the socket.

    Raises:
        ParseError: The body is not JSON, is an error answer, or holds an element that is not a well-formed
            execution of that instrument. No other exception escapes.
    """
    try:
        symbol = to_symbol(instrument)
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
        message = _DECODER.decode(text)
        if type(message) is not dict:
            raise ParseError(f"REST body is a JSON {json_kind(message)}, not an object")
        elements = message.get("elements")
        if elements is None:
            errors = message.get("errors", message.get("error"))
            detail = f": {describe(errors)}" if errors is not None else ""
            raise ParseError(f"REST body has no 'elements' (an error answer?){detail}")
        if type(elements) is not list:
            raise ParseError(f"'elements' is {describe(elements)}, not a list")
        trades = [_rest_trade(element, symbol, instrument, received_at) for element in elements]
        if len(trades) > 1 and trades[0].ts_event > trades[-1].ts_event:
            trades.reverse()  # the default order is newest first
        trades.sort(key=lambda trade: trade.ts_event)
        return trades
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("REST body is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable REST body: {type(error).__name__}: {error}") from None


def _rest_trade(element: object, symbol: str, instrument: str, received_at: int) -> Trade:
    if type(element) is not dict:
        raise ParseError(f"an element is {describe(element)}, not an object")
    event = element.get("event")
    if type(event) is not dict or list(event) != ["Execution"]:
        raise ParseError(f"element 'event' is {describe(event)}, not an Execution")
    wrapper = event["Execution"]
    execution = wrapper.get("execution") if type(wrapper) is dict else None
    if type(execution) is not dict:
        raise ParseError(f"'execution' is {describe(execution)}, not an object")
    uid = execution.get("uid")
    if type(uid) is not str or not 0 < len(uid) <= 128 or not uid.isascii() or not uid.isprintable():
        raise ParseError(f"execution 'uid' is {describe(uid)}, not a non-empty printable ASCII string")
    taker = execution.get("takerOrder")
    if type(taker) is not dict:
        raise ParseError(f"'takerOrder' is {describe(taker)}, not an object")
    direction = taker.get("direction")
    side: Side
    if direction in ("Buy", "buy"):
        side = "buy"
    elif direction in ("Sell", "sell"):
        side = "sell"
    else:
        raise ParseError(f"taker 'direction' is {describe(direction)}, not 'Buy' or 'Sell'")
    for order in (taker, execution.get("makerOrder")):
        tradeable = order.get("tradeable") if type(order) is dict else None
        if tradeable is not None and (type(tradeable) is not str or tradeable.upper() != symbol):
            raise ParseError(f"an execution of {describe(tradeable)} in the history of {symbol!r}")
    price = _rest_decimal(execution, "price")
    if price <= 0:
        raise ParseError(f"execution 'price' is not positive: {price}")
    size = _rest_decimal(execution, "quantity")
    if size.is_signed():
        raise ParseError(f"execution 'quantity' is negative: {size}")
    stamp = execution.get("timestamp")
    if type(stamp) is str and _DIGITS.fullmatch(stamp):
        stamp = int(stamp)
    return Trade(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        trade_id=uid,
        price=price,
        size=size,
        side=side,
        ts_event=_ns({"timestamp": stamp}, "timestamp"),
        ts_recv=received_at,
    )


def _rest_decimal(data: dict[str, Any], key: str) -> Decimal:
    value = data.get(key)
    if type(value) is str:
        if _DECIMAL_TEXT.fullmatch(value) is None:
            raise ParseError(f"{key!r} is not a finite decimal number: {value[:40]!r}")
        try:
            return _fitting(key, Decimal(value))
        except InvalidOperation:
            raise ParseError(f"{key!r} is not a decimal number: {value[:40]!r}") from None
    return _number(data, key)


# --- field helpers -----------------------------------------------------------------------------


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int:
        raise ParseError(f"{key!r} is {describe(value)}, not an integer")
    if not 0 <= value <= MAX_INT64:
        raise ParseError(f"{key!r} is out of range: {value}")
    return value


def _ns(data: dict[str, Any], key: str) -> int:
    return epoch_ns(data.get(key), key, NS_PER_MILLISECOND, "milliseconds")


def _optional_str(data: dict[str, Any], key: str) -> None:
    value = data.get(key)
    if value is not None and type(value) is not str:
        raise ParseError(f"{key!r} is {describe(value)}, not a string")


def _number(data: dict[str, Any], key: str) -> Decimal:
    """A JSON number (an int, or a Decimal made from the literal) that fits decimal(38, 18)."""
    value: Any = data.get(key)
    kind = type(value)
    if kind is Decimal:
        number: Decimal = value
        exponent = number.as_tuple().exponent
        if type(exponent) is int and exponent >= -MAX_FRACTION_DIGITS and number.adjusted() < MAX_INTEGER_DIGITS:
            return number
        return _fitting(key, number)
    if kind is int:
        if -(10**MAX_INTEGER_DIGITS) < value < 10**MAX_INTEGER_DIGITS:
            return Decimal(value)
        raise ParseError(f"{key!r}={value} has more than {MAX_INTEGER_DIGITS} integer digits")
    raise ParseError(f"{key!r} is {describe(value)}, not a JSON number")


def _fitting(key: str, value: Decimal, *, rounded: bool = False) -> Decimal:
    """Check (or, for computed measures, round) a decimal against decimal(38, 18), explaining any refusal."""
    if not value.is_finite():
        raise ParseError(f"{key!r} is not finite: {value}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if not value or (exponent >= -MAX_FRACTION_DIGITS and value.adjusted() < MAX_INTEGER_DIGITS):
        return value
    if rounded and value.adjusted() < MAX_INTEGER_DIGITS and fraction_digits(value) > MAX_FRACTION_DIGITS:
        return value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_WIDE)
    check_fits(value, f"{key!r}={value}")
    return value


def _measure(data: dict[str, Any], key: str, *, signed: bool = False, computed: bool = False) -> Decimal | None:
    """An optional ticker measure: ``None`` when absent or null."""
    if data.get(key) is None:
        return None
    value = _number(data, key) if not computed else _computed(data, key)
    if not signed and value.is_signed():
        raise ParseError(f"{key!r} is negative: {value}")
    return value


def _computed(data: dict[str, Any], key: str) -> Decimal:
    value = data.get(key)
    if type(value) is Decimal:
        return _fitting(key, value, rounded=True)
    return _number(data, key)
