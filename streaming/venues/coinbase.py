"""Coinbase: the Advanced Trade and Exchange feed parsers, symbol mapping, subscriptions and REST history.

Pure functions only: no I/O, no clock, no state beyond memos of symbol and date lookups.

Coinbase runs two public market-data WebSocket feeds. :func:`parse` reads both and tells them apart by
shape: an Advanced Trade frame is an envelope with a ``channel`` key, an Exchange frame is a flat object
with a ``type`` key (and no ``channel``).

**Advanced Trade** (``wss://advanced-trade-ws.coinbase.com``; channel docs
https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels, protocol
https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-overview, message
shapes https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/advanced-trade-asyncapi.json):

* **Envelope.** ``{"channel": ..., "client_id": "", "timestamp": ISO, "sequence_num": int, "events":
  [...]}``. ``client_id`` is absent from production frames (the AsyncAPI spec says so; recorded frames
  confirm it) and is ignored. ``timestamp`` is when Coinbase sent the frame.
* **Subscriptions.** One channel per request: ``{"type": "subscribe", "product_ids": [...], "channel":
  "market_trades"}`` (``"unsubscribe"`` likewise, optional ``"jwt"``). Subscribing to ``level2``
  delivers frames whose channel is ``l2_data``. ``heartbeats`` needs no products and keeps otherwise
  quiet subscriptions from being closed after 60-90 s. Every subscription change is answered by a
  ``subscriptions`` frame listing all current subscriptions (control ``"ack"``); a refused request by
  ``{"type": "error", "message": "..."}`` (control ``"error"``, channel ``""``).
* **market_trades**: events ``{"type": "snapshot" | "update", "trades": [{"trade_id", "product_id",
  "price", "size", "side": "BUY" | "SELL", "time"}]}``, batched over 250 ms, so one frame carries many
  trades. The snapshot sent on subscription holds recent trades, newest first; they are emitted like any
  other trade (identity makes repeats harmless) in wire order.
* **l2_data**: events ``{"type": "snapshot" | "update", "product_id", "updates": [{"side": "bid" |
  "offer", "event_time", "price_level", "new_quantity"}]}``; ``new_quantity`` is the new absolute size,
  ``"0"`` removes the level. One event becomes one :class:`~contracts.records.BookUpdate` (``kind``
  ``"snapshot"`` or ``"delta"``). ``ts_event`` is the latest ``event_time`` of the event's updates; older
  snapshots carry ``1970-01-01T00:00:00Z`` there, so an event without a real ``event_time`` takes the
  envelope ``timestamp``. No checksum is offered, and no per-book sequence: the records' ``sequence``,
  ``first_sequence`` and ``prev_sequence`` stay ``None`` (see "Sequence" below).
* **ticker** / **ticker_batch**: events ``{"type", "tickers": [{"type": "ticker", "product_id",
  "price", "volume_24_h", "best_bid", "best_bid_quantity", "best_ask", "best_ask_quantity", ...}]}``.
  Each ticker becomes a :class:`~contracts.records.Ticker` stamped with the envelope ``timestamp`` (the
  only time it has). Fields the frame lacks (``ticker_batch`` and older frames have no best bid/ask), or
  sends as ``""``, stay ``None``; the 24 h/52 w lows, highs and percentage change are not stored.
* **heartbeats** (control ``"heartbeat"``): ``{"current_time": "<Go time text>", "heartbeat_counter":
  int}`` once a second; the counter is an integer in production (a decimal string in the prose docs;
  both are accepted) and ``current_time`` is not parsed.
* **Sequence.** ``sequence_num`` counts the frames of one connection across all of its channels,
  heartbeats and subscription acks included: starting at 0 after connecting, each frame is exactly one
  more than the previous. A jump means frames were lost (resubscribe, resnapshot books, repair trades);
  a smaller number means a duplicate or reordering. It is copied to ``Ticker.sequence`` but **not** to
  ``BookUpdate.sequence``: the frames of one book are interleaved with trades, tickers, heartbeats and the
  other books' frames, so their numbers are not contiguous per book, and an order-book reducer that checks
  continuity (:class:`streaming.book.OrderBook`) would take every such hole for a lost update. A jump only
  says that *some* frame of the connection was lost; which book it belonged to is unknown, so a gap
  detector reads the number for *every* frame with :func:`sequence_of` and resynchronises every book of the
  connection on a jump.
* **USD and USDC.** Products keep their names; ``BTC-USD`` and ``BTC-USDC`` are different instruments
  and are never merged. Coinbase documents that market-data channels answer a ``-USDC`` subscription
  with the corresponding ``-USD`` product's data (except USDT-USDC and EURC-USDC); such frames name
  ``BTC-USD`` and are recorded as ``BTC-USD``, exactly as sent.

**Exchange** (``wss://ws-feed.exchange.coinbase.com``; https://docs.cdp.coinbase.com/exchange/websocket-feed/channels):

* Subscribe with ``{"type": "subscribe", "product_ids": [...], "channels": ["matches"]}``; answered by
  ``{"type": "subscriptions", "channels": [{"name", "product_ids"}]}`` (``"ack"``) or ``{"type":
  "error", "message", "reason"}`` (``"error"``).
* **matches**: ``match`` (and, once per product on subscription, ``last_match``, the latest trade) with
  ``trade_id`` (integer), ``sequence``, ``maker_order_id``, ``taker_order_id``, ``side``, ``size``,
  ``price``, ``product_id``, ``time``. Channel ``"matches"``.
* **ticker**: ``{"type": "ticker", "sequence", "product_id", "price", "volume_24h", "best_bid",
  "best_bid_size", "best_ask", "best_ask_size", "time", "trade_id", ...}``; ``ts_event`` is ``time``
  (``received_at`` when a ticker has no ``time``).
* **heartbeat** (control ``"heartbeat"``): ``{"type": "heartbeat", "sequence", "last_trade_id",
  "product_id", "time"}``, once a second per product.
* **Sequence.** ``sequence`` is per product and shared with the full order feed, so on ``matches``
  consecutive messages are *not* consecutive numbers (recorded: 134905859981 then 134905860111 for
  trades 1081862674 and 1081862675). It only increases. What is contiguous is the per-product
  ``trade_id``: each trade is the previous one plus one, and heartbeats carry ``last_trade_id``.
  :func:`sequence_of` returns both. Level 2 on this feed needs authentication and is not parsed here.

**Taker side.** Trades record the taker (aggressor) side.

* Exchange ``match``/``last_match`` and the Exchange REST trades: the docs say "the side field
  indicates the maker order side" (a ``sell`` maker means an up-tick: the taker bought), so the taker
  side is the opposite: ``buy`` -> ``"sell"``, ``sell`` -> ``"buy"``.
* Advanced Trade ``market_trades`` (and its REST twin): the docs do not say. The trades are the same
  matching-engine trades (same per-product ``trade_id`` series as the Exchange), and production
  frames show the field is the *maker* side too: in a recording of 2026-09-30
  (https://github.com/ziyangliu-666/FastMM, ``tests/fixtures/coinbase/advanced_md_stream.jsonl``) with
  BTC-USD best bid 83277.25 and best ask 83277.26, trades at 83277.25 (the bid) are labelled ``BUY`` and
  trades at 83277.26 ``SELL``; and one taker order sweeping the book (trades 1100253449..1100253455, one
  timestamp) walks *down* from 83284.99 to 83282.89 labelled ``BUY``: resting buys hit by a seller.
  NautilusTrader's Advanced Trade adapter reached the same conclusion ("Coinbase reports the maker side
  on public market trades, so the aggressor is the opposite side",
  https://nautilustrader.io/docs/rust-api-latest/nautilus_coinbase/http/parse/fn.coinbase_side_to_aggressor.html);
  some libraries (ccxt, cryptofeed) pass the field through unchanged, which the recording contradicts.
  So ``BUY`` -> ``"sell"``, ``SELL`` -> ``"buy"``. The fixture ``adv_market_trades_sweep_down`` pins it.

**Timestamps** are ISO-8601 text with 0 to 9 fractional digits (``2024-10-08T09:10:52.425044603Z``,
``2021-05-31T09:59:59.000Z``, ``2026-09-30T02:39:28.17586Z``). :func:`iso8601_to_ns` reads them into
integer epoch **nanoseconds** in integer arithmetic (whole seconds from the calendar fields, the fraction's
digits added as an integer; ``datetime`` would keep only microseconds), so no digit is lost; ``T`` or a
space between date and time, ``Z`` or a ``±HH:MM`` / ``±HHMM`` offset.
Times must lie in [1970-01-01, 2262-04-11] (a signed 64-bit count of ns).

**Prices and sizes** are JSON strings on both feeds and both REST APIs; they become
:class:`~decimal.Decimal` straight from that text. A price or size sent as a JSON number is rejected
rather than read, so no value ever passes through a float. The stored type is ``decimal(38, 18)``: more
than 18 significant fractional digits or more than 20 integer digits is rejected. Trade and level prices
must be > 0; sizes (``"0"`` removes a level) and ticker values >= 0. Integers (sequences, trade ids,
counters) must be JSON integers in [0, 2**63): orjson reads larger ones as floats, which are rejected.

**Identity.** ``trade_id`` is the venue's per-product trade id as text: Advanced Trade sends a string
(``"1100253487"``), the Exchange an integer (``1100253487`` -> ``"1100253487"``), so the same trade seen
on either feed or fetched over REST has the same identity and side.

**REST history** for gap repair (pure request builders and a body parser): :func:`rest_trades_request`
pages the Exchange's public ``GET /products/{product_id}/trades``
(https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-product-trades) by
trade id, newest first (``after=<id>`` returns trades older than ``id``; up to 1000 a page);
:func:`rest_market_trades_request` asks Advanced Trade's public
``GET /api/v3/brokerage/market/products/{product_id}/ticker`` (the public twin of
https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/products/get-market-trades) for a
time window in UNIX seconds. :func:`parse_rest_trades` reads either body.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import orjson

from contracts.instruments import kind_of, split_spot
from contracts.records import BookUpdate, Level, Record, Side, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues.base import ParsedFrame
from streaming.venues.wire import MALFORMED_ERRORS, MAX_INT64, decimal_text, describe, iso8601_ns, json_kind

VENUE = "coinbase"

Feed = Literal["advanced_trade", "exchange"]
"""The two public Coinbase WebSocket feeds."""

ADVANCED_TRADE_WS_URL = "wss://advanced-trade-ws.coinbase.com"
EXCHANGE_WS_URL = "wss://ws-feed.exchange.coinbase.com"
EXCHANGE_REST_URL = "https://api.exchange.coinbase.com"
ADVANCED_TRADE_REST_URL = "https://api.coinbase.com"

ADVANCED_TRADE_CHANNELS: tuple[str, ...] = ("market_trades", "level2", "ticker", "ticker_batch", "heartbeats")
"""Advanced Trade channels :func:`subscribe_message` accepts (``level2`` frames arrive as ``l2_data``)."""

EXCHANGE_CHANNELS: tuple[str, ...] = ("matches", "ticker", "heartbeat")
"""Exchange channels :func:`subscribe_message` accepts."""

REST_PAGE_LIMIT = 1000
"""The largest page either REST trade endpoint returns."""

_FEED_CHANNELS: dict[str, tuple[str, ...]] = {
    "advanced_trade": ADVANCED_TRADE_CHANNELS,
    "exchange": EXCHANGE_CHANNELS,
}

# Taker side from the maker side each source reports (see the module docstring).
_TAKER_FROM_ADVANCED: dict[object, Side] = {"BUY": "sell", "SELL": "buy"}
_TAKER_FROM_EXCHANGE: dict[object, Side] = {"buy": "sell", "sell": "buy"}
_UNKNOWN_SIDES = ("", "UNKNOWN_ORDER_SIDE")  # Advanced Trade REST only

_SPOT = re.compile(r"([A-Z0-9]{1,20})-([A-Z0-9]{1,20})")
_INTX_PERP = re.compile(r"([A-Z0-9]{1,20})-PERP-INTX")
_TRADE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


# --- symbol mapping ----------------------------------------------------------------------------


def to_instrument(symbol: str) -> str:
    """The canonical instrument of a Coinbase product id.

    Spot products are already ``BASE-QUOTE`` and keep their name (``BTC-USD`` and ``BTC-USDC`` stay
    apart). Coinbase International perpetuals listed on Advanced Trade, ``<BASE>-PERP-INTX``, are
    USDC-margined and become ``<BASE>-USDC-PERP``.

    Args:
        symbol: A product id as Coinbase sends it, e.g. ``"BTC-USD"`` or ``"ETH-PERP-INTX"``.

    Returns:
        The canonical name, e.g. ``"BTC-USD"`` or ``"ETH-USDC-PERP"``.

    Raises:
        ParseError: Not an upper-case spot product or INTX perpetual (dated and US futures such as
            ``BIT-28JUN24-CDE`` are not supported).
    """
    return _instrument_of(symbol)


@functools.lru_cache(maxsize=4096)
def _instrument_of(symbol: str) -> str:
    if type(symbol) is not str:
        raise ParseError(f"product id is {describe(symbol)}, not a string")
    if _INTX_PERP.fullmatch(symbol):
        return f"{symbol[: -len('-PERP-INTX')]}-USDC-PERP"
    if _SPOT.fullmatch(symbol):
        return symbol
    raise ParseError(
        f"product id {symbol[:40]!r} is neither a spot product like 'BTC-USD' "
        "nor an INTX perpetual like 'BTC-PERP-INTX'"
    )


def to_symbol(instrument: str) -> str:
    """The Coinbase product id of a canonical instrument.

    Args:
        instrument: A canonical spot or perpetual instrument, e.g. ``"BTC-USD"`` or ``"BTC-USDC-PERP"``.

    Returns:
        The product id, e.g. ``"BTC-USD"`` or ``"BTC-PERP-INTX"``.

    Raises:
        ValueError: The name is not canonical, or names something Coinbase does not list in this form
            (a perpetual not quoted in USDC, a dated future, a prediction contract).
    """
    kind = kind_of(instrument)
    if kind == "spot":
        base, quote = split_spot(instrument)
        symbol = f"{base}-{quote}"
    elif kind == "perpetual" and instrument.endswith("-USDC-PERP"):
        symbol = f"{instrument[: -len('-USDC-PERP')]}-PERP-INTX"
    else:
        raise ValueError(f"{instrument!r} has no Coinbase product id here: spot pairs and USDC perpetuals only")
    try:
        back = _instrument_of(symbol)
    except ParseError as error:
        raise ValueError(f"{instrument!r} cannot be traded on Coinbase here: {error}") from None
    if back != instrument:
        raise ValueError(f"{instrument!r} maps to product {symbol!r}, which reads back as {back!r}")
    return symbol


# --- subscriptions -----------------------------------------------------------------------------


def subscribe_message(
    instruments: Sequence[str], channel: str, *, feed: Feed = "advanced_trade", jwt: str | None = None
) -> str:
    """The request subscribing instruments to one channel.

    Args:
        instruments: Canonical instruments, e.g. ``["BTC-USD", "ETH-USD"]``; may be empty only for the
            Advanced Trade ``heartbeats`` channel.
        channel: For ``feed="advanced_trade"`` one of :data:`ADVANCED_TRADE_CHANNELS`; for
            ``feed="exchange"`` one of :data:`EXCHANGE_CHANNELS`.
        feed: Which WebSocket feed the request is for.
        jwt: An Advanced Trade CDP JWT (optional for public channels; Coinbase recommends one for the most
            reliable connection). Not allowed with the Exchange feed.

    Returns:
        The JSON text, e.g. ``{"type":"subscribe","product_ids":["BTC-USD"],"channel":"market_trades"}``
        or ``{"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches"]}``.

    Raises:
        ValueError: Unknown feed or channel, no instruments where some are needed, a JWT for the Exchange
            feed, or an instrument :func:`to_symbol` rejects.
    """
    return _request("subscribe", instruments, channel, feed, jwt)


def unsubscribe_message(
    instruments: Sequence[str], channel: str, *, feed: Feed = "advanced_trade", jwt: str | None = None
) -> str:
    """The request unsubscribing instruments from one channel.

    Args:
        instruments: Canonical instruments, as for :func:`subscribe_message`.
        channel: The channel, as for :func:`subscribe_message`.
        feed: Which WebSocket feed the request is for.
        jwt: An Advanced Trade CDP JWT, as for :func:`subscribe_message`.

    Returns:
        The JSON text, e.g. ``{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"level2"}``.

    Raises:
        ValueError: As for :func:`subscribe_message`.
    """
    return _request("unsubscribe", instruments, channel, feed, jwt)


def _request(action: str, instruments: Sequence[str], channel: str, feed: str, jwt: str | None) -> str:
    channels = _FEED_CHANNELS.get(feed)
    if channels is None:
        raise ValueError(f"unknown Coinbase feed {feed!r}; expected one of {tuple(_FEED_CHANNELS)}")
    if channel not in channels:
        raise ValueError(f"unknown {feed} channel {channel!r}; expected one of {channels}")
    if isinstance(instruments, str):
        raise ValueError("instruments must be a sequence of names, not one string")
    products = [to_symbol(instrument) for instrument in instruments]
    body: dict[str, Any] = {"type": action}
    if feed == "exchange":
        if jwt is not None:
            raise ValueError("the Exchange feed takes no JWT")
        if not products:
            raise ValueError(f"exchange channel {channel!r} needs at least one instrument")
        body["product_ids"] = products
        body["channels"] = [channel]
    else:
        if products:
            body["product_ids"] = products
        elif channel != "heartbeats":
            raise ValueError(f"advanced trade channel {channel!r} needs at least one instrument")
        body["channel"] = channel
        if jwt is not None:
            body["jwt"] = jwt
    return json.dumps(body, separators=(",", ":"))


# --- sequences ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FrameSequence:
    """The sequence information of one frame, for a gap detector.

    Attributes:
        scope: What the sequence counts: ``"connection"`` for Advanced Trade (``sequence_num`` counts
            every frame of one connection, all channels and control frames included, from 0), or the
            product id for the Exchange (``sequence`` per product).
        sequence: The number.
        contiguous: Whether each frame of the scope is exactly one more than the previous (Advanced
            Trade: yes, a jump is a loss; Exchange ``matches``/``ticker``/``heartbeat``: no, the number is
            shared with the full order feed and only increases).
        trade_id: Exchange only: the product's latest trade id the frame shows (a match's own id, a
            heartbeat's ``last_trade_id``, a ticker's ``trade_id``). Trade ids of a product are
            contiguous, so a match whose id is more than one past the last seen, or a heartbeat whose
            ``last_trade_id`` is past it, means trades were missed: repair them with
            :func:`rest_trades_request`.
    """

    scope: str
    sequence: int
    contiguous: bool
    trade_id: int | None = None


def sequence_of(raw: bytes | str) -> FrameSequence | None:
    """The sequence information of a frame, data or control.

    Call it on every frame (control frames count in Advanced Trade's ``sequence_num``), typically after
    :func:`parse` accepted it.

    Args:
        raw: The frame exactly as received.

    Returns:
        The frame's :class:`FrameSequence`, or ``None`` for frames without one (errors, Exchange
        ``subscriptions`` acks).

    Raises:
        ParseError: The frame is not a JSON object, or its sequence fields are ill-typed. No other
            exception escapes.
    """
    try:
        message = orjson.loads(raw)
        if type(message) is not dict:
            raise ParseError(f"frame is a JSON {json_kind(message)}, not an object")
        if "channel" in message:
            return FrameSequence(scope="connection", sequence=_int(message, "sequence_num"), contiguous=True)
        if message.get("type") in ("match", "last_match", "ticker", "heartbeat"):
            product = message.get("product_id")
            if type(product) is not str:
                raise ParseError(f"'product_id' is {describe(product)}, not a string")
            key = "last_trade_id" if message["type"] == "heartbeat" else "trade_id"
            trade_id = _int(message, key) if message.get(key) is not None else None
            return FrameSequence(scope=product, sequence=_int(message, "sequence"), contiguous=False, trade_id=trade_id)
        return None
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("frame is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {error}") from None


# --- parsing -----------------------------------------------------------------------------------


def parse(raw: bytes | str, received_at: int) -> ParsedFrame:
    """Parse one Coinbase frame of either feed.

    Args:
        raw: The frame exactly as received (UTF-8 bytes or text).
        received_at: When our socket received it, epoch nanoseconds; becomes every record's ``ts_recv``.

    Returns:
        For data frames, the channel (``"market_trades"``, ``"l2_data"``, ``"ticker"``,
        ``"ticker_batch"`` on Advanced Trade; ``"matches"``, ``"ticker"`` on the Exchange) and the
        :class:`~contracts.records.Trade`, :class:`~contracts.records.BookUpdate` or
        :class:`~contracts.records.Ticker` records it carried, in wire order. For control frames no
        records and ``control``: ``"heartbeat"`` (channel ``"heartbeats"`` / ``"heartbeat"``), ``"ack"``
        (channel ``"subscriptions"``) or ``"error"`` (channel ``""``).

    Raises:
        ParseError: The frame is not valid JSON, not an object, of an unknown channel or message type, or
            not well formed. No other exception escapes.
    """
    try:
        message = orjson.loads(raw)
        if type(message) is not dict:
            raise ParseError(f"frame is a JSON {json_kind(message)}, not an object")
        channel = message.get("channel")
        if channel is not None:
            return _advanced(message, channel, received_at)
        kind = message.get("type")
        if kind is not None:
            return _exchange(message, kind, received_at)
        raise ParseError(f"object with keys {sorted(message)[:10]} has neither 'channel' nor 'type'")
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("frame is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable frame: {type(error).__name__}: {error}") from None


def _advanced(message: dict[str, Any], channel: object, received_at: int) -> ParsedFrame:
    if type(channel) is not str:
        raise ParseError(f"'channel' is {describe(channel)}, not a string")
    sequence = _int(message, "sequence_num")
    sent = iso8601_ns(message.get("timestamp"), "timestamp")
    events = message.get("events")
    if type(events) is not list:
        raise ParseError(f"'events' is {describe(events)}, not an array")
    records: list[Record] = []
    if channel == "market_trades":
        for event in events:
            for item in _list(_event(event), "trades"):
                records.append(_advanced_trade(_object(item, "trade"), received_at))
    elif channel == "l2_data":
        for event in events:
            records.append(_book(_event(event), sent, received_at))
    elif channel == "ticker" or channel == "ticker_batch":
        for event in events:
            for item in _list(_event(event), "tickers"):
                records.append(_advanced_ticker(_object(item, "ticker"), sequence, sent, received_at))
    elif channel == "heartbeats":
        for event in events:
            _heartbeat_event(_object(event, "event"))
        return ParsedFrame(channel=channel, control="heartbeat")
    elif channel == "subscriptions":
        for event in events:
            _subscriptions_event(_object(event, "event"))
        return ParsedFrame(channel=channel, control="ack")
    else:
        raise ParseError(f"unsupported Advanced Trade channel {channel[:40]!r}")
    return ParsedFrame(channel=channel, records=tuple(records))


def _event(event: object) -> dict[str, Any]:
    data = _object(event, "event")
    kind = data.get("type")
    if kind != "snapshot" and kind != "update":
        raise ParseError(f"event 'type' is {describe(kind)}, not 'snapshot' or 'update'")
    return data


def _advanced_trade(item: dict[str, Any], received_at: int) -> Trade:
    symbol, instrument = _product(item)
    side = _TAKER_FROM_ADVANCED.get(item.get("side"))
    if side is None:
        raise ParseError(f"trade 'side' is {describe(item.get('side'))}, not 'BUY' or 'SELL'")
    return Trade(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        trade_id=_trade_id(item.get("trade_id")),
        price=_price(item, "price"),
        size=decimal_text(item.get("size"), "size"),
        side=side,
        ts_event=iso8601_ns(item.get("time"), "time"),
        ts_recv=received_at,
    )


def _book(event: dict[str, Any], sent: int, received_at: int) -> BookUpdate:
    """One ``l2_data`` event as a book update, without a sequence (see the module docstring)."""
    symbol, instrument = _product(event)
    bids: list[Level] = []
    asks: list[Level] = []
    latest = 0
    seen: object = None  # the updates of one event usually share one event_time text: read it once
    for entry in _list(event, "updates"):
        update = _object(entry, "update")
        side = update.get("side")
        level = Level(
            price=_price(update, "price_level"), size=decimal_text(update.get("new_quantity"), "new_quantity")
        )
        if side == "bid":
            bids.append(level)
        elif side == "offer":
            asks.append(level)
        else:
            raise ParseError(f"update 'side' is {describe(side)}, not 'bid' or 'offer'")
        text = update.get("event_time")
        if text != seen or type(text) is not str:
            event_time = iso8601_ns(update.get("event_time"), "event_time")
            seen = text
            if event_time > latest:
                latest = event_time
    return BookUpdate(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        kind="snapshot" if event["type"] == "snapshot" else "delta",
        bids=tuple(bids),
        asks=tuple(asks),
        ts_event=latest or sent,
        ts_recv=received_at,
    )


def _advanced_ticker(item: dict[str, Any], sequence: int, sent: int, received_at: int) -> Ticker:
    kind = item.get("type", "ticker")
    if kind != "ticker":
        raise ParseError(f"ticker 'type' is {describe(kind)}, not 'ticker'")
    symbol, instrument = _product(item)
    return Ticker(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        ts_event=sent,
        ts_recv=received_at,
        best_bid=_optional_decimal(item, "best_bid"),
        best_bid_size=_optional_decimal(item, "best_bid_quantity"),
        best_ask=_optional_decimal(item, "best_ask"),
        best_ask_size=_optional_decimal(item, "best_ask_quantity"),
        last_price=_optional_decimal(item, "price"),
        volume_24h=_optional_decimal(item, "volume_24_h"),
        sequence=sequence,
    )


def _heartbeat_event(event: dict[str, Any]) -> None:
    counter = event.get("heartbeat_counter")
    if type(counter) is int:
        _int(event, "heartbeat_counter")
    elif not (type(counter) is str and counter.isascii() and counter.isdigit() and len(counter) <= 19):
        raise ParseError(f"'heartbeat_counter' is {describe(counter)}, not an integer")
    current = event.get("current_time")
    if current is not None and type(current) is not str:
        raise ParseError(f"'current_time' is {describe(current)}, not a string")


def _subscriptions_event(event: dict[str, Any]) -> None:
    subscriptions = event.get("subscriptions")
    if type(subscriptions) is not dict:
        raise ParseError(f"'subscriptions' is {describe(subscriptions)}, not an object")
    for name, products in subscriptions.items():
        if type(products) is not list or any(type(product) is not str for product in products):
            raise ParseError(f"subscriptions of {name[:40]!r} are {describe(products)}, not an array of strings")


def _exchange(message: dict[str, Any], kind: object, received_at: int) -> ParsedFrame:
    if kind == "match" or kind == "last_match":
        return ParsedFrame(channel="matches", records=(_match(message, received_at),))
    if kind == "ticker":
        return ParsedFrame(channel="ticker", records=(_exchange_ticker(message, received_at),))
    if kind == "heartbeat":
        _product(message)
        _int(message, "sequence")
        _int(message, "last_trade_id")
        iso8601_ns(message.get("time"), "time")
        return ParsedFrame(channel="heartbeat", control="heartbeat")
    if kind == "subscriptions":
        for entry in _list(message, "channels"):
            subscription = _object(entry, "channel")
            name = subscription.get("name")
            products = subscription.get("product_ids")
            if type(name) is not str:
                raise ParseError(f"subscribed channel 'name' is {describe(name)}, not a string")
            if type(products) is not list or any(type(product) is not str for product in products):
                raise ParseError(f"'product_ids' of {name[:40]!r} are {describe(products)}, not an array of strings")
        return ParsedFrame(channel="subscriptions", control="ack")
    if kind == "error":
        text = message.get("message")
        if type(text) is not str:
            raise ParseError(f"error frame 'message' is {describe(text)}, not a string")
        return ParsedFrame(channel="", control="error")
    if type(kind) is str:
        raise ParseError(f"unsupported Coinbase message type {kind[:40]!r}")
    raise ParseError(f"'type' is {describe(kind)}, not a string")


def _match(message: dict[str, Any], received_at: int) -> Trade:
    symbol, instrument = _product(message)
    side = _TAKER_FROM_EXCHANGE.get(message.get("side"))
    if side is None:
        raise ParseError(f"match 'side' is {describe(message.get('side'))}, not 'buy' or 'sell'")
    _int(message, "sequence")
    for key in ("maker_order_id", "taker_order_id"):
        if key in message and type(message[key]) is not str:
            raise ParseError(f"{key!r} is {describe(message[key])}, not a string")
    return Trade(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        trade_id=str(_int(message, "trade_id")),
        price=_price(message, "price"),
        size=decimal_text(message.get("size"), "size"),
        side=side,
        ts_event=iso8601_ns(message.get("time"), "time"),
        ts_recv=received_at,
    )


def _exchange_ticker(message: dict[str, Any], received_at: int) -> Ticker:
    symbol, instrument = _product(message)
    if message.get("trade_id") is not None:
        _int(message, "trade_id")
    return Ticker(
        venue=VENUE,
        instrument=instrument,
        symbol=symbol,
        ts_event=iso8601_ns(message.get("time"), "time") if message.get("time") is not None else received_at,
        ts_recv=received_at,
        best_bid=_optional_decimal(message, "best_bid"),
        best_bid_size=_optional_decimal(message, "best_bid_size"),
        best_ask=_optional_decimal(message, "best_ask"),
        best_ask_size=_optional_decimal(message, "best_ask_size"),
        last_price=_optional_decimal(message, "price"),
        volume_24h=_optional_decimal(message, "volume_24h"),
        sequence=_int(message, "sequence"),
    )


# --- REST history ------------------------------------------------------------------------------


def rest_trades_request(
    instrument: str, *, older_than: int | None = None, limit: int = REST_PAGE_LIMIT
) -> tuple[str, dict[str, str]]:
    """The Exchange REST request for a page of an instrument's trades, paged by trade id.

    ``GET {EXCHANGE_REST_URL}{path}?{params}`` (public, no key). The page lists trades newest first. To
    repair a gap of trade ids ``(a, b)`` (exclusive), ask with ``older_than=b``, then again with
    ``older_than`` = the smallest id received, until an id <= ``a`` arrives.

    Args:
        instrument: A canonical spot instrument, e.g. ``"BTC-USD"``.
        older_than: Only trades with smaller ids (Coinbase's ``after`` cursor); ``None`` for the latest.
        limit: Trades per page, 1 to :data:`REST_PAGE_LIMIT`.

    Returns:
        The path and the query parameters, e.g. ``("/products/BTC-USD/trades", {"limit": "1000",
        "after": "1100253455"})``.

    Raises:
        ValueError: Not a spot instrument Coinbase lists this way, or a limit or cursor out of range.
    """
    if kind_of(instrument) != "spot":
        raise ValueError(f"{instrument!r}: Exchange REST trades are for spot products only")
    params = {"limit": str(_limit(limit))}
    if older_than is not None:
        if type(older_than) is not int or not 0 < older_than <= MAX_INT64:
            raise ValueError(f"older_than must be a positive trade id, not {older_than!r}")
        params["after"] = str(older_than)
    return f"/products/{to_symbol(instrument)}/trades", params


def rest_market_trades_request(
    instrument: str, *, start_ns: int, end_ns: int, limit: int = REST_PAGE_LIMIT
) -> tuple[str, dict[str, str]]:
    """The Advanced Trade public REST request for an instrument's trades in a time window.

    ``GET {ADVANCED_TRADE_REST_URL}{path}?{params}`` (public). The window is given to Coinbase in whole
    UNIX seconds, widened outward (start rounded down, end rounded up) so no trade of the window is left
    out; the caller drops trades outside its own window. At most ``limit`` trades return (the latest
    ones), so a busy window is split and asked again.

    Args:
        instrument: A canonical instrument, e.g. ``"BTC-USD"`` or ``"BTC-USDC-PERP"``.
        start_ns: Window start, epoch ns.
        end_ns: Window end, epoch ns (>= ``start_ns``).
        limit: Trades to return, 1 to :data:`REST_PAGE_LIMIT`.

    Returns:
        The path and the query parameters, e.g. ``("/api/v3/brokerage/market/products/BTC-USD/ticker",
        {"limit": "1000", "start": "1790735993", "end": "1790735994"})``.

    Raises:
        ValueError: An instrument :func:`to_symbol` rejects, an empty or negative window, or a limit out
            of range.
    """
    if type(start_ns) is not int or type(end_ns) is not int or not 0 <= start_ns <= end_ns <= MAX_INT64:
        raise ValueError(f"need 0 <= start_ns <= end_ns < 2**63, got {start_ns!r}, {end_ns!r}")
    start = start_ns // 1_000_000_000
    end = -(-end_ns // 1_000_000_000)
    params = {"limit": str(_limit(limit)), "start": str(start), "end": str(end)}
    return f"/api/v3/brokerage/market/products/{to_symbol(instrument)}/ticker", params


def _limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= REST_PAGE_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {REST_PAGE_LIMIT}, not {limit!r}")
    return limit


def parse_rest_trades(body: bytes, received_at: int, instrument: str) -> list[Trade]:
    """Parse a REST trades body from either endpoint into trades with the WebSocket identity and side.

    An Exchange body is a JSON array of ``{"time", "trade_id": int, "price", "size", "side"}`` (maker
    side, as on ``matches``); an Advanced Trade body is ``{"trades": [{"trade_id", "product_id", "price",
    "size", "time", "side"}], "best_bid", "best_ask"}`` (maker side, as on ``market_trades``; an empty or
    ``UNKNOWN_ORDER_SIDE`` side becomes ``"unknown"``). Trades keep the body's order (newest first).

    Args:
        body: The response body.
        received_at: When the response arrived, epoch ns; becomes ``ts_recv``.
        instrument: The canonical instrument that was asked for.

    Returns:
        The trades, possibly none.

    Raises:
        ParseError: The body is an error reply (``{"message": ...}`` or ``{"error": ...}``), not valid
            JSON, not one of the two shapes, a trade is malformed, or an Advanced Trade trade names
            another product. No other exception escapes.
    """
    try:
        symbol = to_symbol(instrument)
    except ValueError as error:
        raise ParseError(f"cannot repair {instrument!r} from Coinbase REST: {error}") from None
    try:
        data = orjson.loads(body)
        if type(data) is list:
            return [_rest_exchange_trade(_object(item, "trade"), symbol, received_at) for item in data]
        if type(data) is dict:
            if "trades" not in data:
                reason = data.get("message", data.get("error"))
                raise ParseError(f"REST reply is not a trade list: {str(reason)[:200]!r}")
            return [_rest_advanced_trade(_object(item, "trade"), symbol, received_at) for item in _list(data, "trades")]
        raise ParseError(f"REST body is a JSON {json_kind(data)}, not an array or object")
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("REST body is nested too deeply") from None
    except MALFORMED_ERRORS as error:
        raise ParseError(f"unparseable REST body: {type(error).__name__}: {error}") from None


def _rest_exchange_trade(item: dict[str, Any], symbol: str, received_at: int) -> Trade:
    side = _TAKER_FROM_EXCHANGE.get(item.get("side"))
    if side is None:
        raise ParseError(f"trade 'side' is {describe(item.get('side'))}, not 'buy' or 'sell'")
    return Trade(
        venue=VENUE,
        instrument=_instrument_of(symbol),
        symbol=symbol,
        trade_id=str(_int(item, "trade_id")),
        price=_price(item, "price"),
        size=decimal_text(item.get("size"), "size"),
        side=side,
        ts_event=iso8601_ns(item.get("time"), "time"),
        ts_recv=received_at,
    )


def _rest_advanced_trade(item: dict[str, Any], symbol: str, received_at: int) -> Trade:
    product = item.get("product_id", symbol)
    if product != symbol:
        raise ParseError(f"trade of product {describe(product)} in a reply for {symbol!r}")
    raw_side = item.get("side")
    side: Side | None = "unknown" if raw_side in _UNKNOWN_SIDES else _TAKER_FROM_ADVANCED.get(raw_side)
    if side is None:
        raise ParseError(f"trade 'side' is {describe(raw_side)}, not 'BUY', 'SELL' or unknown")
    return Trade(
        venue=VENUE,
        instrument=_instrument_of(symbol),
        symbol=symbol,
        trade_id=_trade_id(item.get("trade_id")),
        price=_price(item, "price"),
        size=decimal_text(item.get("size"), "size"),
        side=side,
        ts_event=iso8601_ns(item.get("time"), "time"),
        ts_recv=received_at,
    )


# --- field readers -----------------------------------------------------------------------------


def iso8601_to_ns(text: str) -> int:
    """Read an ISO-8601 UTC timestamp into integer epoch nanoseconds, keeping all 9 fractional digits.

    Coinbase's profile of :func:`streaming.venues.wire.iso8601_ns`.

    Args:
        text: ``YYYY-MM-DD`` ``T`` (or a space) ``HH:MM:SS``, an optional ``.`` or ``,`` and 1 to 9
            fractional digits, then ``Z`` or an offset ``±HH:MM`` / ``±HHMM``, e.g.
            ``"2024-10-08T09:10:52.425044603Z"`` or ``"2026-01-01T01:00:00.5+01:00"``.

    Returns:
        Nanoseconds since 1970-01-01T00:00:00Z.

    Raises:
        ParseError: Not of that form, not a real date or time of day (no leap second), or outside
            [1970-01-01, 2262-04-11T23:47:16.854775807Z].
    """
    return iso8601_ns(text)


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int:
        raise ParseError(f"{key!r} is {describe(value)}, not an integer")
    if not 0 <= value <= MAX_INT64:
        raise ParseError(f"{key!r} is out of range [0, 2**63): {value}")
    return value


def _product(data: dict[str, Any]) -> tuple[str, str]:
    """The product id of a message and its canonical instrument."""
    symbol = data.get("product_id")
    if type(symbol) is not str:
        raise ParseError(f"'product_id' is {describe(symbol)}, not a string")
    return symbol, _instrument_of(symbol)


def _trade_id(value: object) -> str:
    if type(value) is not str or _TRADE_ID.fullmatch(value) is None:
        raise ParseError(f"'trade_id' is {describe(value)}, not a string of 1 to 64 of [A-Za-z0-9._:-]")
    return value


def _object(value: object, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise ParseError(f"{what} is {describe(value)}, not an object")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if type(value) is not list:
        raise ParseError(f"{key!r} is {describe(value)}, not an array")
    return value


def _price(data: dict[str, Any], key: str) -> Decimal:
    value = decimal_text(data.get(key), key)
    if not value:
        raise ParseError(f"{key!r} is zero: {data[key]!r}")
    return value


def _optional_decimal(data: dict[str, Any], key: str) -> Decimal | None:
    text = data.get(key)
    if text is None or text == "":
        return None
    return decimal_text(text, key)
