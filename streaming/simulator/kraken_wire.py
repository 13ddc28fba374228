"""Render simulated trades and replies exactly as Kraken spot's WebSocket v2 and REST API send them.

Pure functions: no I/O and no clock (the caller passes every time). The shapes follow
:mod:`streaming.venues.kraken` (which cites the Kraken WebSocket v2 and REST references) and the frames it is
tested with (``tests/fixtures/kraken/frames.jsonl``):

* **Trades** go out as ``{"channel":"trade","type":"update"|"snapshot","data":[...]}``, one object per trade
  with ``symbol``, ``side`` (the taker's), ``price`` and ``qty`` as JSON *numbers*, ``ord_type`` (the taker's
  order type), ``trade_id`` (an integer, consecutive per pair) and ``timestamp`` (RFC 3339 with microseconds,
  ``"2023-09-25T07:49:37.708706Z"``). Numbers are written from the tape's decimal text, never through a float,
  without the tape's padding zeros but with at least one fractional digit, as the reference's examples print
  them (``"price":0.5147``, ``"qty":40.0``, ``"price":71749.0``): the parser reads them back with
  ``parse_float=Decimal``, so the value is exact.
* **Books** (the ``book`` reference and the checksum guide, https://docs.kraken.com/api/docs/guides/spot-ws-book-v2)
  go out as ``{"channel":"book","type":"snapshot"|"update","data":[{"symbol","bids","asks","checksum",
  "timestamp"}]}``, levels as ``{"price":...,"qty":...}`` JSON numbers. Unlike the trade frames, book and ticker
  numbers are printed with the pair's *fixed* decimals, as the engine prints them (``"price":45281.0``,
  ``"qty":0.10000000``, ``"qty":0.00000000`` for a removal, in the guide and the captures): the price decimals are
  those of the simulated tick (:func:`price_precision`, 2 for BTC/USD where Kraken has 1: a simulator choice, the
  tape's grid), quantities have 8 (:data:`QTY_PRECISION`). The checksum is computed on exactly those texts, so a
  subscriber that keeps the parsed decimals verifies it without knowing the precisions. A snapshot lists the top
  levels to the subscribed depth; an update lists the changed levels (:func:`book_changes`), and a level that
  merely falls out of the subscribed depth is not removed explicitly: the subscriber truncates.
* **Tickers** (the ``ticker`` reference): ``symbol``, ``bid``, ``bid_qty``, ``ask``, ``ask_qty``, ``last``,
  ``volume``, ``vwap``, ``low``, ``high``, ``change``, ``change_pct``, ``timestamp``, with fixed decimals too; the
  statistics cover the last 24 hours of the tape (:class:`TickerStats`).
* **Replies** carry ``method``, ``result`` (one per symbol for subscriptions, as Kraken answers),
  ``success``, ``time_in`` / ``time_out`` and the request's ``req_id`` when it had one; refusals carry
  ``"success":false`` and an ``error`` text (plus the ``symbol`` a per-symbol refusal concerns); ``ping`` is
  answered by ``pong``. The ``status`` frame (``api_version``, ``connection_id``, ``system``, ``version``) greets
  every connection; ``{"channel":"heartbeat"}`` follows about once a second while subscribed.
* **REST history** (``GET /0/public/Trades``): ``{"error":[],"result":{"<pair key>":[[price, volume, time,
  "b"|"s", "m"|"l", misc, trade_id], ...],"last":"<ns>"}}``. Price and volume are decimal strings with the
  tape's fixed decimals (as Kraken prints fixed decimals, ``"30243.40000"``, ``"0.34507674"``); ``time`` is a
  JSON number of seconds (Kraken prints a float; the tape's milliseconds are written as exact decimal text,
  which is what the shortest float repr would print); the pair key is Kraken's internal name
  (``XXBTZUSD``) for the legacy X/Z assets and the altname (``SOLUSD``) otherwise; errors are
  ``{"error":["EQuery:Unknown asset pair"]}``.

Plain string formatting renders the trade frames: every interpolated value is an integer, a decimal text, a
side, an order type, an RFC 3339 time or a v2 symbol (upper-case letters, digits and ``/``), none of which needs
escaping. Replies echo client text (symbols, methods), so they go through the JSON encoder.
"""

