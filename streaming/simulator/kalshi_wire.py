"""Render simulated trades and replies exactly as Kalshi's WebSocket v2 and REST trade history send them.

Pure functions, no I/O and no clock. The shapes follow :mod:`streaming.venues.kalshi` (which cites
Kalshi's AsyncAPI specification https://docs.kalshi.com/asyncapi.yaml, the public-trades channel page
https://docs.kalshi.com/websockets/public-trades and the REST reference of ``GET /markets/trades``
https://docs.kalshi.com/api-reference/market/get-trades):

* **Trade message** ``{"type":"trade","sid":s,"seq":k,"msg":{...}}`` whose ``msg`` carries both wire
  eras, as Kalshi published them side by side: ``yes_price``/``no_price`` in integer cents and
  ``yes_price_dollars``/``no_price_dollars`` as 4-decimal dollar strings (``"0.3600"``), ``count`` and
  ``count_fp`` (``"136.00"``), the deprecated ``taker_side`` with ``taker_outcome_side`` and
  ``taker_book_side``, ``is_block_trade`` and ``ts`` in **whole seconds** (the public-trades page's
  form; the millisecond ``ts_ms`` is not sent, so the parser's ``ts_event`` is the second).
* **Prices.** A simulated prediction contract trades from 0.01 to 0.99 in steps of 0.01 (the
  tape's 8-decimal text, e.g. ``"0.36000000"``): 36 cents, ``"0.3600"`` dollars, the NO side
  ``100 - 36`` cents. The YES price is the price (Kalshi's canonical quote).
* **Taker side.** The tape's taker side is on the YES axis: a buying taker bought YES
  (``"yes"``, book side ``"bid"``), a selling taker bought NO (``"no"``, book side ``"ask"``).
* **Size.** Whole contracts: ``count`` 136 and ``count_fp`` ``"136.00"``.
* **Identity.** Kalshi trade ids are UUIDs; the simulator derives a name-based UUID (version 5)
  from the instrument and the tape's numeric trade id, so the WebSocket and REST copies of a trade
  carry the same id.
* **REST** ``{"trades":[...],"cursor":"..."}``: each trade with ``ticker`` (not ``market_ticker``),
  the deprecated numeric ``price`` (cents), and ``created_time`` in RFC 3339 with milliseconds;
  newest first; an empty cursor ends the walk. The cursor is opaque (base64, like Kalshi's): it names
  the last trade of the page, and the next page holds the trades before it.
* **Replies**: ``subscribed`` (one per channel, ``msg`` = channel and sid), ``unsubscribed`` and
  ``ok`` to ``update_subscription`` carrying a ``seq`` of their sid, ``ok`` with the list of
  subscriptions, and ``error`` frames ``{"id":n,"type":"error","msg":{"code":c,"msg":text}}`` with
  Kalshi's error codes (:data:`ERRORS`).
* **Heartbeat**: a WebSocket Ping frame whose body is ``heartbeat`` (:data:`HEARTBEAT`).

Books, tickers and lifecycle (sources: https://docs.kalshi.com/websockets/orderbook-updates,
https://docs.kalshi.com/websockets/market-ticker-v2, https://docs.kalshi.com/websockets/market-and-event-lifecycle
and the AsyncAPI examples, as :mod:`streaming.venues.kalshi` reads them):

* **Order-book snapshot** ``{"type":"orderbook_snapshot","sid":s,"seq":k,"msg":{...}}``: ``market_ticker``
  and, per side with levels, the legacy cent pairs ``yes``/``no`` (``[[cents, count], ...]``) next to the
  current fixed-point pairs ``yes_dollars_fp``/``no_dollars_fp`` (``[["0.0800", "300.00"], ...]``), by
  ascending price as Kalshi lists them; a side without levels is left out.
* **Order-book delta** ``{"type":"orderbook_delta","sid":s,"seq":k,"msg":{...}}``: ``market_ticker``,
  ``price`` (cents) and ``price_dollars``, the **signed change** ``delta`` and ``delta_fp`` (``"-54.00"``),
  ``side`` (``yes``/``no``: the bid side it changes), ``ts`` (RFC 3339, milliseconds) and ``ts_ms``.
* **Ticker** ``{"type":"ticker_v2","sid":s,"msg":{...}}`` (no ``seq``, as Kalshi's tickers): the last
  trade ``price``, the best YES bid ``yes_bid`` and ask ``yes_ask`` (cents, and ``*_dollars``; ``0`` for an
  empty side), the contracts traded since the previous message ``volume_delta``/``volume_delta_fp`` and
  ``ts`` in seconds. The simulator always sends the current quote and last price (Kalshi's incremental
  ticker may leave unchanged ones out).
* **Lifecycle** ``market_lifecycle_v2`` (``created`` with ``open_ts``/``close_ts`` and
  ``additional_metadata``; ``determined`` with ``result``, ``settlement_value`` and
  ``determination_ts``; ``settled`` with ``settled_ts``) and ``event_lifecycle`` (an event was created:
  ``event_ticker``, ``title``, ``subtitle``, ``series_ticker``), with the ``sid``/``seq`` of the
  ``market_lifecycle_v2`` subscription. Decided here: a market's event ticker is its ticker up to the last
  ``-`` (``KXBTCD-26NOV2117-T95999.99`` -> ``KXBTCD-26NOV2117``), the series ticker the event's up to the
  first ``-``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import heapq
import itertools
import json
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from streaming.simulator.kalshi_book import KalshiBookSnapshot, LevelChange
from streaming.simulator.market import SimTrade
from streaming.simulator.venue import TruthFields
from streaming.venues import kalshi

HEARTBEAT = b"heartbeat"
"""The body of Kalshi's keep-alive Ping frame."""

