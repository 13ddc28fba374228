"""Render simulated trades, books and market events exactly as Polymarket's CLOB market channel and Data API send them.

Pure: no I/O and no clock (the caller passes every time); :class:`ProbabilityBook` is a pure state machine
driven by the trade tape. The shapes follow :mod:`streaming.venues.polymarket` (which cites the Polymarket
documentation: the market-channel page https://docs.polymarket.com/market-data/websocket/market-channel, its
AsyncAPI reference https://docs.polymarket.com/api-reference/wss/market and the price_change migration guide
https://docs.polymarket.com/developers/CLOB/websocket/market-channel-migration-guide) and the frames of
``tests/fixtures/polymarket``:

* **last_trade_price** -- ``{"event_type", "asset_id", "market", "price", "size", "fee_rate_bps",
  "side", "timestamp", "transaction_hash"}`` (the key order of the documentation's example): prices and
  sizes are decimal strings without trailing zeros (``"0.48"``, ``"0.5"``, ``"40"``), ``side`` is the
  taker's ``BUY``/``SELL``, the time is epoch milliseconds as a string. The simulator has no chain, so
  each trade gets a deterministic transaction hash: ``0x`` + the SHA-256 of its instrument and venue
  trade id (:func:`transaction_hash`), which the parser turns into the trade id, and which the Data API
  rows repeat as ``transactionHash``.
* **book** -- the full snapshot of one asset, in the field order of public captures (``market``,
  ``asset_id``, ``timestamp``, ``hash``, ``bids``, ``asks``, ``tick_size``, ``last_trade_price``,
  ``event_type``); bids ascending and asks descending (best last), as the venue sends them
  (https://docs.polymarket.com/market-data/prices-order-books). ``hash`` is the venue's book hash
  (:func:`streaming.venues.polymarket.book_hash`) of the full ``GET /book`` summary, which also carries
  ``min_order_size`` and ``neg_risk`` (:func:`book_summary`). Several books go out as one JSON array,
  like the venue's initial dump.
* **price_change** -- the current format (since 2025-09-15): ``{"market", "price_changes": [{"asset_id",
  "price", "size", "side", "hash", "best_bid", "best_ask"}], "timestamp", "event_type"}`` (the key order
  of the market-channel page's example). ``size`` is the level's new aggregate size (``"0"`` removes
  it), ``side`` is ``BUY`` for a bid level and ``SELL`` for an ask level, and ``best_bid``/``best_ask``
  are the asset's top of book after that entry, ``"0"``/``"1"`` for an empty side (the migration
  guide's example). The documentation calls ``hash`` the hash of the order; the simulator's is the
  SHA-1 of the asset and the order event's number (:func:`order_hash`), which nobody can check.
* **best_bid_ask** -- ``{"event_type", "market", "asset_id", "best_bid", "best_ask", "spread",
  "timestamp"}`` (the documentation's key order); ``spread`` is ``best_ask - best_bid`` with the same
  ``"0"``/``"1"`` sentinels (the fixture ``best_bid_ask_empty_bid_side`` shows ``"0"``, ``".999"``,
  ``"0.999"``).
* **tick_size_change** -- ``{"event_type", "asset_id", "market", "old_tick_size", "new_tick_size",
  "timestamp"}``. The venue's rule (the documentation of the event, as its readers repeat it: the tick size
  changes when the book's price goes above 0.96 or below 0.04): ``0.001`` beyond those limits,
  ``0.01`` within them (:func:`tick_size_of`). The simulator takes the last trade price as "the book's
  price" (a decision: the documentation does not say which price).
* **new_market** -- ``{"id", "question", "market", "slug", "description", "assets_ids", "outcomes",
  "timestamp", "active", "event_type"}`` and **market_resolved** -- ``{"id", "question", "market",
  "slug", "description", "assets_ids", "outcomes", "winning_asset_id", "winning_outcome", "timestamp",
  "event_type"}``: the documentation's examples without their ``event_message`` (the parent event).
* **Data API ``/trades`` rows** (https://docs.polymarket.com/developers/CLOB/trades/trades-data-api):
  ``price`` and ``size`` as JSON *numbers*, ``timestamp`` in integer *seconds*, ``side`` the taker's
  (``takerOnly=true``, the default) or the maker's, and ``transactionHash``.
* Control texts: ``PONG`` (the answer to the client's ``PING``) and ``INVALID OPERATION``.

Markets: an outcome token (asset) belongs to a market (condition id). The simulator pairs the
configured instruments in order -- the 1st and 2nd are the ``Yes``/``No`` tokens of one binary market,
the 3rd and 4th of the next, a last odd one is alone -- with a condition id derived from the pair's
asset ids (:func:`sim_markets`). The two tokens trade independently here (their prices and books need
not mirror each other); what matters is that the Data API, which filters by market, returns both
outcomes' rows.

Books: :class:`ProbabilityBook`, one per asset, levels on whole cents within 0.01..0.99 and sizes in
hundredths of a share, driven by the tape (see the class). Prices are rendered like the trades'
(``"0.48"``, ``"0.5"``), sizes without trailing zeros (``"152.5"``, ``"40"``).

Rendering uses plain string formatting where every interpolated value is digits, hex, a decimal text, a
side or a fixed word, none of which needs JSON escaping; texts (questions, slugs) go through ``json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

from streaming.simulator.market import SimTrade, profile_of
from streaming.venues import polymarket

PONG = "PONG"
"""The server's answer to the client's text ``PING``."""

INVALID_OPERATION = "INVALID OPERATION"
"""The server's plain-text answer to a request it cannot use."""