from __future__ import annotations

import collections
import datetime
import functools
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from contracts.instruments import split_spot
from streaming.simulator.books import BookSide, units
from streaming.simulator.market import PRICE_DECIMALS, SimTrade, profile_of
from streaming.venues import kraken

API_VERSION = "v2"
ENGINE_VERSION = "2.0.10"
"""The ``version`` a status frame reports (the one of the captured status frame)."""

HEARTBEAT = '{"channel":"heartbeat"}'
"""The heartbeat frame, sent about once a second to subscribed connections."""

SNAPSHOT_TRADES = 50
"""Trades in a trade snapshot: "the 50 most recent trades" (trade reference)."""

QTY_PRECISION = 8
"""Decimals of every printed book and ticker quantity (Kraken's ``qty_precision``, 8 for the major pairs)."""

TICKER_WINDOW_MS = 24 * 3_600_000
"""The ticker's statistics cover the trades of the last 24 hours."""

Levels = tuple[tuple[int, int], ...]
"""Book levels ``(price, qty)`` in integer units of 1e-8, best first."""

_UNIT_DECIMALS = PRICE_DECIMALS
_UNIT = 10**_UNIT_DECIMALS

_LEGACY_X_ASSETS = frozenset({"XBT", "ETH", "LTC", "XRP", "XLM", "XMR", "ZEC", "ETC", "MLN", "REP", "XDG"})
"""Assets whose internal REST name carries an ``X`` prefix (``XXBT``, ``XETH``)."""
_LEGACY_CODES = {"BTC": "XBT", "DOGE": "XDG"}
"""Common asset codes and their legacy REST codes (as :func:`streaming.venues.kraken.rest_pair` maps them)."""
_FIAT = frozenset({"USD", "EUR", "GBP", "JPY", "CAD"})
"""Quote currencies whose internal REST name carries a ``Z`` prefix (``ZUSD``)."""


@functools.lru_cache(maxsize=1024)
def symbol_of(instrument: str) -> str:
    """The v2 symbol of a canonical instrument (``"BTC-USD"`` -> ``"BTC/USD"``)."""
    return kraken.to_symbol(instrument)


def number_text(decimal_text: str) -> str:
    """A decimal text as Kraken prints a JSON number: padding zeros dropped, at least one fractional digit.

    Args:
        decimal_text: Plain decimal text such as ``"65000.01000000"``.

    Returns:
        ``"65000.01"``; ``"40.00000000"`` gives ``"40.0"``, ``"7"`` gives ``"7.0"``.
    """
    whole, _, fraction = decimal_text.partition(".")
    return f"{whole}.{fraction.rstrip('0') or '0'}"


def price_of(trade: SimTrade) -> Decimal:
    """The price the parser reads from a trade's frame (exact)."""
    return Decimal(number_text(trade.price_text))


def qty_of(trade: SimTrade) -> Decimal:
    """The quantity the parser reads from a trade's frame (exact)."""
    return Decimal(number_text(trade.size_text))


def ts_event_of(trade: SimTrade) -> int:
    """The event time (epoch ns) the parser reads from a trade's ``timestamp``."""
    return trade.ts_ms * 1_000_000


def ord_type_of(trade: SimTrade) -> str:
    """The taker's order type of a trade (deterministic: every fourth trade id is a market order)."""
    return "market" if trade.trade_id % 4 == 0 else "limit"


def rfc3339_micros(ts_ns: int) -> str:
    """Epoch nanoseconds as Kraken's RFC 3339 text with microseconds (``"2023-09-25T07:49:37.708706Z"``)."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    wall = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return f"{wall:%Y-%m-%dT%H:%M:%S}.{nanos // 1_000:06d}Z"


# --- trade frames ----------------------------------------------------------------------------------


def trade_entry(trade: SimTrade) -> str:
    """The JSON object of one trade in a ``trade`` frame's ``data``."""
    return (
        f'{{"symbol":"{symbol_of(trade.instrument)}","side":"{trade.side}",'
        f'"price":{number_text(trade.price_text)},"qty":{number_text(trade.size_text)},'
        f'"ord_type":"{ord_type_of(trade)}","trade_id":{trade.trade_id},'
        f'"timestamp":"{rfc3339_micros(ts_event_of(trade))}"}}'
    )


