"""Render simulated trades and books exactly as Polymarket's CLOB market channel and Data API send them.

Pure functions, no I/O and no clock (the caller passes every time). The shapes follow
:mod:`streaming.venues.polymarket` (which cites the Polymarket documentation) and the frames of
``tests/fixtures/polymarket``:

* **last_trade_price** -- ``{"event_type", "asset_id", "market", "price", "size", "fee_rate_bps",
  "side", "timestamp", "transaction_hash"}`` (the key order of the documentation's example,
  https://docs.polymarket.com/api-reference/wss/market): prices and sizes are decimal strings without
  trailing zeros (``"0.48"``, ``"0.5"``, ``"40"``), ``side`` is the taker's ``BUY``/``SELL``, the time is
  epoch milliseconds as a string. The simulator has no chain, so each trade gets a deterministic
  transaction hash: ``0x`` + the SHA-256 of its instrument and venue trade id (:func:`transaction_hash`),
  which the parser turns into the trade id, and which the Data API rows repeat as ``transactionHash``.
* **book** -- the full snapshot of one asset, in the field order of public captures (``market``,
  ``asset_id``, ``timestamp``, ``hash``, ``bids``, ``asks``, ``tick_size``, ``last_trade_price``,
  ``event_type``); bids ascending and asks descending (best last), as the venue sends them
  (https://docs.polymarket.com/market-data/prices-order-books). ``hash`` is the venue's book hash
  (:func:`streaming.venues.polymarket.book_hash`) of the full ``GET /book`` summary, which also carries
  ``min_order_size`` and ``neg_risk`` (:func:`book_summary`). Several books go out as one JSON array,
  like the venue's initial dump.
* **Data API ``/trades`` rows** (https://docs.polymarket.com/developers/CLOB/trades/trades-data-api):
  ``price`` and ``size`` as JSON *numbers*, ``timestamp`` in integer *seconds*, ``side`` the taker's
  (``takerOnly=true``, the default) or the maker's, and ``transactionHash``.
* Control texts: ``PONG`` (the answer to the client's ``PING``) and ``INVALID OPERATION``.

Markets: an outcome token (asset) belongs to a market (condition id). The simulator pairs the
configured instruments in order -- the 1st and 2nd are the ``Yes``/``No`` tokens of one binary market,
the 3rd and 4th of the next, a last odd one is alone -- with a condition id derived from the pair's
asset ids (:func:`sim_markets`). The two tokens trade independently here (their prices need not add up
to 1); what matters is that the Data API, which filters by market, returns both outcomes' rows.

Rendering uses plain string formatting where every interpolated value is digits, hex, a decimal text, a
side or a fixed word, none of which needs JSON escaping.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from streaming.simulator.market import SimTrade
from streaming.venues import polymarket

PONG = "PONG"
"""The server's answer to the client's text ``PING``."""

INVALID_OPERATION = "INVALID OPERATION"
"""The server's plain-text answer to a request it cannot use."""

TICK_SIZE = "0.01"
MIN_ORDER_SIZE = "5"
FEE_RATE_BPS = "0"
BOOK_LEVELS = 3
"""Price levels per side of a simulated book."""

_CENTS = 100
_OUTCOMES = ("Yes", "No")


@dataclasses.dataclass(frozen=True, slots=True)
class SimMarket:
    """One simulated market (condition) and its outcome tokens.

    Attributes:
        condition_id: ``0x`` + 64 hex digits.
        number: 1-based position among the simulated markets (names its title and slug).
        assets: The outcome tokens' asset ids, in outcome order.
        outcomes: The outcome labels, aligned with ``assets``.
    """

    condition_id: str
    number: int
    assets: tuple[str, ...]
    outcomes: tuple[str, ...]

    @property
    def title(self) -> str:
        """The market's question."""
        return f"Simulated market {self.number}?"

    @property
    def slug(self) -> str:
        """The market's slug."""
        return f"ticklake-simulated-market-{self.number}"