TICK_SIZE = "0.01"
"""The tick size of a market priced within 0.04..0.96."""

FINE_TICK_SIZE = "0.001"
"""The tick size beyond those limits (price > 0.96 or < 0.04)."""

MIN_ORDER_SIZE = "5"
FEE_RATE_BPS = "0"
DEPTH = 8
"""Price levels per side a simulated book keeps at least (and at most twice as many), prices permitting."""

BookSide = Literal["buy", "sell"]
"""A book side as the wire names it: ``BUY`` are the bids, ``SELL`` the asks."""

_CENTS = 100
_LOW_CENTS = 4  # below 0.04: the fine tick
_HIGH_CENTS = 96  # above 0.96: the fine tick
_OUTCOMES = ("Yes", "No")
_MIN_SIZE = 500  # hundredths of a share: the minimum order size, 5
_MAX_SIZE = 50_000  # 500 shares
_MAX_EVENTS = 3  # order events after each trade, at most


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

    @property
    def market_id(self) -> str:
        """The market's numeric id (the Gamma API's ``id``), as text."""
        return str(1_000_000 + self.number)


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


# --- the simulated book ----------------------------------------------------------------------------


def cents_text(cents: int) -> str:
    """A price in whole cents as the venue writes it (``48`` -> ``"0.48"``, ``50`` -> ``"0.5"``)."""
    return decimal_text(f"{cents // _CENTS}.{cents % _CENTS:02d}")


def hundredths_text(hundredths: int) -> str:
    """A size in hundredths of a share as the venue writes it (``15250`` -> ``"152.5"``, ``4000`` -> ``"40"``)."""
    return decimal_text(f"{hundredths // 100}.{hundredths % 100:02d}")


def cents_of(price: str) -> int:
    """A decimal price text in whole cents (``"0.48000000"`` -> ``48``).

    Raises:
        ValueError: The price is not a whole number of cents.
    """
    value = Decimal(price) * _CENTS
    if value != value.to_integral_value():
        raise ValueError(f"price {price!r} is not a whole number of cents")
    return int(value)


def tick_size_of(cents: int) -> str:
    """The tick size of a market whose price is ``cents``: :data:`FINE_TICK_SIZE` beyond 0.04..0.96, else 0.01."""
    return FINE_TICK_SIZE if cents < _LOW_CENTS or cents > _HIGH_CENTS else TICK_SIZE