def trade_update(trade: SimTrade) -> str:
    """The ``update`` frame of one trade."""
    return f'{{"channel":"trade","type":"update","data":[{trade_entry(trade)}]}}'


def trade_snapshot(trades: Sequence[SimTrade]) -> str:
    """The ``snapshot`` frame of a pair's most recent trades (oldest first; empty for a pair without trades)."""
    return f'{{"channel":"trade","type":"snapshot","data":[{",".join(trade_entry(t) for t in trades)}]}}'


# --- book frames -----------------------------------------------------------------------------------


def price_precision(instrument: str) -> int:
    """The pair's price decimals (Kraken's ``price_precision``): those of the simulated tick (BTC/USD: 2)."""
    return _price_precision(instrument)


@functools.lru_cache(maxsize=1024)
def _price_precision(instrument: str) -> int:
    return len(profile_of(instrument).tick.partition(".")[2])


def amount_text(units: int, decimals: int) -> str:
    """Integer units of 1e-8 as decimal text with exactly ``decimals`` fractional digits, as Kraken prints numbers.

    Args:
        units: The value in units of 1e-8 (negative for a ticker's ``change``).
        decimals: Fractional digits, 0 to 8 (a price's :func:`price_precision`, or :data:`QTY_PRECISION`).

    Returns:
        ``amount_text(6500001000000, 2)`` -> ``"65000.01"``; ``amount_text(200000, 8)`` -> ``"0.00200000"``;
        ``amount_text(0, 8)`` -> ``"0.00000000"``; with 0 decimals an integer (``"7"``).

    Raises:
        ValueError: ``decimals`` is out of range, or the value has non-zero digits beyond ``decimals``.
    """
    if not 0 <= decimals <= _UNIT_DECIMALS:
        raise ValueError(f"decimals must be within 0..{_UNIT_DECIMALS}, not {decimals}")
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), _UNIT)
    digits = f"{fraction:0{_UNIT_DECIMALS}d}"
    if digits[decimals:].strip("0"):
        raise ValueError(f"{units} units of 1e-8 do not fit {decimals} decimals")
    return f"{sign}{whole}.{digits[:decimals]}" if decimals else f"{sign}{whole}"


def price_text(instrument: str, units: int) -> str:
    """A price of an instrument as Kraken prints it: the pair's fixed price decimals (``"65000.00"``)."""
    return amount_text(units, price_precision(instrument))


def qty_text(units: int) -> str:
    """A quantity as Kraken prints it: :data:`QTY_PRECISION` fixed decimals (``"0.00200000"``)."""
    return amount_text(units, QTY_PRECISION)


def book_changes(old: Levels, new: Levels, depth: int, side: BookSide) -> Levels:
    """The levels of one side a book ``update`` carries, from the subscriber's view before to the one after.

    Every level of the new view whose quantity differs from the old view's (a new level, a level that entered the
    subscribed depth because a better one went, or a changed quantity) is sent with its quantity; a level of the
    old view that is gone is sent with quantity 0, unless it merely fell out of scope (the new view is full and the
    level is worse than its worst level): Kraken sends no ``qty: 0`` for those, the subscriber truncates its book
    to the subscribed depth (checksum guide). Applying the result to the old view, then truncating to ``depth``,
    gives exactly the new view.

    Args:
        old: The side as the subscriber last saw it, best first, ``(price, qty)`` in units of 1e-8.
        new: The side now (the venue's top ``depth`` levels), best first.
        depth: The subscribed depth.
        side: ``"bid"`` (best = highest) or ``"ask"`` (best = lowest).

    Returns:
        The changed levels, best first (0: removed).
    """
    new_sizes = dict(new)
    old_sizes = dict(old)
    worst = new[-1][0] if len(new) >= depth and new else None
    changes: dict[int, int] = {}
    for price, _size in old:
        if price in new_sizes:
            continue
        out_of_scope = worst is not None and (price < worst if side == "bid" else price > worst)
        if not out_of_scope:
            changes[price] = 0
    for price, size in new:
        if old_sizes.get(price) != size:
            changes[price] = size
    return tuple(sorted(changes.items(), reverse=side == "bid"))