def sim_markets(instruments: Sequence[str]) -> dict[str, SimMarket]:
    """The market of every instrument: consecutive pairs of instruments are the outcomes of one market.

    Args:
        instruments: Canonical ``POLYMARKET:<asset_id>`` instruments, in configured order.

    Returns:
        Instrument -> its market.

    Raises:
        ValueError: An instrument is not a Polymarket instrument.
    """
    assets = [polymarket.to_symbol(instrument) for instrument in instruments]
    markets: dict[str, SimMarket] = {}
    for start in range(0, len(assets), 2):
        pair = tuple(assets[start : start + 2])
        digest = hashlib.sha256(("ticklake-sim/polymarket/market/" + "/".join(pair)).encode()).hexdigest()
        market = SimMarket("0x" + digest, start // 2 + 1, pair, _OUTCOMES[: len(pair)])
        for instrument in instruments[start : start + 2]:
            markets[instrument] = market
    return markets


def decimal_text(text: str) -> str:
    """Decimal text as the venue writes it: no trailing fractional zeros (``"0.48000000"`` -> ``"0.48"``)."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def price_text(trade: SimTrade) -> str:
    """The trade price as the venue renders it (``"0.48"``)."""
    return decimal_text(trade.price_text)


def size_text(trade: SimTrade) -> str:
    """The trade size as the venue renders it (``"40"``)."""
    return decimal_text(trade.size_text)


def transaction_hash(trade: SimTrade) -> str:
    """The trade's deterministic Polygon transaction hash: ``0x`` + 64 lower-case hex digits."""
    return "0x" + hashlib.sha256(f"ticklake-sim/polymarket/{trade.instrument}/{trade.trade_id}".encode()).hexdigest()


def trade_id_of(trade: SimTrade) -> str:
    """The trade id :func:`streaming.venues.polymarket.parse` reads from the trade's frame (its hash)."""
    return polymarket.trade_id(
        polymarket.to_symbol(trade.instrument),
        trade.ts_ms,
        Decimal(price_text(trade)),
        Decimal(size_text(trade)),
        trade.side,
        transaction_hash(trade),
    )


def _side(side: str) -> str:
    return "BUY" if side == "buy" else "SELL"


def trade_frame(trade: SimTrade, market: str) -> str:
    """The ``last_trade_price`` frame of a trade.

    Args:
        trade: The simulated trade.
        market: The condition id of the trade's market.

    Returns:
        The JSON text of the frame.
    """
    return (
        f'{{"event_type":"last_trade_price","asset_id":"{polymarket.to_symbol(trade.instrument)}",'
        f'"market":"{market}","price":"{price_text(trade)}","size":"{size_text(trade)}",'
        f'"fee_rate_bps":"{FEE_RATE_BPS}","side":"{_side(trade.side)}","timestamp":"{trade.ts_ms}",'
        f'"transaction_hash":"{transaction_hash(trade)}"}}'
    )


def _cents_text(cents: int) -> str:
    return decimal_text(f"{cents // _CENTS}.{cents % _CENTS:02d}")


def book_summary(asset_id: str, market: str, last_trade_price: str, ts_ms: int) -> dict[str, Any]:
    """The ``GET /book`` summary of a simulated book around the last trade price, with its hash.

    The book holds :data:`BOOK_LEVELS` levels a cent apart on each side of the last price (within
    0.01..0.99), sizes derived from the price, so that the same price always gives the same book.

    Args:
        asset_id: The asset.
        market: Its condition id.
        last_trade_price: The last trade price (decimal text, a whole number of cents).
        ts_ms: The book time, epoch milliseconds.

    Returns:
        The summary in the venue's field order: ``market, asset_id, timestamp, hash, bids, asks,
        min_order_size, tick_size, neg_risk, last_trade_price`` (all strings but ``neg_risk``).
    """
    cents = int(Decimal(last_trade_price) * _CENTS)
    bids = [cents - k for k in range(BOOK_LEVELS, 0, -1) if cents - k >= 1]  # ascending, best last
    asks = [cents + k for k in range(BOOK_LEVELS, 0, -1) if cents + k <= _CENTS - 1]  # descending, best last
    summary: dict[str, Any] = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": str(ts_ms),
        "hash": "",
        "bids": [{"price": _cents_text(c), "size": _level_size(c, cents)} for c in bids],
        "asks": [{"price": _cents_text(c), "size": _level_size(c, cents)} for c in asks],
        "min_order_size": MIN_ORDER_SIZE,
        "tick_size": TICK_SIZE,
        "neg_risk": False,
        "last_trade_price": decimal_text(last_trade_price),
    }
    summary["hash"] = polymarket.book_hash(summary)
    return summary


def _level_size(level_cents: int, mid_cents: int) -> str:
    distance = abs(level_cents - mid_cents)
    return decimal_text(f"{40 * distance + level_cents}.{(level_cents * 37) % 100:02d}")


def book_message(summary: dict[str, Any]) -> dict[str, Any]:
    """The market channel's ``book`` message of a summary (without ``min_order_size`` and ``neg_risk``)."""
    message = {key: summary[key] for key in ("market", "asset_id", "timestamp", "hash", "bids", "asks")}
    message["tick_size"] = summary["tick_size"]
    message["last_trade_price"] = summary["last_trade_price"]
    message["event_type"] = "book"
    return message


def books_frame(summaries: Iterable[dict[str, Any]]) -> str:
    """One frame holding the ``book`` messages of several assets (a JSON array, like the initial dump)."""
    return _json([book_message(summary) for summary in summaries])


def rest_book_body(summary: dict[str, Any]) -> str:
    """The ``GET /book`` response body of a summary."""
    return _json(summary)


def rest_trade_row(trade: SimTrade, market: SimMarket, *, taker: bool = True) -> str:
    """One Data API ``/trades`` row of a trade, as JSON text.

    Args:
        trade: The simulated trade.
        market: Its market.
        taker: The taker's row (``side`` the taker side) or, for ``takerOnly=false``, the maker's
            (the opposite side, another wallet, the same transaction).

    Returns:
        The JSON object text; ``price`` and ``size`` are JSON numbers, ``timestamp`` integer seconds.
    """
    asset_id = polymarket.to_symbol(trade.instrument)
    index = market.assets.index(asset_id)
    side = trade.side if taker else ("sell" if trade.side == "buy" else "buy")
    wallet = "0x" + hashlib.sha256(f"{trade.instrument}/{trade.trade_id}/{taker}".encode()).hexdigest()[:40]
    title, slug, outcome = json.dumps(market.title), json.dumps(market.slug), json.dumps(market.outcomes[index])
    return (
        f'{{"proxyWallet":"{wallet}","side":"{_side(side)}","asset":"{asset_id}",'
        f'"conditionId":"{market.condition_id}","size":{size_text(trade)},"price":{price_text(trade)},'
        f'"timestamp":{trade.ts_ms // 1000},"title":{title},"slug":{slug},"icon":"","eventSlug":{slug},'
        f'"outcome":{outcome},"outcomeIndex":{index},"name":"","pseudonym":"","bio":"","profileImage":"",'
        f'"profileImageOptimized":"","transactionHash":"{transaction_hash(trade)}"}}'
    )


def rest_trades_body(rows: Iterable[str]) -> str:
    """A Data API ``/trades`` response body: the rows as one JSON array."""
    return "[" + ",".join(rows) + "]"


def error_body(message: str) -> dict[str, str]:
    """The JSON error document of the venue's REST endpoints (``{"error": ...}``)."""
    return {"error": message}


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