ERRORS: dict[int, str] = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    6: "Already subscribed",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    16: "Market not found",
    17: "Internal error",
}
"""Kalshi's WebSocket error codes and their messages (the AsyncAPI specification's error table)."""

SECONDS_PER_DAY = 86_400
"""A simulated market closes this long after it opens (its ``close_ts``)."""

HistoryKey = tuple[int, str, int]
"""The order of the REST history: ``(ts_ms, instrument, tape trade id)``."""

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/ticklake/simulator/kalshi/trades")
_HUNDRED = Decimal(100)
_DOLLARS = Decimal("0.0001")
_COUNT = Decimal("0.01")


def trade_id_of(trade: SimTrade) -> str:
    """The Kalshi trade id (a UUID) of a simulated trade: the same on the WebSocket and over REST."""
    return str(uuid.uuid5(_NAMESPACE, f"{trade.instrument}/{trade.trade_id}"))


def cents_of(trade: SimTrade) -> int:
    """The YES price in integer cents (1 to 99).

    Raises:
        ValueError: The price is not a whole number of cents strictly between 0 and 1.
    """
    cents = Decimal(trade.price_text) * _HUNDRED
    if cents != cents.to_integral_value() or not 0 < cents < _HUNDRED:
        raise ValueError(f"{trade.instrument} price {trade.price_text} is not 1 to 99 cents")
    return int(cents)


def count_of(trade: SimTrade) -> int:
    """The contract count (a whole number).

    Raises:
        ValueError: The size is not a positive whole number.
    """
    size = Decimal(trade.size_text)
    if size != size.to_integral_value() or size < 1:
        raise ValueError(f"{trade.instrument} size {trade.size_text} is not a whole number of contracts")
    return int(size)


def dollars(cents: int) -> str:
    """A price in cents as Kalshi's 4-decimal dollar string (36 -> ``"0.3600"``)."""
    return format((Decimal(cents) / _HUNDRED).quantize(_DOLLARS), "f")


def count_fp(count: int) -> str:
    """A count as Kalshi's 2-decimal fixed-point string (136 -> ``"136.00"``)."""
    return format(Decimal(count).quantize(_COUNT), "f")


def taker_outcome_side(trade: SimTrade) -> str:
    """``"yes"`` for a buying taker (bought YES), ``"no"`` for a selling one (bought NO)."""
    return "yes" if trade.side == "buy" else "no"


def _common(trade: SimTrade) -> dict[str, Any]:
    """The price, count and taker fields shared by the WebSocket and REST trade."""
    cents = cents_of(trade)
    count = count_of(trade)
    outcome = taker_outcome_side(trade)
    return {
        "yes_price": cents,
        "yes_price_dollars": dollars(cents),
        "no_price": 100 - cents,
        "no_price_dollars": dollars(100 - cents),
        "count": count,
        "count_fp": count_fp(count),
        "taker_side": outcome,
        "taker_outcome_side": outcome,
        "taker_book_side": "bid" if outcome == "yes" else "ask",
        "is_block_trade": False,
    }


