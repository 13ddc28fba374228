"""Render simulated trades, books and tickers exactly as Kraken Futures (WebSocket v1, REST history) sends them.

Pure functions, no I/O and no clock (times are arguments). The shapes follow :mod:`streaming.venues.krakenfutures`
(which cites the Kraken Futures documentation, https://docs.kraken.com/api/docs/futures-api/websocket/trade,
``.../websocket/book``, ``.../websocket/ticker``, ``.../websocket/heartbeat``, and "Get public execution events",
https://docs.kraken.com/api/docs/futures-api/history/get-public-execution-events) and the captured frames in
``tests/fixtures/krakenfutures/``:

* **Trade** (the live message and every element of a ``trade_snapshot``): ``{"feed":"trade","product_id":
  "PF_XBTUSD","uid":...,"side":"buy"|"sell","type":"fill","seq":...,"time":<ms>,"qty":<number>,
  "price":<number>}``. ``side`` is the taker side (as the venue documents it). Prices and sizes are JSON
  *numbers*, written the way the venue writes them (``83999.0``, ``0.0001``: trailing zeros dropped, at
  least one fractional digit): :func:`wire_number`. A snapshot lists its trades newest first.
* **Identity.** ``uid`` is a UUID (version-4 layout) derived deterministically from the instrument and the
  simulated trade id (:func:`uid_of`), so the socket and the REST history carry the same id for a trade.
* **Sequence.** ``seq`` is a per-product counter of the trade feed, venue-wide (every connection sees the same
  number for a trade, the snapshot's trades keep theirs): the simulated trade id itself (:func:`seq_of`),
  consecutive per instrument; a trade the wire loses still uses its number.
* **Book** (``book`` feed): ``{"feed":"book_snapshot","product_id":...,"timestamp":<ms>,"seq":...,
  "tickSize":null,"bids":[{"price":..,"qty":..}],"asks":[...]}`` (bids best first, asks best first, as in the
  documentation's example and the captures) once per subscription, then one ``{"feed":"book","product_id":...,
  "side":"buy"|"sell","seq":...,"price":..,"qty":..,"timestamp":<ms>}`` per changed level, ``qty`` being the
  level's new size (``0.0`` removes it; the captures show ``"qty":0.0``). The book ``seq`` is a per-product
  counter of the book feed, venue-wide like the trade ``seq``: every level change takes the next number, the
  snapshot carries the number of the latest change in it, so the first ``book`` message after it has the
  snapshot's ``seq + 1`` (:func:`book_changes` orders one trade's changes: removals first, so that a book
  applied message by message never crosses). The first number is drawn from the seed (:func:`first_book_seq`,
  of the magnitude the captures show). The venue sends no book checksum.
* **Ticker** (``ticker`` feed): the fields of the 2026 ``PF_XBTUSD`` capture, in its order
  (:func:`ticker_message`): ``time``, ``product_id``, the funding fields of a perpetual (``funding_rate``,
  ``funding_rate_prediction``, ``relative_funding_rate``, ``relative_funding_rate_prediction``,
  ``next_funding_rate_time``; a zero rate is not sent, as the documentation says of every funding field),
  ``leverage``, ``premium``, ``feed``, ``bid``/``ask``/``bid_size``/``ask_size``, ``volume``, ``dtm``,
  ``index``, ``last`` (``null`` before the first trade), ``change``, ``suspended``, ``tag``, ``pair``,
  ``openInterest``, ``markPrice``, ``maturityTime``, ``post_only``, ``volumeQuote``. The values are the
  simulator's own (:func:`ticker_fields` documents how each is derived).
* **Control frames**: ``{"event":"info","version":1}`` on connect; ``subscribed`` / ``unsubscribed`` /
  ``subscribed_failed`` / ``unsubscribed_failed`` with ``feed`` and ``product_ids`` (none for ``heartbeat``);
  ``{"event":"error","message":...}``; ``{"event":"alert","message":...}``; ``{"feed":"heartbeat","time":...}``.
* **REST executions**: ``{"len":n,"elements":[...],"continuationToken":...}``, each element
  ``{"uid","timestamp","event":{"Execution":{"execution":{"uid","makerOrder","takerOrder","timestamp",
  "quantity","price","markPrice","limitFilled","usdValue"},"takerReducedQuantity":""}}}`` with decimal
  *strings* and ``takerOrder.direction`` ``"Buy"``/``"Sell"`` (the taker's side). The continuation token is
  base64 of ``"<timestamp>/<seq>"`` of the last element listed (the shape of the token in the constructed
  fixture); errors are ``{"status":"NOT_FOUND","result":"error","errors":[{"code":0,"message":"404
  NOT_FOUND"}],"serverTime":...}`` as captured.

Trade, book and ticker frames are built with string formatting rather than a JSON encoder: every interpolated
value is an integer, a number literal, a UUID, a side, a fixed word, or a product id (letters, digits and
``_``), none of which needs escaping.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import functools
import hashlib
import json
import random
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Literal

from streaming.simulator.books import BookDiff, text
from streaming.simulator.market import PRICE_DECIMALS, SimTrade
from streaming.venues import krakenfutures
from streaming.venues.wire import NS_PER_MILLISECOND

BookSide = Literal["buy", "sell"]
"""A book level's side on the wire: ``buy`` (a bid) or ``sell`` (an ask)."""

