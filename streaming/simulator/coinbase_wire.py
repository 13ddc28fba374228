"""Render simulated trades exactly as Coinbase sends them: Advanced Trade frames and both REST trade bodies.

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
* **Times** are printed the way Go's ``RFC3339Nano`` layout prints them (the heartbeat's
  ``current_time`` is Go's ``time.Time.String()``, and recorded times carry 3 to 9 fractional digits with
  trailing zeros dropped, e.g. ``"2026-09-30T02:39:28.17586Z"``): up to 9 digits, no trailing zeros, no
  fraction at all on a whole second. The Exchange REST body prints 6 fixed digits
  (``"2026-08-25T03:35:57.198335Z"``).
* **Decimals**: Advanced Trade prints prices and sizes without trailing zeros (``"83277.26"``,
  ``"0.0019019"``, ``"1"``); the Exchange REST documentation example prints 8 fixed digits
  (``"6225.32000000"``), as the tape's text already is. Both read as the same exact decimal.

Rendering goes through :func:`json.dumps`; every value is a string, an integer or a list of those.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from streaming.simulator.market import SimSide, SimTrade
from streaming.venues import coinbase

TRADES_CHANNEL = "market_trades"
"""The Advanced Trade channel of trades."""

HEARTBEATS_CHANNEL = "heartbeats"
"""The Advanced Trade heartbeat channel (also the one "product" its subscription lists)."""

SUBSCRIPTIONS_CHANNEL = "subscriptions"
"""The channel of subscription acknowledgements."""

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

    The simulator keeps no order book, so ``best_bid``/``best_ask`` (and each trade's ``bid``/``ask``) are
    ``""``, as Coinbase sends them when it has none.

    Args:
        trades: The trades, oldest first.

    Returns:
        The body: ``{"trades": [...], "best_bid": "", "best_ask": ""}``.
    """
    items = [{**trade_item(trade), "bid": "", "ask": ""} for trade in reversed(trades)]
    return _dumps({"trades": items, "best_bid": "", "best_ask": ""}).encode()