def trade_message(trade: SimTrade) -> dict[str, Any]:
    """The ``msg`` of a trade's WebSocket message."""
    return {
        "trade_id": trade_id_of(trade),
        "market_ticker": kalshi.to_symbol(trade.instrument),
        **_common(trade),
        "ts": trade.ts_ms // 1000,
    }


def trade_frame(trade: SimTrade, sid: int, seq: int) -> str:
    """The WebSocket frame of a trade on subscription ``sid`` at position ``seq``."""
    return _dump({"type": "trade", "sid": sid, "seq": seq, "msg": trade_message(trade)})


def truth_of(trade: SimTrade) -> TruthFields:
    """How :func:`streaming.venues.kalshi.parse` reads the trade's WebSocket frame."""
    cents = cents_of(trade)
    return TruthFields(
        trade_id=trade_id_of(trade),
        price=Decimal(dollars(cents)),
        size=Decimal(count_fp(count_of(trade))),
        ts_event=trade.ts_ms // 1000 * 1_000_000_000,
    )


# --- replies -----------------------------------------------------------------------------------


def subscribed(request_id: int | None, channel: str, sid: int) -> str:
    """The reply to a ``subscribe`` command, one per channel subscribed."""
    return _dump({**_id(request_id), "type": "subscribed", "msg": {"channel": channel, "sid": sid}})


def unsubscribed(request_id: int | None, sid: int, seq: int) -> str:
    """The reply to an ``unsubscribe`` command, one per sid (it takes a ``seq`` of that sid)."""
    return _dump({**_id(request_id), "sid": sid, "seq": seq, "type": "unsubscribed"})


def updated(request_id: int | None, sid: int, seq: int, market_tickers: Sequence[str]) -> str:
    """The ``ok`` reply to ``update_subscription`` (it takes a ``seq`` of the sid): the markets now covered."""
    return _dump({**_id(request_id), "sid": sid, "seq": seq, "type": "ok", "msg": {"market_tickers": market_tickers}})


def subscription_list(request_id: int | None, subscriptions: Iterable[tuple[str, int]]) -> str:
    """The ``ok`` reply to ``list_subscriptions``: ``(channel, sid)`` pairs."""
    listed = [{"channel": channel, "sid": sid} for channel, sid in subscriptions]
    return _dump({**_id(request_id), "type": "ok", "msg": listed})


def error(request_id: int | None, code: int, detail: str | None = None) -> str:
    """An error frame with one of Kalshi's codes (:data:`ERRORS`), its message optionally detailed.

    Raises:
        KeyError: Not a Kalshi error code.
    """
    text = ERRORS[code] if detail is None else f"{ERRORS[code]}: {detail}"
    return _dump({**_id(request_id), "type": "error", "msg": {"code": code, "msg": text}})


def _id(request_id: int | None) -> dict[str, int]:
    return {} if request_id is None else {"id": request_id}


def _dump(document: object) -> str:
    return json.dumps(document, separators=(",", ":"))


# --- REST history ------------------------------------------------------------------------------


def created_time(ts_ms: int) -> str:
    """An epoch-millisecond time as Kalshi's RFC 3339 ``created_time`` (``"2025-11-21T22:00:00.123Z"``)."""
    seconds, millis = divmod(ts_ms, 1000)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def rest_trade(trade: SimTrade) -> dict[str, Any]:
    """A trade as ``GET /trade-api/v2/markets/trades`` lists it."""
    common = _common(trade)
    return {
        "trade_id": trade_id_of(trade),
        "ticker": kalshi.to_symbol(trade.instrument),
        "price": common["yes_price"],
        **common,
        "created_time": created_time(trade.ts_ms),
    }


def rest_page(trades: Sequence[SimTrade], cursor: HistoryKey | None) -> dict[str, Any]:
    """A page of ``GET /trade-api/v2/markets/trades``: the trades (newest first) and the next cursor."""
    return {"trades": [rest_trade(t) for t in trades], "cursor": "" if cursor is None else encode_cursor(cursor)}


def rest_error(code: str, message: str) -> dict[str, Any]:
    """A Kalshi REST error document."""
    return {"error": {"code": code, "message": message}}


