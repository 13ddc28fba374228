"""Render simulated trades exactly as Coinbase sends them: Advanced Trade and Exchange frames, both REST bodies.

Pure functions: no I/O and no clock (every time is passed in). The shapes follow
:mod:`streaming.venues.coinbase` (which cites the Coinbase documentation and production recordings) and the
frames in ``tests/fixtures/coinbase``:

* **Envelope** (Advanced Trade, ``wss://advanced-trade-ws.coinbase.com``): ``{"channel", "client_id": "",
  "timestamp", "sequence_num", "events": [...]}``; ``timestamp`` is when the frame was sent.
* **market_trades**: events ``{"type": "update" | "snapshot", "trades": [{"product_id", "trade_id" (a
  string), "price", "size", "time", "side"}]}``. ``side`` is the **maker** side (``"BUY"`` when a seller
  hit a resting buy), the opposite of :attr:`SimTrade.side`, the taker side. A snapshot lists trades
  newest first.
* **subscriptions**: ``{"subscriptions": {channel: [product ids]}}`` with every current subscription of
  the connection; the ``heartbeats`` channel lists ``["heartbeats"]`` (as in the 2026-09-30 production
  recording). Keys come sorted, as Go's JSON encoder writes a map.
* **heartbeats**: ``{"current_time": <Go time.String() text with the monotonic reading>,
  "heartbeat_counter": int}``.
* **Errors**: ``{"type": "error", "message": ...}``, without an envelope or ``sequence_num``.
* **l2_data** (the frames of a ``level2`` subscription; level2 docs
  https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/websocket/level2): events ``{"type":
  "snapshot" | "update", "product_id", "updates": [{"side": "bid" | "offer", "event_time", "price_level",
  "new_quantity"}]}``. ``new_quantity`` is the level's new absolute size, ``"0"`` removes it. A snapshot
  holds the whole book, bids best first then offers best first (the order of the production recording);
  an update lists the changed levels in the same order. Every level of an event carries the event's one
  ``event_time`` (the recording's snapshot and updates share one time per event): the time of the change
  for an update, the time the snapshot was taken for a snapshot.
* **ticker** (docs https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/websocket/ticker):
  events ``{"type": "snapshot" | "update", "tickers": [{"type": "ticker", "product_id", "price",
  "volume_24_h", "low_24_h", "high_24_h", "low_52_w", "high_52_w", "price_percent_chg_24_h", "best_bid",
  "best_ask", "best_bid_quantity", "best_ask_quantity"}]}``, the keys in the order of the 2026-06-14 live
  frame (fixture ``adv_ticker_update``); ``price_percent_chg_24_h`` is printed with 14 fractional digits as
  there. A side of the book that is empty is sent as ``""`` (which the parser reads as absent).
* **Times** are printed the way Go's ``RFC3339Nano`` layout prints them (the heartbeat's
  ``current_time`` is Go's ``time.Time.String()``, and recorded times carry 3 to 9 fractional digits with
  trailing zeros dropped, e.g. ``"2026-09-30T02:39:28.17586Z"``): up to 9 digits, no trailing zeros, no
  fraction at all on a whole second. The Exchange REST body prints 6 fixed digits
  (``"2026-08-25T03:35:57.198335Z"``).
* **Decimals**: Advanced Trade prints prices and sizes without trailing zeros (``"83277.26"``,
  ``"0.0019019"``, ``"1"``); the Exchange REST documentation example prints 8 fixed digits
  (``"6225.32000000"``), as the tape's text already is. Both read as the same exact decimal.

**Exchange feed** (``wss://ws-feed.exchange.coinbase.com``; channel docs
https://docs.cdp.coinbase.com/exchange/websocket-feed/channels): flat objects with a ``type``, no envelope and
no connection counter. ``match`` / ``last_match``: ``{"type", "trade_id" (an integer), "maker_order_id",
"taker_order_id", "side" (maker side, lower case), "size", "price", "product_id", "sequence", "time"}``;
``heartbeat``: ``{"type", "last_trade_id", "product_id", "sequence", "time"}``; ``subscriptions``:
``{"type", "channels": [{"name", "product_ids"}]}``; errors ``{"type": "error", "message", "reason"}``.
``sequence`` is per product and shared with the full order feed, so it only increases
(:func:`exchange_sequence`); times carry 6 fractional digits. Order ids are deterministic UUIDs (the
simulator's choice: the parser only checks they are strings).

Rendering goes through :func:`json.dumps`; every value is a string, an integer or a list of those.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from streaming.simulator.books import BookDiff, BookSnapshot, text, units
from streaming.simulator.market import SimSide, SimTrade
from streaming.venues import coinbase

TRADES_CHANNEL = "market_trades"
"""The Advanced Trade channel of trades."""

HEARTBEATS_CHANNEL = "heartbeats"
"""The Advanced Trade heartbeat channel (also the one "product" its subscription lists)."""

SUBSCRIPTIONS_CHANNEL = "subscriptions"
"""The channel of subscription acknowledgements."""

LEVEL2_CHANNEL = "level2"
"""The Advanced Trade order-book channel a client subscribes to."""

L2_DATA_CHANNEL = "l2_data"
"""The ``channel`` of the frames a ``level2`` subscription receives."""

TICKER_CHANNEL = "ticker"
"""The Advanced Trade ticker channel (also the ``channel`` of its frames)."""

EventType = Literal["snapshot", "update"]
"""The ``type`` of an ``l2_data`` or ``ticker`` event."""

_PERCENT_DIGITS = Decimal("1E-14")

_MAKER_ADVANCED: dict[SimSide, str] = {"buy": "SELL", "sell": "BUY"}
_MAKER_EXCHANGE: dict[SimSide, str] = {"buy": "sell", "sell": "buy"}
_NS_PER_SECOND = 1_000_000_000


@functools.lru_cache(maxsize=1024)
def symbol_of(instrument: str) -> str:
    """The Coinbase product id of a canonical instrument (``"BTC-USDC-PERP"`` -> ``"BTC-PERP-INTX"``)."""
    return coinbase.to_symbol(instrument)


def trim_decimal(text: str) -> str:
    """Decimal text without trailing fractional zeros, as Advanced Trade prints it.

    Args:
        text: Plain decimal text, e.g. ``"65000.01000000"``.

    Returns:
        The same value, e.g. ``"65000.01"``; ``"1.00000000"`` -> ``"1"``; text without a point is kept.
    """
    if "." not in text:
        return text
    return text.rstrip("0").rstrip(".")


def _utc_seconds(ns: int) -> tuple[str, int]:
    seconds, fraction = divmod(ns, _NS_PER_SECOND)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S"), fraction


def rfc3339nano(ns: int) -> str:
    """An epoch-ns time as Go's ``RFC3339Nano`` prints it in UTC.

    Args:
        ns: Epoch nanoseconds (>= 0).

    Returns:
        E.g. ``"2026-09-30T02:39:53.78865513Z"`` (trailing zeros dropped) or ``"2026-09-30T02:39:53Z"``.
    """
    whole, fraction = _utc_seconds(ns)
    if not fraction:
        return f"{whole}Z"
    return f"{whole}.{fraction:09d}".rstrip("0") + "Z"


def micros_iso(ns: int) -> str:
    """An epoch-ns time with 6 fixed fractional digits, as the Exchange REST API prints trade times.

    Args:
        ns: Epoch nanoseconds (>= 0); digits below the microsecond are dropped.

    Returns:
        E.g. ``"2026-08-25T03:35:57.198335Z"``.
    """
    whole, fraction = _utc_seconds(ns)
    return f"{whole}.{fraction // 1000:06d}Z"


def go_time_string(ns: int, monotonic_ns: int) -> str:
    """A time as Go's ``time.Time.String()`` prints a wall clock reading that carries a monotonic one.

    Args:
        ns: The wall clock, epoch nanoseconds.
        monotonic_ns: The monotonic clock reading (nanoseconds since the process started), >= 0.

    Returns:
        E.g. ``"2026-09-30 02:37:15.057778606 +0000 UTC m=+21697.195984854"``.
    """
    whole, fraction = _utc_seconds(ns)
    text = whole.replace("T", " ")
    if fraction:
        text = f"{text}.{fraction:09d}".rstrip("0")
    seconds, rest = divmod(monotonic_ns, _NS_PER_SECOND)
    return f"{text} +0000 UTC m=+{seconds}.{rest:09d}"


def trade_id_of(trade: SimTrade) -> str:
    """The trade id :func:`streaming.venues.coinbase.parse` reads from the trade's frames (the tape's id)."""
    return str(trade.trade_id)


def ts_event_of(trade: SimTrade) -> int:
    """The event time, epoch ns, that the parser reads from the trade's ``time``."""
    return trade.ts_ms * 1_000_000