@dataclasses.dataclass(frozen=True, slots=True)
class BookLevels:
    """The levels of one asset's book, in the venue's wire order.

    Attributes:
        bids: ``(cents, hundredths)`` ascending by price: the best bid last.
        asks: ``(cents, hundredths)`` descending by price: the best ask last.
    """

    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """One entry of a ``price_change``: a level's new aggregate size and the top of book after it.

    Attributes:
        side: ``"buy"`` (a bid level) or ``"sell"`` (an ask level).
        cents: The level's price in cents.
        size: The level's new size in hundredths of a share; 0 removes it.
        best_bid: The best bid after the change, in cents (``None``: no bid).
        best_ask: The best ask after the change, in cents (``None``: no ask).
    """

    side: BookSide
    cents: int
    size: int
    best_bid: int | None
    best_ask: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class OrderEvent:
    """One order placed or cancelled on the venue: the level changes it made, one ``price_change`` message.

    Attributes:
        number: The event's number in its book (1, 2, ...), which names its order hash.
        changes: The changed levels, in order (the order's level, then any level the book refilled).
    """

    number: int
    changes: tuple[Change, ...]


def opening_levels(cents: int, depth: int = DEPTH) -> BookLevels:
    """The book of an asset that has just opened around a price: ``depth`` levels a cent apart on each side.

    Sizes depend on the level only, so the same price always gives the same book.

    Args:
        cents: The price the book opens around (it holds no level at that price).
        depth: Levels per side, within 0.01..0.99.

    Returns:
        The levels, best last on both sides.
    """
    bids = tuple((c, _opening_size(c, cents)) for c in range(cents - depth, cents) if c >= 1)
    asks = tuple((c, _opening_size(c, cents)) for c in range(cents + depth, cents, -1) if c <= _CENTS - 1)
    return BookLevels(bids, asks)


def _opening_size(level_cents: int, mid_cents: int) -> int:
    distance = abs(level_cents - mid_cents)
    return (40 * distance + level_cents) * 100 + (level_cents * 37) % 100