def book_checksum(instrument: str, bids: Levels, asks: Levels) -> int:
    """The ``checksum`` of a book frame: Kraken's CRC32 of the top 10 levels, over the texts the frame prints.

    Computed by :func:`streaming.venues.kraken.book_checksum` (the checksum guide's algorithm) on the very texts
    :func:`book_entry` writes, so a subscriber that keeps the parsed decimals computes the same value.

    Args:
        instrument: The canonical instrument (its price decimals).
        bids: The venue's bids after the frame, best first (at least the top 10 when the book has them).
        asks: The venue's asks after the frame, best first.
    """
    return kraken.book_checksum(
        [(price_text(instrument, p), qty_text(q)) for p, q in bids[: kraken.CHECKSUM_DEPTH]],
        [(price_text(instrument, p), qty_text(q)) for p, q in asks[: kraken.CHECKSUM_DEPTH]],
    )


def _levels_json(instrument: str, levels: Levels) -> str:
    return ",".join(f'{{"price":{price_text(instrument, p)},"qty":{qty_text(q)}}}' for p, q in levels)


def book_entry(instrument: str, bids: Levels, asks: Levels, checksum: int, ts_ns: int) -> str:
    """The JSON object of one pair in a ``book`` frame's ``data``.

    Args:
        instrument: The canonical instrument.
        bids: The bid levels to print, best first, ``(price, qty)`` in units of 1e-8 (qty 0: removed).
        asks: The ask levels to print, best first.
        checksum: The CRC32 of the venue's book after the frame (:func:`book_checksum`).
        ts_ns: The frame's ``timestamp``, epoch ns (printed to the microsecond).
    """
    return (
        f'{{"symbol":"{symbol_of(instrument)}","bids":[{_levels_json(instrument, bids)}],'
        f'"asks":[{_levels_json(instrument, asks)}],"checksum":{checksum},"timestamp":"{rfc3339_micros(ts_ns)}"}}'
    )


def book_snapshot(instrument: str, bids: Levels, asks: Levels, ts_ns: int) -> str:
    """The ``snapshot`` frame of a pair's book: its top levels to the subscribed depth, with their checksum."""
    entry = book_entry(instrument, bids, asks, book_checksum(instrument, bids, asks), ts_ns)
    return f'{{"channel":"book","type":"snapshot","data":[{entry}]}}'


def book_update(instrument: str, changes: tuple[Levels, Levels], view: tuple[Levels, Levels], ts_ns: int) -> str:
    """The ``update`` frame of a pair's book.

    Args:
        instrument: The canonical instrument.
        changes: The changed bids and asks (:func:`book_changes`).
        view: The subscriber's view after the update (bids, asks best first), whose top 10 the checksum covers.
        ts_ns: The ``timestamp``, epoch ns.
    """
    checksum = book_checksum(instrument, *view)
    return f'{{"channel":"book","type":"update","data":[{book_entry(instrument, *changes, checksum, ts_ns)}]}}'


# --- ticker frames ---------------------------------------------------------------------------------