def history_key(trade: SimTrade) -> HistoryKey:
    """The position of a trade in the REST history (older trades have smaller keys)."""
    return (trade.ts_ms, trade.instrument, trade.trade_id)


def encode_cursor(key: HistoryKey) -> str:
    """The opaque cursor naming the last trade of a page."""
    ts_ms, instrument, trade_id = key
    return base64.urlsafe_b64encode(f"{ts_ms}:{trade_id}:{instrument}".encode()).decode("ascii")


def decode_cursor(cursor: str) -> HistoryKey:
    """The history position a cursor names.

    Raises:
        ValueError: Not a cursor of :func:`encode_cursor`.
    """
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
        ts_ms, trade_id, instrument = text.split(":", 2)
        key = (int(ts_ms), instrument, int(trade_id))
    except (ValueError, UnicodeError, binascii.Error):
        raise ValueError(f"invalid cursor {cursor[:80]!r}") from None
    if encode_cursor(key) != cursor:
        raise ValueError(f"invalid cursor {cursor[:80]!r}")
    return key


def _ts_ms(trade: SimTrade) -> int:
    return trade.ts_ms


def history_page(
    histories: Iterable[Sequence[SimTrade]],
    *,
    before: HistoryKey | None,
    min_ts: int | None,
    max_ts: int | None,
    limit: int,
) -> tuple[list[SimTrade], HistoryKey | None]:
    """One page of the history, newest first, as ``GET /markets/trades`` pages it.

    Args:
        histories: The trades of each instrument listed, each oldest first (sorted by :func:`history_key`).
        before: Only trades older than this position (the cursor), or ``None`` for the newest.
        min_ts: Only trades after this epoch second (``created_time > min_ts``), or ``None``.
        max_ts: Only trades before this epoch second (``created_time < max_ts``), or ``None``.
        limit: The page size.

    Returns:
        The page, newest first, and the position to continue before (``None`` when nothing is left).
    """
    candidates: list[list[SimTrade]] = []
    for trades in histories:
        high = len(trades) if before is None else bisect.bisect_left(trades, before, key=history_key)
        if max_ts is not None:
            high = min(high, bisect.bisect_left(trades, max_ts * 1000, key=_ts_ms))
        low = 0 if min_ts is None else bisect.bisect_right(trades, min_ts * 1000, key=_ts_ms)
        candidates.append(list(trades[max(low, high - limit - 1) : high])[::-1] if high > low else [])
    merged = list(itertools.islice(heapq.merge(*candidates, key=history_key, reverse=True), limit + 1))
    page = merged[:limit]
    return page, history_key(page[-1]) if len(merged) > limit else None


# --- books -------------------------------------------------------------------------------------


def snapshot_message(instrument: str, snapshot: KalshiBookSnapshot) -> dict[str, Any]:
    """The ``msg`` of an ``orderbook_snapshot``: both encodings of each side that has levels."""
    message: dict[str, Any] = {"market_ticker": kalshi.to_symbol(instrument)}
    for side, levels in (("yes", snapshot.yes), ("no", snapshot.no)):
        if levels:
            message[side] = [[cents, count] for cents, count in levels]
            message[f"{side}_dollars_fp"] = [[dollars(cents), count_fp(count)] for cents, count in levels]
    return message


def snapshot_frame(instrument: str, snapshot: KalshiBookSnapshot, sid: int, seq: int) -> str:
    """The ``orderbook_snapshot`` frame of a market's book on subscription ``sid`` at position ``seq``."""
    return _dump({"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": snapshot_message(instrument, snapshot)})


def delta_message(instrument: str, change: LevelChange, ts_ms: int) -> dict[str, Any]:
    """The ``msg`` of an ``orderbook_delta``: one level's signed change, at epoch milliseconds ``ts_ms``."""
    return {
        "market_ticker": kalshi.to_symbol(instrument),
        "price": change.price,
        "price_dollars": dollars(change.price),
        "delta": change.delta,
        "delta_fp": count_fp(change.delta),
        "side": change.side,
        "ts": created_time(ts_ms),
        "ts_ms": ts_ms,
    }


def delta_frame(instrument: str, change: LevelChange, sid: int, seq: int, ts_ms: int) -> str:
    """The ``orderbook_delta`` frame of one level change on subscription ``sid`` at position ``seq``."""
    return _dump({"type": "orderbook_delta", "sid": sid, "seq": seq, "msg": delta_message(instrument, change, ts_ms)})