def trade_item(trade: SimTrade) -> dict[str, str]:
    """One trade as a ``market_trades`` event (and the Advanced Trade REST body) lists it.

    Args:
        trade: The simulated trade.

    Returns:
        ``{"product_id", "trade_id", "price", "size", "time", "side"}`` with the maker side.
    """
    return {
        "product_id": symbol_of(trade.instrument),
        "trade_id": trade_id_of(trade),
        "price": trim_decimal(trade.price_text),
        "size": trim_decimal(trade.size_text),
        "time": rfc3339nano(ts_event_of(trade)),
        "side": _MAKER_ADVANCED[trade.side],
    }


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def envelope(channel: str, events: Sequence[Mapping[str, Any]], *, sequence_num: int, timestamp_ns: int) -> str:
    """An Advanced Trade frame.

    Args:
        channel: ``"market_trades"``, ``"heartbeats"``, ``"subscriptions"``...
        events: The frame's events.
        sequence_num: The connection's number of this frame (0 for its first frame).
        timestamp_ns: When the frame is sent, epoch ns.

    Returns:
        The JSON text.
    """
    return _dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": rfc3339nano(timestamp_ns),
            "sequence_num": sequence_num,
            "events": list(events),
        }
    )


def market_trades_frame(trades: Sequence[SimTrade], *, sequence_num: int, timestamp_ns: int) -> str:
    """A ``market_trades`` update carrying trades in the given order (one event).

    Args:
        trades: The trades of one batch.
        sequence_num: The connection's frame number.
        timestamp_ns: When the frame is sent, epoch ns.

    Returns:
        The JSON text.
    """
    event = {"type": "update", "trades": [trade_item(trade) for trade in trades]}
    return envelope(TRADES_CHANNEL, [event], sequence_num=sequence_num, timestamp_ns=timestamp_ns)