class TickerStats:
    """The 24-hour statistics of a pair's ``ticker``: last price, volume, VWAP, low, high, change.

    Pure: fed every trade of the tape in order (:meth:`add`); the window is the 24 hours up to the newest trade.
    Before any trade, the last price is the instrument's start price and the window is empty.

    Args:
        instrument: The canonical instrument.
    """

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.last = units(profile_of(instrument).start_price)
        self.last_ts_ms: int | None = None
        self._window: collections.deque[tuple[int, int, int]] = collections.deque()  # (ts_ms, price, qty)
        self._volume = 0
        self._notional = 0  # sum of price * qty, in units of 1e-16
        self._lows: collections.deque[tuple[int, int]] = collections.deque()  # (ts_ms, price), prices increasing
        self._highs: collections.deque[tuple[int, int]] = collections.deque()  # (ts_ms, price), prices decreasing

    def add(self, trade: SimTrade) -> None:
        """Take the next trade of the tape."""
        price, qty = units(trade.price_text), units(trade.size_text)
        self.last, self.last_ts_ms = price, trade.ts_ms
        self._window.append((trade.ts_ms, price, qty))
        self._volume += qty
        self._notional += price * qty
        while self._lows and self._lows[-1][1] >= price:
            self._lows.pop()
        self._lows.append((trade.ts_ms, price))
        while self._highs and self._highs[-1][1] <= price:
            self._highs.pop()
        self._highs.append((trade.ts_ms, price))
        horizon = trade.ts_ms - TICKER_WINDOW_MS
        while self._window[0][0] <= horizon:
            _ts, old_price, old_qty = self._window.popleft()
            self._volume -= old_qty
            self._notional -= old_price * old_qty
        for extremes in (self._lows, self._highs):
            while extremes[0][0] <= horizon:
                extremes.popleft()

    @property
    def volume(self) -> int:
        """The base volume of the window, units of 1e-8."""
        return self._volume

    def values(self) -> dict[str, str]:
        """``last``, ``volume``, ``vwap``, ``low``, ``high``, ``change``, ``change_pct`` as Kraken prints them.

        Prices have the pair's decimals (VWAP rounded half-even to them), the volume 8 decimals, ``change`` is the
        last price minus the window's first, ``change_pct`` that change in percent of the first, rounded half-even
        to 2 decimals. An empty window has volume 0 and every price equal to the last.
        """
        decimals = price_precision(self.instrument)
        step = 10 ** (_UNIT_DECIMALS - decimals)
        if self._window:
            vwap = _round_half_even(self._notional, self._volume * step) * step
            low, high, first = self._lows[0][1], self._highs[0][1], self._window[0][1]
        else:
            vwap = low = high = first = self.last
        change = self.last - first
        change_pct = _round_half_even(change * 10_000, first)  # hundredths of a percent
        return {
            "last": amount_text(self.last, decimals),
            "volume": amount_text(self._volume, QTY_PRECISION),
            "vwap": amount_text(vwap, decimals),
            "low": amount_text(low, decimals),
            "high": amount_text(high, decimals),
            "change": amount_text(change, decimals),
            "change_pct": amount_text(change_pct * 10**6, 2),
        }


def _round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-even to an integer (``denominator`` > 0)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def ticker_frame(
    instrument: str,
    kind: Literal["snapshot", "update"],
    stats: TickerStats,
    bid: tuple[int, int],
    ask: tuple[int, int],
    ts_ns: int,
) -> str:
    """A ``ticker`` frame of one pair.

    Args:
        instrument: The canonical instrument.
        kind: ``"snapshot"`` (on subscribe) or ``"update"``.
        stats: The pair's 24-hour statistics.
        bid: The best bid ``(price, qty)`` in units of 1e-8.
        ask: The best ask.
        ts_ns: The ``timestamp``, epoch ns.
    """
    values = stats.values()
    entry = (
        f'{{"symbol":"{symbol_of(instrument)}","bid":{price_text(instrument, bid[0])},"bid_qty":{qty_text(bid[1])},'
        f'"ask":{price_text(instrument, ask[0])},"ask_qty":{qty_text(ask[1])},"last":{values["last"]},'
        f'"volume":{values["volume"]},"vwap":{values["vwap"]},"low":{values["low"]},"high":{values["high"]},'
        f'"change":{values["change"]},"change_pct":{values["change_pct"]},'
        f'"timestamp":"{rfc3339_micros(ts_ns)}"}}'
    )
    return f'{{"channel":"ticker","type":"{kind}","data":[{entry}]}}'


# --- control frames --------------------------------------------------------------------------------