class ProbabilityBook:
    """The simulated book of one outcome token: whole-cent levels within 0.01..0.99, driven by the trade tape.

    Pure and deterministic (its own :class:`random.Random`, seeded from the simulator seed and the
    instrument), so the same seed and tape always give the same book and the same order events:

    * **Opening**: :func:`opening_levels` around the profile's start price (0.50).
    * **A trade** (:meth:`on_trade`) consumes liquidity like a taker: a buy at ``p`` removes the asks
      below ``p``, shrinks the ask at ``p`` by the trade size (clearing it when nothing is left) and
      removes the bids at or above ``p``; a sell mirrors it. Then each side is refilled to
      :attr:`depth` levels from its far end (an empty side from next to the price) and trimmed to
      ``2 * depth``. The venue reports a trade's effect on the book with a ``book`` snapshot (the
      documentation: a ``book`` is emitted "when there is a trade that affects the book"), so these
      changes are not listed one by one.
    * **Order events** (:meth:`order_draws` times :meth:`order_event`, or :meth:`order_flow`) follow
      every trade: one to three orders placed or cancelled (each a ``price_change``, which is "emitted
      when a new order is placed or an order is cancelled"): a new best level one cent inside the
      spread, the best level cancelled, or a new size at one of the ``depth`` levels of a side next to
      the last price (a level cancelled sometimes), so that the book follows the price. Many change the
      top of book, as on the venue, so a lost ``price_change`` shows in the ``best_bid`` / ``best_ask``
      of the next one.
    * **Tick size**: :func:`tick_size_of` the last trade price. The levels stay on whole cents (the tape
      trades in cents), which are valid prices under either tick size.

    The book never crosses. Sizes are hundredths of a share; new orders hold at least the minimum order
    size (5), a partly filled level may hold less.

    Args:
        seed: The simulator seed.
        instrument: The canonical instrument (its profile gives the start price).
        depth: Levels per side kept at least.
    """

    def __init__(self, seed: int, instrument: str, depth: int = DEPTH) -> None:
        self.instrument = instrument
        self.depth = depth
        self._rng = random.Random(f"ticklake-simulator-polymarket-book/{seed}/{instrument}")
        self.last = cents_of(profile_of(instrument).start_price)
        """The last trade price in cents (the start price before any trade)."""
        opening = opening_levels(self.last, depth)
        self.bids: dict[int, int] = dict(opening.bids)
        self.asks: dict[int, int] = dict(opening.asks)
        self.tick_size = tick_size_of(self.last)
        self.events = 0
        """Order events so far."""

    # --- reading -------------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        """The best bid in cents, or ``None``."""
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        """The best ask in cents, or ``None``."""
        return min(self.asks) if self.asks else None

    def levels(self) -> BookLevels:
        """The whole book in the venue's order (best last on both sides)."""
        return BookLevels(tuple(sorted(self.bids.items())), tuple(sorted(self.asks.items(), reverse=True)))

    # --- changing ------------------------------------------------------------------------------

    def on_trade(self, trade: SimTrade) -> tuple[str, str] | None:
        """Apply one trade of the tape: the taker consumes liquidity, the sides are refilled.

        Args:
            trade: The trade (a whole number of cents within 0.01..0.99, a whole number of shares).

        Returns:
            ``(old, new)`` tick sizes when the trade moved the price across 0.04 or 0.96, else ``None``.
        """
        price = cents_of(trade.price_text)
        size = int(Decimal(trade.size_text) * 100)
        if trade.side == "buy":
            taken, other = self.asks, self.bids
            for level in [p for p in taken if p < price]:
                del taken[level]
            for level in [p for p in other if p >= price]:
                del other[level]
        else:
            taken, other = self.bids, self.asks
            for level in [p for p in taken if p > price]:
                del taken[level]
            for level in [p for p in other if p <= price]:
                del other[level]
        if price in taken:
            left = taken[price] - size
            if left > 0:
                taken[price] = left
            else:
                del taken[price]
        self.last = price
        self._refill()
        tick_size = tick_size_of(price)
        if tick_size == self.tick_size:
            return None
        old, self.tick_size = self.tick_size, tick_size
        return old, tick_size

    def order_flow(self) -> list[OrderEvent]:
        """The order events that follow a trade, applied: :meth:`order_draws` times :meth:`order_event`."""
        events = (self.order_event() for _ in range(self.order_draws()))
        return [event for event in events if event is not None]

    def order_draws(self) -> int:
        """How many order events to draw after a trade (one to three)."""
        return self._rng.randint(1, _MAX_EVENTS)

    def order_event(self) -> OrderEvent | None:
        """Draw and apply one order event (``None``: the draw changed nothing, e.g. a price beyond 0.01..0.99).

        A caller that reports each event as it happens (the simulator: its ``price_change``, then the top of
        book after it) calls this once per :meth:`order_draws`, reporting between the calls.
        """
        rng = self._rng
        side: BookSide = "buy" if rng.random() < 0.5 else "sell"
        book = self.bids if side == "buy" else self.asks
        bid, ask = self.best_bid(), self.best_ask()
        inner = self._inner_limit(side)  # the best price this side may take without crossing
        best = (bid if side == "buy" else ask) or inner
        sign = -1 if side == "buy" else 1  # away from the spread
        changes: list[Change] = []
        draw = rng.random()
        improved = best - sign  # one cent inside the spread
        if draw < 0.3 and self._within(side, improved):
            changes.append(self._set(side, improved, self._random_size()))
        elif draw < 0.5 and len(book) > 1:
            changes.append(self._set(side, best, 0))
        else:
            level = inner + sign * rng.randrange(self.depth)  # near the price: the book follows it
            if self._within(side, level):
                size = 0 if level in book and len(book) > 1 and rng.random() < 0.25 else self._random_size()
                changes.append(self._set(side, level, size))
        changes += self._refill()
        if not changes:
            return None
        self.events += 1
        return OrderEvent(self.events, tuple(changes))

    def _inner_limit(self, side: BookSide) -> int:
        """The best price a new order of ``side`` may take without crossing the book (or the last price)."""
        if side == "buy":
            ask = self.best_ask()
            return min(self.last, ask) - 1 if ask is not None else self.last - 1
        bid = self.best_bid()
        return max(self.last, bid) + 1 if bid is not None else self.last + 1

    def _within(self, side: BookSide, cents: int) -> bool:
        """Whether a level of ``side`` at ``cents`` is a valid price that does not cross the book."""
        if not 1 <= cents <= _CENTS - 1:
            return False
        if side == "buy":
            ask = self.best_ask()
            return ask is None or cents < ask
        bid = self.best_bid()
        return bid is None or cents > bid

    def _refill(self) -> list[Change]:
        """Top each side up to ``depth`` levels (adding far ones) and trim it to ``2 * depth``; the changes."""
        changes: list[Change] = []
        sides: tuple[tuple[BookSide, dict[int, int], int], ...] = (("buy", self.bids, -1), ("sell", self.asks, 1))
        for side, book, sign in sides:
            while len(book) < self.depth:
                level = (min(book) if sign < 0 else max(book)) + sign if book else self._inner_limit(side)
                if not self._within(side, level):
                    break
                changes.append(self._set(side, level, self._random_size()))
            while len(book) > 2 * self.depth:
                changes.append(self._set(side, min(book) if sign < 0 else max(book), 0))
        return changes

    def _random_size(self) -> int:
        size: int = self._rng.randint(_MIN_SIZE, _MAX_SIZE)
        return size

    def _set(self, side: BookSide, cents: int, size: int) -> Change:
        book = self.bids if side == "buy" else self.asks
        if size:
            book[cents] = size
        else:
            book.pop(cents, None)
        return Change(side, cents, size, self.best_bid(), self.best_ask())