Level = tuple[int, int]
"""``(price, size)`` in integer units of 1e-8 (the simulated book's units)."""

FUNDING_PERIOD_MS = 3_600_000
"""Kraken Futures perpetuals fund every hour."""

VOLUME_WINDOW_MS = 86_400_000
"""``volume`` and ``change`` cover the last 24 hours."""

LEVERAGE = "50x"
"""The ``leverage`` the simulated tickers show (the captures show ``"50x"`` and ``"100x"``)."""

MATURITY_HOUR_UTC = 16
"""The hour (UTC) at which a simulated fixed-maturity future expires on its expiry date."""

_USD_CENT = Decimal("0.01")
_INVERSE_PREFIXES = ("PI_", "FI_")
_UNIT = Decimal(10**PRICE_DECIMALS)
_QUOTE_UNIT = Decimal(10 ** (2 * PRICE_DECIMALS))
_FIRST_BOOK_SEQ = 100_000_000
_BOOK_SEQ_SPREAD = 300_000_000
_WIDE = Context(prec=60)
_PREMIUM_QUANTUM = Decimal("0.1")
_RELATIVE_QUANTUM = Decimal("1E-12")
_CHANGE_QUANTUM = Decimal("1E-10")
_INVERSE_FUNDING_QUANTUM = Decimal("1E-18")
_HUNDRED = Decimal(100)
_PERIODS_PER_DAY = Decimal(24)


@functools.lru_cache(maxsize=1024)
def product_id_of(instrument: str) -> str:
    """The Kraken Futures product id of a canonical instrument (``"BTC-USD-PERP"`` -> ``"PF_XBTUSD"``)."""
    return krakenfutures.to_symbol(instrument)