def snapshot_frame(recent: Sequence[Sequence[SimTrade]], *, sequence_num: int, timestamp_ns: int) -> str:
    """The ``market_trades`` snapshot sent on subscription: one event per product, newest trade first.

    Args:
        recent: Per newly subscribed product, its most recent trades, oldest first (possibly none).
        sequence_num: The connection's frame number.
        timestamp_ns: When the frame is sent, epoch ns.

    Returns:
        The JSON text.
    """
    events = [{"type": "snapshot", "trades": [trade_item(trade) for trade in reversed(trades)]} for trades in recent]
    return envelope(TRADES_CHANNEL, events, sequence_num=sequence_num, timestamp_ns=timestamp_ns)


def subscriptions_frame(subscriptions: Mapping[str, Sequence[str]], *, sequence_num: int, timestamp_ns: int) -> str:
    """The ``subscriptions`` acknowledgement listing every current subscription of the connection.

    Args:
        subscriptions: Channel -> product ids (``heartbeats`` -> ``["heartbeats"]``); empty channels are left out.
        sequence_num: The connection's frame number.
        timestamp_ns: When the frame is sent, epoch ns.

    Returns:
        The JSON text, e.g. ``..."events":[{"subscriptions":{"heartbeats":["heartbeats"],"market_trades":[...]}}]``.
    """
    listed = {channel: sorted(products) for channel, products in sorted(subscriptions.items()) if products}
    return envelope(
        SUBSCRIPTIONS_CHANNEL, [{"subscriptions": listed}], sequence_num=sequence_num, timestamp_ns=timestamp_ns
    )


def heartbeat_frame(*, counter: int, sequence_num: int, timestamp_ns: int, monotonic_ns: int) -> str:
    """A ``heartbeats`` frame.

    Args:
        counter: The heartbeat counter.
        sequence_num: The connection's frame number.
        timestamp_ns: When the frame is sent, epoch ns (also the event's ``current_time``).
        monotonic_ns: The venue's monotonic clock, ns since it started (the ``m=+`` of ``current_time``).

    Returns:
        The JSON text.
    """
    event = {"current_time": go_time_string(timestamp_ns, monotonic_ns), "heartbeat_counter": counter}
    return envelope(HEARTBEATS_CHANNEL, [event], sequence_num=sequence_num, timestamp_ns=timestamp_ns)


