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

import datetime
import functools
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from contracts.instruments import split_spot
from streaming.simulator.market import SimTrade
from streaming.venues import kraken

API_VERSION = "v2"
ENGINE_VERSION = "2.0.10"
"""The ``version`` a status frame reports (the one of the captured status frame)."""

HEARTBEAT = '{"channel":"heartbeat"}'
"""The heartbeat frame, sent about once a second to subscribed connections."""

SNAPSHOT_TRADES = 50
"""Trades in a trade snapshot: "the 50 most recent trades" (trade reference)."""

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