def _compact(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def status_frame(connection_id: int, system: str = "online") -> str:
    """The ``status`` frame Kraken sends on connect (and when the engine's status changes).

    Args:
        connection_id: The connection's id (an unsigned 64-bit integer).
        system: ``online``, ``cancel_only``, ``maintenance`` or ``post_only``.
    """
    data = {"api_version": API_VERSION, "connection_id": connection_id, "system": system, "version": ENGINE_VERSION}
    return _compact({"channel": "status", "type": "update", "data": [data]})


def ack(method: str, result: dict[str, Any], req_id: int | None, time_in: int, time_out: int) -> str:
    """A successful reply (``subscribe`` / ``unsubscribe``), e.g. one symbol's subscription.

    Args:
        method: The request's method.
        result: What was done, e.g. ``{"channel": "trade", "snapshot": true, "symbol": "BTC/USD"}``.
        req_id: The request's ``req_id`` (omitted from the reply when ``None``).
        time_in: When the request arrived, epoch ns.
        time_out: When the reply left, epoch ns.
    """
    document: dict[str, Any] = {
        "method": method,
        "result": result,
        "success": True,
        "time_in": rfc3339_micros(time_in),
        "time_out": rfc3339_micros(time_out),
    }
    if req_id is not None:
        document["req_id"] = req_id
    return _compact(document)


def error(
    message: str,
    method: str | None,
    req_id: int | None,
    time_in: int,
    time_out: int,
    *,
    symbol: str | None = None,
) -> str:
    """A refusal: ``{"error": ..., "method": ..., "req_id": ..., "success": false, "symbol": ..., ...}``.

    Args:
        message: The error text, e.g. ``"Currency pair not supported DOGE/USD"``.
        method: The request's method (omitted when the request had no readable method).
        req_id: The request's ``req_id`` (omitted when ``None``).
        time_in: When the request arrived, epoch ns.
        time_out: When the reply left, epoch ns.
        symbol: The symbol a per-symbol refusal concerns.
    """
    document: dict[str, Any] = {"error": message}
    if method is not None:
        document["method"] = method
    if req_id is not None:
        document["req_id"] = req_id
    document["success"] = False
    if symbol is not None:
        document["symbol"] = symbol
    document["time_in"] = rfc3339_micros(time_in)
    document["time_out"] = rfc3339_micros(time_out)
    return _compact(document)


def pong(req_id: int | None, time_in: int, time_out: int) -> str:
    """The reply to a ``ping``."""
    document: dict[str, Any] = {"method": "pong"}
    if req_id is not None:
        document["req_id"] = req_id
    document["time_in"] = rfc3339_micros(time_in)
    document["time_out"] = rfc3339_micros(time_out)
    return _compact(document)


# --- REST ------------------------------------------------------------------------------------------


def rest_pair_key(instrument: str) -> str:
    """The pair key of a REST answer: Kraken's internal name (``XXBTZUSD``, ``XETHZUSD``) or the altname."""
    base, quote = split_spot(instrument)
    legacy_base = _LEGACY_CODES.get(base, base)
    if legacy_base in _LEGACY_X_ASSETS and quote in _FIAT:
        return f"X{legacy_base}Z{quote}"
    return kraken.rest_pair(instrument)


def rest_pair_names(instrument: str) -> frozenset[str]:
    """The ``pair`` values Kraken accepts for an instrument: altname, internal name, v2 symbol and ``BTCUSD``."""
    base, quote = split_spot(instrument)
    return frozenset({kraken.rest_pair(instrument), rest_pair_key(instrument), symbol_of(instrument), base + quote})


def rest_time(ts_ms: int) -> str:
    """A trade time as the REST answer's JSON number of seconds (``1688669597.827``), exact decimal text."""
    seconds, millis = divmod(ts_ms, 1_000)
    return number_text(f"{seconds}.{millis:03d}")


def rest_trade(trade: SimTrade) -> str:
    """One trade of a REST answer: ``[price, volume, time, "b"|"s", "m"|"l", misc, trade_id]``."""
    taker = "b" if trade.side == "buy" else "s"
    order = "m" if ord_type_of(trade) == "market" else "l"
    return (
        f'["{trade.price_text}","{trade.size_text}",{rest_time(trade.ts_ms)},"{taker}","{order}","",{trade.trade_id}]'
    )


def rest_trades(instrument: str, trades: Sequence[SimTrade], last: int) -> bytes:
    """The body of a ``GET /0/public/Trades`` answer.

    Args:
        instrument: The canonical instrument asked for.
        trades: Its trades, oldest first.
        last: The ``since`` cursor of the next page (epoch ns).
    """
    entries = ",".join(rest_trade(t) for t in trades)
    return f'{{"error":[],"result":{{"{rest_pair_key(instrument)}":[{entries}],"last":"{last}"}}}}'.encode()


def rest_error(*messages: str) -> bytes:
    """The body of a refused REST request, e.g. ``{"error":["EQuery:Unknown asset pair"]}``."""
    return _compact({"error": list(messages)}).encode()