def error_frame(message: str) -> str:
    """An Advanced Trade error frame: ``{"type": "error", "message": ...}`` (no envelope, no sequence_num)."""
    return _dumps({"type": "error", "message": message})


def exchange_rest_trade(trade: SimTrade) -> dict[str, object]:
    """A trade as the Exchange's ``GET /products/{product_id}/trades`` lists it (maker side, integer id)."""
    return {
        "time": micros_iso(ts_event_of(trade)),
        "trade_id": trade.trade_id,
        "price": trade.price_text,
        "size": trade.size_text,
        "side": _MAKER_EXCHANGE[trade.side],
    }


def exchange_rest_body(trades: Sequence[SimTrade]) -> bytes:
    """The Exchange REST trades body: a JSON array of trades, newest first.

    Args:
        trades: The page's trades, oldest first.

    Returns:
        The body.
    """
    return _dumps([exchange_rest_trade(trade) for trade in reversed(trades)]).encode()


def advanced_rest_body(trades: Sequence[SimTrade]) -> bytes:
    """The Advanced Trade ``GET /api/v3/brokerage/market/products/{id}/ticker`` body, trades newest first.

    ``best_bid``/``best_ask`` (and each trade's ``bid``/``ask``) are ``""``, as Coinbase sends them when it has
    none: the simulator does not fill them in (the history endpoint is for repair, which reads only trades).

    Args:
        trades: The trades, oldest first.

    Returns:
        The body: ``{"trades": [...], "best_bid": "", "best_ask": ""}``.
    """
    items = [{**trade_item(trade), "bid": "", "ask": ""} for trade in reversed(trades)]
    return _dumps({"trades": items, "best_bid": "", "best_ask": ""}).encode()


# --- level2 and ticker -----------------------------------------------------------------------------


def amount_text(amount: int) -> str:
    """An amount in units of 1e-8 (a simulated book's price or size) as Advanced Trade prints it.

    Args:
        amount: Units of 1e-8, >= 0.

    Returns:
        Decimal text without trailing zeros, e.g. ``6500001000000`` -> ``"65000.01"``, ``0`` -> ``"0"``.
    """
    return trim_decimal(text(amount))


def l2_updates(
    bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]], event_time_ns: int
) -> list[dict[str, str]]:
    """The ``updates`` of an ``l2_data`` event: the bids, then the offers, in the order given.

    Args:
        bids: ``(price, size)`` in units of 1e-8, best first (size 0: the level is removed).
        asks: The same for the offers.
        event_time_ns: The ``event_time`` of every level, epoch ns.

    Returns:
        ``[{"side", "event_time", "price_level", "new_quantity"}, ...]``.
    """
    when = rfc3339nano(event_time_ns)
    return [
        {"side": side, "event_time": when, "price_level": amount_text(price), "new_quantity": amount_text(size)}
        for side, levels in (("bid", bids), ("offer", asks))
        for price, size in levels
    ]


def l2_frame(
    instrument: str,
    kind: EventType,
    bids: Sequence[tuple[int, int]],
    asks: Sequence[tuple[int, int]],
    *,
    event_time_ns: int,
    sequence_num: int,
    timestamp_ns: int,
) -> str:
    """An ``l2_data`` frame with one event of one product.

    Args:
        instrument: The canonical instrument.
        kind: ``"snapshot"`` (the whole book) or ``"update"`` (changed levels).
        bids: ``(price, size)`` in units of 1e-8, best first.
        asks: The same for the offers.
        event_time_ns: The levels' ``event_time``, epoch ns.
        sequence_num: The connection's frame number.
        timestamp_ns: When the frame is sent, epoch ns.

    Returns:
        The JSON text.
    """
    event = {"type": kind, "product_id": symbol_of(instrument), "updates": l2_updates(bids, asks, event_time_ns)}
    return envelope(L2_DATA_CHANNEL, [event], sequence_num=sequence_num, timestamp_ns=timestamp_ns)


def l2_snapshot_frame(instrument: str, snapshot: BookSnapshot, *, sequence_num: int, timestamp_ns: int) -> str:
    """The ``l2_data`` snapshot of a product's whole book, sent on subscription.

    Args:
        instrument: The canonical instrument.
        snapshot: The simulated book.
        sequence_num: The connection's frame number.
        timestamp_ns: When the frame is sent, epoch ns (also the levels' ``event_time``).

    Returns:
        The JSON text.
    """
    return l2_frame(
        instrument,
        "snapshot",
        snapshot.bids,
        snapshot.asks,
        event_time_ns=timestamp_ns,
        sequence_num=sequence_num,
        timestamp_ns=timestamp_ns,
    )


