"""Render simulated trades exactly as Kraken Futures (WebSocket v1 and the REST market history) sends them.

Pure functions, no I/O and no clock (times are arguments). The shapes follow :mod:`streaming.venues.krakenfutures`
(which cites the Kraken Futures documentation, https://docs.kraken.com/api/docs/futures-api/websocket/trade,
``.../websocket/heartbeat``, and "Get public execution events",
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

Trade frames are built with string formatting rather than a JSON encoder: every interpolated value is an
integer, a number literal, a UUID, a side, or a product id (letters, digits and ``_``), none of which needs
escaping.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from streaming.simulator.market import SimTrade
from streaming.venues import krakenfutures
from streaming.venues.wire import NS_PER_MILLISECOND

_USD_CENT = Decimal("0.01")
_INVERSE_PREFIXES = ("PI_", "FI_")


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