# --- frames ----------------------------------------------------------------------------------------


def book_summary(
    asset_id: str,
    market: str,
    last_trade_price: str,
    ts_ms: int,
    levels: BookLevels | None = None,
    tick_size: str = TICK_SIZE,
) -> dict[str, Any]:
    """The ``GET /book`` summary of a simulated book, with its hash.

    Args:
        asset_id: The asset.
        market: Its condition id.
        last_trade_price: The last trade price (decimal text, a whole number of cents).
        ts_ms: The book time, epoch milliseconds.
        levels: The book; ``None``: the book that opens around the last trade price (:func:`opening_levels`).
        tick_size: The asset's tick size.

    Returns:
        The summary in the venue's field order: ``market, asset_id, timestamp, hash, bids, asks,
        min_order_size, tick_size, neg_risk, last_trade_price`` (all strings but ``neg_risk``).
    """
    if levels is None:
        levels = opening_levels(cents_of(last_trade_price))
    summary: dict[str, Any] = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": str(ts_ms),
        "hash": "",
        "bids": [{"price": cents_text(c), "size": hundredths_text(s)} for c, s in levels.bids],
        "asks": [{"price": cents_text(c), "size": hundredths_text(s)} for c, s in levels.asks],
        "min_order_size": MIN_ORDER_SIZE,
        "tick_size": tick_size,
        "neg_risk": False,
        "last_trade_price": decimal_text(last_trade_price),
    }
    summary["hash"] = polymarket.book_hash(summary)
    return summary


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


def book_frame(summary: dict[str, Any]) -> str:
    """The frame of one asset's ``book`` message (a JSON object: the book a trade triggers)."""
    return _json(book_message(summary))


def rest_book_body(summary: dict[str, Any]) -> str:
    """The ``GET /book`` response body of a summary."""
    return _json(summary)


def _bid_text(cents: int | None) -> str:
    return "0" if cents is None else cents_text(cents)


def _ask_text(cents: int | None) -> str:
    return "1" if cents is None else cents_text(cents)