def l2_update_frame(
    instrument: str, diff: BookDiff, *, event_time_ns: int, sequence_num: int, timestamp_ns: int
) -> str:
    """An ``l2_data`` update: the new size of every level that changed since the product's previous update.

    Args:
        instrument: The canonical instrument.
        diff: The changes (final size per changed level).
        event_time_ns: When the changes happened, epoch ns.
        sequence_num: The connection's frame number.
        timestamp_ns: When the frame is sent, epoch ns.

    Returns:
        The JSON text.
    """
    return l2_frame(
        instrument,
        "update",
        diff.bids,
        diff.asks,
        event_time_ns=event_time_ns,
        sequence_num=sequence_num,
        timestamp_ns=timestamp_ns,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class TickerStats:
    """The trade statistics a product's ticker shows, in units of 1e-8.

    Attributes:
        reference: The price the change is measured from (``price_percent_chg_24_h``).
        last: The latest trade price.
        low: The lowest price.
        high: The highest price.
        volume: The traded size.
    """

    reference: int
    last: int
    low: int
    high: int
    volume: int

    @classmethod
    def opening(cls, price_text: str) -> TickerStats:
        """The statistics before the first trade: every price at the reference price, no volume.

        Args:
            price_text: The reference price as decimal text (a multiple of 1e-8).
        """
        price = units(price_text)
        return cls(price, price, price, price, 0)

    def with_trade(self, trade: SimTrade) -> TickerStats:
        """The statistics once a trade is added."""
        price = units(trade.price_text)
        return TickerStats(
            self.reference,
            price,
            min(self.low, price),
            max(self.high, price),
            self.volume + units(trade.size_text),
        )


def percent_change(reference: int, last: int) -> str:
    """``100 * (last - reference) / reference`` with 14 fractional digits (``"-4.15775596190603"``).

    Args:
        reference: The reference price, units of 1e-8 (> 0).
        last: The latest price, units of 1e-8.

    Returns:
        The decimal text.
    """
    return format((Decimal(last - reference) * 100 / Decimal(reference)).quantize(_PERCENT_DIGITS), "f")


def ticker_item(
    instrument: str, stats: TickerStats, best_bid: tuple[int, int] | None, best_ask: tuple[int, int] | None
) -> dict[str, str]:
    """One product's entry of a ``ticker`` event.

    The simulated tape is far shorter than a day, so the 24-hour and 52-week lows and highs are both those of
    the whole tape, and ``volume_24_h`` is everything traded on it.

    Args:
        instrument: The canonical instrument.
        stats: Its trade statistics.
        best_bid: The best bid ``(price, size)`` in units of 1e-8, ``None`` when there is none.
        best_ask: The best ask likewise.

    Returns:
        ``{"type": "ticker", "product_id", "price", ...}`` (see the module docstring).
    """
    low, high = amount_text(stats.low), amount_text(stats.high)
    return {
        "type": "ticker",
        "product_id": symbol_of(instrument),
        "price": amount_text(stats.last),
        "volume_24_h": amount_text(stats.volume),
        "low_24_h": low,
        "high_24_h": high,
        "low_52_w": low,
        "high_52_w": high,
        "price_percent_chg_24_h": percent_change(stats.reference, stats.last),
        "best_bid": "" if best_bid is None else amount_text(best_bid[0]),
        "best_ask": "" if best_ask is None else amount_text(best_ask[0]),
        "best_bid_quantity": "" if best_bid is None else amount_text(best_bid[1]),
        "best_ask_quantity": "" if best_ask is None else amount_text(best_ask[1]),
    }


def ticker_frame(kind: EventType, tickers: Sequence[Mapping[str, str]], *, sequence_num: int, timestamp_ns: int) -> str:
    """A ``ticker`` frame: one event listing products' tickers.

    Args:
        kind: ``"snapshot"`` (sent on subscription) or ``"update"`` (after trades).
        tickers: The entries, from :func:`ticker_item`.
        sequence_num: The connection's frame number.
        timestamp_ns: When the frame is sent, epoch ns (the only time a ticker has).

    Returns:
        The JSON text.
    """
    event = {"type": kind, "tickers": list(tickers)}
    return envelope(TICKER_CHANNEL, [event], sequence_num=sequence_num, timestamp_ns=timestamp_ns)


# --- the Exchange feed (wss://ws-feed.exchange.coinbase.com) ---------------------------------------------------

EXCHANGE_MATCHES_CHANNEL = "matches"
"""The Exchange channel of trades (``last_match`` on subscription, then ``match``)."""

EXCHANGE_HEARTBEAT_CHANNEL = "heartbeat"
"""The Exchange heartbeat channel (one ``heartbeat`` per subscribed product a second)."""

EXCHANGE_SEQUENCE_BASE = 100_000_000_000
"""The simulated product sequence before trade id 0 (production numbers are in the 10^11 range)."""

EXCHANGE_SEQUENCE_STRIDE = 7
"""Sequence numbers per trade: the full order feed's other messages share the product's ``sequence``, so the
matches channel sees it grow by more than one between trades (the simulator's choice of a constant 7)."""

_ORDER_NAMESPACE = uuid.UUID("6f0c4d8e-2b7a-4c51-9d3e-5a1b2c3d4e5f")


def exchange_sequence(trade_id: int) -> int:
    """The product ``sequence`` of the match of a trade id: increasing with the id, never contiguous."""
    return EXCHANGE_SEQUENCE_BASE + trade_id * EXCHANGE_SEQUENCE_STRIDE


def order_id(trade: SimTrade, role: Literal["maker", "taker"]) -> str:
    """A deterministic order id (UUID text, as the Exchange sends) for the maker or taker of a trade."""
    return str(uuid.uuid5(_ORDER_NAMESPACE, f"{trade.instrument}/{trade.trade_id}/{role}"))


def exchange_match_frame(trade: SimTrade, *, last: bool = False) -> str:
    """A ``match`` (or, with ``last``, the ``last_match`` sent on subscription) frame of one trade.

    Keys in the order of the Exchange documentation's example; ``side`` is the maker side; ``size`` and
    ``price`` keep the tape's 8 fixed fractional digits (as the documentation's ``"5.23512"`` /
    ``"400.23"`` show no fixed width, either is read as the same exact decimal); ``time`` has 6 digits.

    Args:
        trade: The trade.
        last: Render it as ``last_match``.

    Returns:
        The JSON text.
    """
    return _dumps(
        {
            "type": "last_match" if last else "match",
            "trade_id": trade.trade_id,
            "maker_order_id": order_id(trade, "maker"),
            "taker_order_id": order_id(trade, "taker"),
            "side": _MAKER_EXCHANGE[trade.side],
            "size": trade.size_text,
            "price": trade.price_text,
            "product_id": symbol_of(trade.instrument),
            "sequence": exchange_sequence(trade.trade_id),
            "time": micros_iso(ts_event_of(trade)),
        }
    )


def exchange_heartbeat_frame(instrument: str, *, last_trade_id: int, timestamp_ns: int) -> str:
    """An Exchange ``heartbeat`` of one product.

    Args:
        instrument: The canonical instrument.
        last_trade_id: The product's latest trade id (sent or not: the venue's tape).
        timestamp_ns: When it is sent, epoch ns (``time``, 6 digits).

    Returns:
        The JSON text; ``sequence`` is the latest trade's (:func:`exchange_sequence`).
    """
    return _dumps(
        {
            "type": "heartbeat",
            "last_trade_id": last_trade_id,
            "product_id": symbol_of(instrument),
            "sequence": exchange_sequence(last_trade_id),
            "time": micros_iso(timestamp_ns),
        }
    )


def exchange_subscriptions_frame(subscriptions: Mapping[str, Sequence[str]]) -> str:
    """The Exchange ``subscriptions`` acknowledgement listing every current subscription of the connection.

    Args:
        subscriptions: Channel -> product ids; empty channels are left out.

    Returns:
        The JSON text, e.g. ``{"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD"]}]}``
        (channels by name, products sorted).
    """
    channels = [
        {"name": name, "product_ids": sorted(products)} for name, products in sorted(subscriptions.items()) if products
    ]
    return _dumps({"type": "subscriptions", "channels": channels})


def exchange_error_frame(message: str, reason: str) -> str:
    """An Exchange error frame: ``{"type": "error", "message": ..., "reason": ...}``."""
    return _dumps({"type": "error", "message": message, "reason": reason})