@functools.lru_cache(maxsize=1 << 16)
def _uuid(role: str, instrument: str, trade_id: int) -> str:
    digest = hashlib.sha256(f"ticklake-simulator/krakenfutures/{role}/{instrument}/{trade_id}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def uid_of(trade: SimTrade) -> str:
    """The trade's ``uid`` ("unique identifier for the matched trade"), the same on the socket and over REST."""
    return _uuid("execution", trade.instrument, trade.trade_id)


def seq_of(trade: SimTrade) -> int:
    """The trade's ``seq``: the per-product trade-feed counter (consecutive per instrument)."""
    return trade.trade_id


@functools.lru_cache(maxsize=1 << 16)
def wire_number(text: str) -> str:
    """A decimal text as the venue writes the number: no trailing zeros, at least one fractional digit.

    Args:
        text: Decimal text, e.g. ``"65000.10000000"`` or ``"0.00020000"``.

    Returns:
        The JSON number literal, e.g. ``"65000.1"``, ``"65000.0"`` or ``"0.0002"`` (never in exponent form).
    """
    rendered = format(Decimal(text).normalize(), "f")
    return rendered if "." in rendered else f"{rendered}.0"


def trade_message(trade: SimTrade) -> str:
    """The ``trade`` message of one trade (also the form of each element of a snapshot)."""
    return (
        f'{{"feed":"trade","product_id":"{product_id_of(trade.instrument)}","uid":"{uid_of(trade)}",'
        f'"side":"{trade.side}","type":"fill","seq":{seq_of(trade)},"time":{trade.ts_ms},'
        f'"qty":{wire_number(trade.size_text)},"price":{wire_number(trade.price_text)}}}'
    )


def snapshot_message(product_id: str, trades: Sequence[SimTrade]) -> str:
    """The ``trade_snapshot`` sent after a subscription.

    Args:
        product_id: The product id, e.g. ``"PF_XBTUSD"``.
        trades: The recent trades of that product, oldest first (they are listed newest first).

    Returns:
        The JSON text.
    """
    items = ",".join(trade_message(trade) for trade in reversed(trades))
    return f'{{"feed":"trade_snapshot","product_id":"{product_id}","trades":[{items}]}}'


def _dumps(document: object) -> str:
    return json.dumps(document, separators=(",", ":"))


def info_message() -> str:
    """The frame the venue sends on every new connection."""
    return _dumps({"event": "info", "version": 1})


def event_message(event: str, feed: str, product_ids: Sequence[str] | None = None) -> str:
    """A subscription answer: ``subscribed``, ``unsubscribed``, ``subscribed_failed`` or ``unsubscribed_failed``.

    Args:
        event: The event name.
        feed: The feed, e.g. ``"trade"`` or ``"heartbeat"``.
        product_ids: The product ids concerned; ``None`` for a feed without products (``heartbeat``).

    Returns:
        The JSON text, e.g. ``{"event":"subscribed","feed":"trade","product_ids":["PF_XBTUSD"]}``.
    """
    document: dict[str, Any] = {"event": event, "feed": feed}
    if product_ids is not None:
        document["product_ids"] = list(product_ids)
    return _dumps(document)


def error_message(message: str) -> str:
    """An ``error`` event, e.g. ``{"event":"error","message":"Json Error"}``."""
    return _dumps({"event": "error", "message": message})


def alert_message(message: str) -> str:
    """An ``alert`` event, e.g. ``{"event":"alert","message":"Couldn't subscribe to invalid feed"}``."""
    return _dumps({"event": "alert", "message": message})


def heartbeat_message(time_ms: int) -> str:
    """A message of the ``heartbeat`` feed at a server time (epoch ms)."""
    return f'{{"feed":"heartbeat","time":{time_ms}}}'


def truth_ts_event(trade: SimTrade) -> int:
    """The event time the parser reads from the trade's ``time``, epoch ns."""
    return trade.ts_ms * NS_PER_MILLISECOND


# --- REST market history -----------------------------------------------------------------------


def _usd_value(product_id: str, price: str, quantity: str) -> str:
    if product_id.startswith(_INVERSE_PREFIXES):
        return quantity  # an inverse contract is one USD
    return format((Decimal(price) * Decimal(quantity)).quantize(_USD_CENT), "f")


def rest_element(trade: SimTrade) -> dict[str, Any]:
    """One element of the public-execution-events answer for a trade."""
    product_id = product_id_of(trade.instrument)
    price = wire_number(trade.price_text)
    quantity = wire_number(trade.size_text)
    taker_buys = trade.side == "buy"

    def order(role: str, direction: str, order_type: str) -> dict[str, Any]:
        return {
            "uid": _uuid(role, trade.instrument, trade.trade_id),
            "tradeable": product_id,
            "direction": direction,
            "quantity": quantity,
            "timestamp": trade.ts_ms,
            "limitPrice": price,
            "orderType": order_type,
            "reduceOnly": False,
            "lastUpdateTimestamp": trade.ts_ms,
        }

    execution = {
        "uid": uid_of(trade),
        "makerOrder": order("maker", "Sell" if taker_buys else "Buy", "Post"),
        "takerOrder": order("taker", "Buy" if taker_buys else "Sell", "IoC"),
        "timestamp": trade.ts_ms,
        "quantity": quantity,
        "price": price,
        "markPrice": price,
        "limitFilled": False,
        "usdValue": _usd_value(product_id, price, quantity),
    }
    return {
        "uid": _uuid("event", trade.instrument, trade.trade_id),
        "timestamp": trade.ts_ms,
        "event": {"Execution": {"execution": execution, "takerReducedQuantity": ""}},
    }


def continuation_token(trade: SimTrade) -> str:
    """The continuation token that lists on after a trade: base64 of ``"<timestamp>/<seq>"``."""
    return base64.b64encode(f"{trade.ts_ms}/{seq_of(trade)}".encode()).decode()


def read_continuation_token(token: str) -> tuple[int, int]:
    """The ``(timestamp, seq)`` position a continuation token names.

    Raises:
        ValueError: Not a token :func:`continuation_token` makes.
    """
    try:
        text = base64.b64decode(token.encode(), validate=True).decode()
    except (binascii.Error, UnicodeError):
        raise ValueError(f"continuation_token {token[:40]!r} is not base64") from None
    stamp, slash, seq = text.partition("/")
    if not (slash and stamp.isdigit() and seq.isdigit()):
        raise ValueError(f"continuation_token {token[:40]!r} does not name a position")
    return int(stamp), int(seq)


def rest_page(trades: Sequence[SimTrade], more: bool) -> dict[str, Any]:
    """A public-execution-events answer.

    Args:
        trades: The listed trades, in the order asked for.
        more: Whether further trades match the request (then a ``continuationToken`` continues after the last).

    Returns:
        The JSON document.
    """
    document: dict[str, Any] = {"len": len(trades), "elements": [rest_element(trade) for trade in trades]}
    if more and trades:
        document["continuationToken"] = continuation_token(trades[-1])
    return document


def rest_error(status: int, phrase: str, server_time: str, message: str | None = None) -> dict[str, Any]:
    """An error answer of the REST API, e.g. for ``404``, ``"NOT_FOUND"``.

    Args:
        status: The HTTP status code.
        phrase: Its name in upper case with underscores (``"BAD_REQUEST"``).
        server_time: The server time, ISO 8601 with milliseconds and ``Z``.
        message: The error's message (default: ``"<status> <phrase>"``).
    """
    return {
        "status": phrase,
        "result": "error",
        "errors": [{"code": 0, "message": message or f"{status} {phrase}"}],
        "serverTime": server_time,
    }


# --- books -------------------------------------------------------------------------------------


def first_book_seq(seed: int, instrument: str) -> int:
    """The book ``seq`` of a product's opening book, drawn from the seed (the captures show 2e7 to 3e8)."""
    return _FIRST_BOOK_SEQ + random.Random(f"ticklake-simulator/krakenfutures/book-seq/{seed}/{instrument}").randrange(
        _BOOK_SEQ_SPREAD
    )


def units_number(units: int) -> str:
    """Integer units of 1e-8 as the venue writes the number (``6500001000000`` -> ``"65000.01"``, 0 -> ``"0.0"``)."""
    return wire_number(text(units))


def _levels(levels: Sequence[Level]) -> str:
    return ",".join(f'{{"price":{units_number(price)},"qty":{units_number(size)}}}' for price, size in levels)


def book_snapshot_message(
    product_id: str, seq: int, timestamp_ms: int, bids: Sequence[Level], asks: Sequence[Level]
) -> str:
    """The ``book_snapshot`` sent after a ``book`` subscription.

    Args:
        product_id: The product id, e.g. ``"PF_XBTUSD"``.
        seq: The book ``seq`` of the latest change the snapshot holds (the next ``book`` message has ``seq + 1``).
        timestamp_ms: The server time, epoch ms.
        bids: The bids, best (highest) first.
        asks: The asks, best (lowest) first.

    Returns:
        The JSON text.
    """
    return (
        f'{{"feed":"book_snapshot","product_id":"{product_id}","timestamp":{timestamp_ms},"seq":{seq},'
        f'"tickSize":null,"bids":[{_levels(bids)}],"asks":[{_levels(asks)}]}}'
    )


def book_message(product_id: str, side: BookSide, seq: int, price: int, qty: int, timestamp_ms: int) -> str:
    """One ``book`` message: the new size of one level (``qty`` 0 removes it), in units of 1e-8."""
    return (
        f'{{"feed":"book","product_id":"{product_id}","side":"{side}","seq":{seq},'
        f'"price":{units_number(price)},"qty":{units_number(qty)},"timestamp":{timestamp_ms}}}'
    )


def book_changes(diff: BookDiff) -> list[tuple[BookSide, int, int]]:
    """The ``book`` messages of one change of the simulated book, in the order they are sent.

    Removals come first (bids, then asks), then the levels that get a new size: every book in between is a
    part of the final one, so a consumer applying the messages one by one never sees a crossed book.

    Args:
        diff: The changed levels (final sizes, 0: removed), best first per side.

    Returns:
        ``(side, price, qty)`` per message, in units of 1e-8.
    """
    levels: list[tuple[BookSide, int, int]] = [("buy", price, size) for price, size in diff.bids]
    levels += [("sell", price, size) for price, size in diff.asks]
    return [level for level in levels if not level[2]] + [level for level in levels if level[2]]


# --- tickers -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class MarketState:
    """What a ticker is computed from (integer units of 1e-8 unless said otherwise).

    Attributes:
        best_bid: The best bid ``(price, size)``, or ``None``.
        best_ask: The best ask ``(price, size)``, or ``None``.
        last: The last trade's price, or ``None`` before the first trade.
        volume: The sum of the sizes of the trades of the last 24 hours.
        volume_quote: The sum of price x size of those trades, in units of 1e-16.
        open_price: The price of the first of those trades, or ``None``.
        open_interest: The open interest.
    """

    best_bid: Level | None
    best_ask: Level | None
    last: int | None
    volume: int
    volume_quote: int
    open_price: int | None
    open_interest: int


@dataclasses.dataclass(frozen=True, slots=True)
class TickerFields:
    """The values of one ``ticker`` message (``None``: ``null``, or not sent for the funding fields).

    Attributes:
        product_id: ``product_id``.
        time_ms: ``time``, the server time (epoch ms).
        bid: ``bid``.
        bid_size: ``bid_size``.
        ask: ``ask``.
        ask_size: ``ask_size``.
        last: ``last``.
        volume: ``volume`` (24 hours, in trade-size units).
        volume_quote: ``volumeQuote`` (24 hours, notional).
        index: ``index``.
        mark_price: ``markPrice``.
        premium: ``premium`` (percent).
        change: ``change`` (24 hours, percent).
        open_interest: ``openInterest``.
        funding_rate: ``funding_rate`` and ``funding_rate_prediction`` (absolute; ``None``: not sent).
        relative_funding_rate: ``relative_funding_rate`` and its prediction (``None``: not sent).
        next_funding_rate_time: ``next_funding_rate_time`` (epoch ms; ``None``: not sent).
        dtm: ``dtm``, days to maturity.
        maturity_time: ``maturityTime`` (epoch ms; 0 for a perpetual).
        tag: ``tag``.
        pair: ``pair``, e.g. ``"XBT:USD"``.
    """

    product_id: str
    time_ms: int
    bid: Decimal | None
    bid_size: Decimal | None
    ask: Decimal | None
    ask_size: Decimal | None
    last: Decimal | None
    volume: Decimal
    volume_quote: Decimal
    index: Decimal | None
    mark_price: Decimal | None
    premium: Decimal | None
    change: Decimal
    open_interest: Decimal
    funding_rate: Decimal | None
    relative_funding_rate: Decimal | None
    next_funding_rate_time: int | None
    dtm: int
    maturity_time: int
    tag: str
    pair: str


def _decimal(units: int | None) -> Decimal | None:
    return None if units is None else _WIDE.divide(Decimal(units), _UNIT)


def _quantized(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN, context=_WIDE)


def _maturity_ms(product_id: str) -> int | None:
    parts = product_id.split("_")
    if len(parts) != 3:
        return None
    stamp = parts[2]
    moment = datetime.datetime(
        2000 + int(stamp[:2]), int(stamp[2:4]), int(stamp[4:]), MATURITY_HOUR_UTC, tzinfo=datetime.UTC
    )
    return int(moment.timestamp()) * 1000


def _pair(product_id: str) -> str:
    pair = product_id.split("_")[1]
    quote = next(q for q in sorted(krakenfutures.QUOTE_ASSETS, key=len, reverse=True) if pair.endswith(q))
    return f"{pair[: -len(quote)]}:{quote}"


def ticker_fields(product_id: str, time_ms: int, state: MarketState) -> TickerFields:
    """A product's ticker at a time, derived from the simulated market (the simulator's own conventions).

    * ``bid``/``ask`` and sizes: the book's best levels; ``last``: the last trade's price; ``volume`` and
      ``volumeQuote``: the sizes and notionals of the last 24 hours' trades; ``change``: the percentage move
      of ``last`` from the first of them (to 10 decimals); ``openInterest``: the simulated open interest.
    * ``index``: the simulator has no spot market, so its index is the last trade's price; ``markPrice``: the
      mid of the best bid and ask (the last price while one side is empty); ``premium``: ``(mark - index) /
      index`` in percent, to one decimal (the captures show ``-0.1``, ``0.0``).
    * Funding, perpetuals only: ``relative_funding_rate`` is the premium spread over a day of hourly periods,
      ``(mark - index) / index / 24``, to 12 decimals; ``funding_rate`` is the same in the settlement unit per
      contract (times ``index`` for a linear contract, to 12 decimals; divided by it for an inverse one, to 18);
      the predictions repeat the current rates; ``next_funding_rate_time`` is the next full hour. A rate that is
      zero is not sent (the documentation's rule). Fixed-maturity futures send no funding field.
    * ``dtm``: whole days to maturity (0 for a perpetual); ``maturityTime``: the expiry at
      :data:`MATURITY_HOUR_UTC` h UTC (0 for a perpetual); ``tag``: ``perpetual`` or ``month``.

    Args:
        product_id: The product id, e.g. ``"PF_XBTUSD"``.
        time_ms: The server time, epoch ms.
        state: The market's current state.

    Returns:
        The fields :func:`ticker_message` renders.
    """
    bid = state.best_bid
    ask = state.best_ask
    last = _decimal(state.last)
    index = last
    if bid is not None and ask is not None:
        mark: Decimal | None = _WIDE.divide(Decimal(bid[0] + ask[0]), 2 * _UNIT)
    else:
        mark = last
    premium = relative = absolute = None
    if mark is not None and index is not None:
        spread = _WIDE.divide(mark - index, index)
        premium = _quantized(spread * _HUNDRED, _PREMIUM_QUANTUM)
        relative = _quantized(_WIDE.divide(spread, _PERIODS_PER_DAY), _RELATIVE_QUANTUM)
        if product_id.startswith(_INVERSE_PREFIXES):
            absolute = _quantized(_WIDE.divide(relative, index), _INVERSE_FUNDING_QUANTUM)
        else:
            absolute = _quantized(_WIDE.multiply(relative, index), _RELATIVE_QUANTUM)
    maturity = _maturity_ms(product_id)
    perpetual = maturity is None
    opened = _decimal(state.open_price)
    change = Decimal(0)
    if last is not None and opened:
        change = _quantized(_WIDE.divide(last - opened, opened) * _HUNDRED, _CHANGE_QUANTUM)
    return TickerFields(
        product_id=product_id,
        time_ms=time_ms,
        bid=_decimal(bid[0]) if bid is not None else None,
        bid_size=_decimal(bid[1]) if bid is not None else None,
        ask=_decimal(ask[0]) if ask is not None else None,
        ask_size=_decimal(ask[1]) if ask is not None else None,
        last=last,
        volume=_WIDE.divide(Decimal(state.volume), _UNIT),
        volume_quote=_WIDE.divide(Decimal(state.volume_quote), _QUOTE_UNIT),
        index=index,
        mark_price=mark,
        premium=premium,
        change=change,
        open_interest=_WIDE.divide(Decimal(state.open_interest), _UNIT),
        funding_rate=absolute if perpetual and absolute else None,
        relative_funding_rate=relative if perpetual and relative else None,
        next_funding_rate_time=(time_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS if perpetual else None,
        dtm=0 if maturity is None else max(0, (maturity - time_ms) // 86_400_000),
        maturity_time=0 if maturity is None else maturity,
        tag="perpetual" if perpetual else "month",
        pair=_pair(product_id),
    )


def decimal_number(value: Decimal | None) -> str:
    """A decimal as a JSON number literal the venue's way (``"84002.0"``, ``"-0.00000123"``), ``None`` as ``null``."""
    if value is None:
        return "null"
    rendered = format(value.normalize(context=_WIDE), "f")
    return rendered if "." in rendered else f"{rendered}.0"


def ticker_message(fields: TickerFields) -> str:
    """The ``ticker`` message of :func:`ticker_fields` (field order of the 2026 ``PF_XBTUSD`` capture)."""
    funding = ""
    if fields.funding_rate is not None:
        number = decimal_number(fields.funding_rate)
        funding += f'"funding_rate":{number},"funding_rate_prediction":{number},'
    if fields.relative_funding_rate is not None:
        number = decimal_number(fields.relative_funding_rate)
        funding += f'"relative_funding_rate":{number},"relative_funding_rate_prediction":{number},'
    if fields.next_funding_rate_time is not None:
        funding += f'"next_funding_rate_time":{fields.next_funding_rate_time},'
    return (
        f'{{"time":{fields.time_ms},"product_id":"{fields.product_id}",{funding}'
        f'"leverage":"{LEVERAGE}","premium":{decimal_number(fields.premium)},"feed":"ticker",'
        f'"bid":{decimal_number(fields.bid)},"ask":{decimal_number(fields.ask)},'
        f'"bid_size":{decimal_number(fields.bid_size)},"ask_size":{decimal_number(fields.ask_size)},'
        f'"volume":{decimal_number(fields.volume)},"dtm":{fields.dtm},"index":{decimal_number(fields.index)},'
        f'"last":{decimal_number(fields.last)},"change":{decimal_number(fields.change)},"suspended":false,'
        f'"tag":"{fields.tag}","pair":"{fields.pair}","openInterest":{decimal_number(fields.open_interest)},'
        f'"markPrice":{decimal_number(fields.mark_price)},"maturityTime":{fields.maturity_time},'
        f'"post_only":false,"volumeQuote":{decimal_number(fields.volume_quote)}}}'
    )