def order_hash(asset_id: str, number: int) -> str:
    """The ``hash`` of the ``number``-th order event of an asset: 40 hex digits (a SHA-1, like the venue's)."""
    return hashlib.sha1(
        f"ticklake-sim/polymarket/order/{asset_id}/{number}".encode(), usedforsecurity=False
    ).hexdigest()


def price_change_frame(market: str, asset_id: str, event: OrderEvent, ts_ms: int) -> str:
    """The ``price_change`` message of one order event (current format, one entry per changed level).

    Args:
        market: The asset's condition id.
        asset_id: The asset.
        event: The order event.
        ts_ms: The message time, epoch milliseconds.

    Returns:
        The JSON text of the frame.
    """
    digest = order_hash(asset_id, event.number)
    entries = ",".join(
        f'{{"asset_id":"{asset_id}","price":"{cents_text(change.cents)}","size":"{hundredths_text(change.size)}",'
        f'"side":"{_side(change.side)}","hash":"{digest}","best_bid":"{_bid_text(change.best_bid)}",'
        f'"best_ask":"{_ask_text(change.best_ask)}"}}'
        for change in event.changes
    )
    return f'{{"market":"{market}","price_changes":[{entries}],"timestamp":"{ts_ms}","event_type":"price_change"}}'


def best_bid_ask_frame(market: str, asset_id: str, best_bid: int | None, best_ask: int | None, ts_ms: int) -> str:
    """The ``best_bid_ask`` message of an asset's new top of book (prices in cents, ``None``: empty side)."""
    spread = (_CENTS if best_ask is None else best_ask) - (0 if best_bid is None else best_bid)
    return (
        f'{{"event_type":"best_bid_ask","market":"{market}","asset_id":"{asset_id}",'
        f'"best_bid":"{_bid_text(best_bid)}","best_ask":"{_ask_text(best_ask)}",'
        f'"spread":"{cents_text(spread)}","timestamp":"{ts_ms}"}}'
    )


def tick_size_change_frame(market: str, asset_id: str, old: str, new: str, ts_ms: int) -> str:
    """The ``tick_size_change`` message of an asset."""
    return (
        f'{{"event_type":"tick_size_change","asset_id":"{asset_id}","market":"{market}",'
        f'"old_tick_size":"{old}","new_tick_size":"{new}","timestamp":"{ts_ms}"}}'
    )


def _market_fields(market: SimMarket) -> dict[str, Any]:
    return {
        "id": market.market_id,
        "question": market.title,
        "market": market.condition_id,
        "slug": market.slug,
        "description": f"This simulated market resolves to the outcome with the higher last price. ({market.slug})",
        "assets_ids": list(market.assets),
        "outcomes": list(market.outcomes),
    }


def new_market_frame(market: SimMarket, ts_ms: int) -> str:
    """The ``new_market`` message of a market (``active``: it trades from now on)."""
    message = _market_fields(market)
    message.update(timestamp=str(ts_ms), active=True, event_type="new_market")
    return _json(message)


def market_resolved_frame(market: SimMarket, winning_asset_id: str, ts_ms: int) -> str:
    """The ``market_resolved`` message of a market.

    Raises:
        ValueError: The winner is not one of the market's assets.
    """
    outcome = market.outcomes[market.assets.index(winning_asset_id)]
    message = _market_fields(market)
    message.update(
        winning_asset_id=winning_asset_id, winning_outcome=outcome, timestamp=str(ts_ms), event_type="market_resolved"
    )
    return _json(message)


def winner_of(market: SimMarket, last_cents: dict[str, int]) -> str:
    """The winning asset of a market when it resolves: the outcome with the highest last price (the first on a tie).

    Args:
        market: The market.
        last_cents: Asset id -> its last trade price in cents.

    Returns:
        The winning asset id (a market with one simulated outcome resolves to it).
    """
    return max(market.assets, key=lambda asset: (last_cents[asset], -market.assets.index(asset)))


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