def yes_axis(snapshot: KalshiBookSnapshot) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """The book on the YES price axis, as the parser reads it: bids (YES bids), asks (``1 -`` each NO bid)."""
    bids = {Decimal(cents) / _HUNDRED: Decimal(count) for cents, count in snapshot.yes}
    asks = {1 - Decimal(cents) / _HUNDRED: Decimal(count) for cents, count in snapshot.no}
    return bids, asks


# --- ticker ------------------------------------------------------------------------------------


def ticker_v2_message(instrument: str, price: int, bid: int, ask: int, volume: int, ts: int) -> dict[str, Any]:
    """The ``msg`` of a ``ticker_v2`` message.

    Args:
        instrument: The canonical instrument.
        price: The last trade's YES price in cents.
        bid: The best YES bid in cents (0: none).
        ask: The best YES ask in cents (0: none).
        volume: Contracts traded since the previous message.
        ts: Epoch seconds.
    """
    return {
        "market_ticker": kalshi.to_symbol(instrument),
        "price": price,
        "price_dollars": dollars(price),
        "yes_bid": bid,
        "yes_bid_dollars": dollars(bid),
        "yes_ask": ask,
        "yes_ask_dollars": dollars(ask),
        "volume_delta": volume,
        "volume_delta_fp": count_fp(volume),
        "ts": ts,
    }


def ticker_v2_frame(instrument: str, price: int, bid: int, ask: int, volume: int, ts: int, sid: int) -> str:
    """The ``ticker_v2`` frame (no ``seq``) on subscription ``sid`` (see :func:`ticker_v2_message`)."""
    return _dump({"type": "ticker_v2", "sid": sid, "msg": ticker_v2_message(instrument, price, bid, ask, volume, ts)})


# --- lifecycle ---------------------------------------------------------------------------------


def event_ticker_of(instrument: str) -> str:
    """The event ticker of a market: its ticker up to the last ``-`` (the whole ticker if it has none)."""
    ticker = kalshi.to_symbol(instrument)
    return ticker.rsplit("-", 1)[0] if "-" in ticker else ticker


def event_created_message(event_ticker: str) -> dict[str, Any]:
    """The ``msg`` of an ``event_lifecycle`` message: the event was created."""
    return {
        "event_ticker": event_ticker,
        "title": f"Simulated event {event_ticker}",
        "subtitle": "",
        "series_ticker": event_ticker.split("-", 1)[0],
    }


def market_created_message(instrument: str, open_ts: int) -> dict[str, Any]:
    """The ``msg`` of a ``market_lifecycle_v2`` ``created`` event: the market opens at ``open_ts`` (seconds)."""
    ticker = kalshi.to_symbol(instrument)
    close_ts = open_ts + SECONDS_PER_DAY
    return {
        "market_ticker": ticker,
        "event_type": "created",
        "open_ts": open_ts,
        "close_ts": close_ts,
        "additional_metadata": {
            "title": f"Simulated market {ticker}",
            "yes_sub_title": "Yes",
            "no_sub_title": "No",
            "can_close_early": True,
            "event_ticker": event_ticker_of(instrument),
            "expected_expiration_ts": close_ts,
        },
    }


def market_determined_message(instrument: str, result: str, ts: int) -> dict[str, Any]:
    """The ``msg`` of a ``determined`` event: ``result`` ``yes`` or ``no``, at epoch second ``ts``."""
    return {
        "market_ticker": kalshi.to_symbol(instrument),
        "event_type": "determined",
        "result": result,
        "settlement_value": dollars(100 if result == "yes" else 0),
        "determination_ts": ts,
    }


def market_settled_message(instrument: str, ts: int) -> dict[str, Any]:
    """The ``msg`` of a ``settled`` event (positions paid out) at epoch second ``ts``."""
    return {"market_ticker": kalshi.to_symbol(instrument), "event_type": "settled", "settled_ts": ts}


def lifecycle_frame(message_type: str, message: dict[str, Any], sid: int, seq: int) -> str:
    """A lifecycle frame (``market_lifecycle_v2`` or ``event_lifecycle``) on subscription ``sid`` at ``seq``."""
    return _dump({"type": message_type, "sid": sid, "seq": seq, "msg": message})
