"""A simulated order book per instrument: levels around the tape's price, changed by every trade.

Pure and venue-agnostic: no I/O, no clock. The book follows the trade tape of
:mod:`streaming.simulator.market` deterministically (its own :class:`random.Random`, seeded from the
simulator seed and the instrument), so the same seed and tape always give the same book:

* **Levels** sit on a grid of :attr:`SimBook.step` ticks (about 0.002 % of the start price, at least
  one tick) around the last trade price; each side keeps between :data:`DEPTH` and ``2 * DEPTH``
  levels (missing far levels are added, the farthest beyond ``2 * DEPTH`` removed).
* **A trade** consumes liquidity like a taker: a buy at ``p`` removes the asks below ``p``, shrinks
  the ask at ``p`` by the trade size (clearing it when nothing is left) and removes the bids at or
  above ``p``; a sell mirrors it. The book never crosses.
* **Random changes** follow every trade: one to three levels near the price get a new size, appear
  or are cancelled.

Every change of one level takes the next **update id** (consecutive, starting from a seeded large
number). Changes accumulate per named stream (e.g. a venue's 100 ms and 1000 ms diff streams) until
:meth:`SimBook.drain` returns them as one diff: the ids ``first..last`` it covers and the final size
of each changed level (0: removed), exactly what Binance's ``depthUpdate`` carries (``U``, ``u``,
``b``, ``a``). As nothing is lost between two drains, each diff of a stream starts at the previous
one's last id + 1. :meth:`SimBook.snapshot` is the whole book with the id of its latest change (a
REST depth snapshot's ``lastUpdateId``).

Prices and sizes are integers of 1e-8 and rendered with 8 fractional digits, like the tape.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Literal

from streaming.simulator.market import PRICE_DECIMALS, SimTrade, profile_of

BookSide = Literal["bid", "ask"]

DEPTH = 20
"""Levels kept per side at least (and at most twice as many)."""

_UNIT = 10**PRICE_DECIMALS
_FIRST_UPDATE_ID = 10_000_000_000
_ID_SPREAD = 1_000_000_000
_STEP_RELATIVE = 2e-5  # level spacing relative to the start price


def text(units: int) -> str:
    """Integer units of 1e-8 as decimal text with 8 fractional digits (``150000000`` -> ``"1.50000000"``)."""
    whole, fraction = divmod(units, _UNIT)
    return f"{whole}.{fraction:08d}"


def units(decimal_text: str) -> int:
    """Decimal text as integer units of 1e-8 (exact; the tape's texts have 8 fractional digits)."""
    value = Decimal(decimal_text) * _UNIT
    if value != value.to_integral_value():
        raise ValueError(f"{decimal_text!r} is not a multiple of 1e-8")
    return int(value)


@dataclasses.dataclass(frozen=True, slots=True)
class BookDiff:
    """The changes of one book between two drains of a stream.

    Attributes:
        first_id: Update id of the first change covered (Binance ``U``).
        last_id: Update id of the last change covered (Binance ``u``).
        bids: ``(price, size)`` in units of 1e-8, the final size of every changed bid level (0: removed),
            best first.
        asks: The same for asks, best first.
    """

    first_id: int
    last_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The whole book at one update id.

    Attributes:
        last_id: The update id of the latest change in it (Binance ``lastUpdateId``).
        bids: ``(price, size)`` in units of 1e-8, best (highest) first.
        asks: ``(price, size)`` in units of 1e-8, best (lowest) first.
    """

    last_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


class SimBook:
    """The simulated book of one instrument.

    Args:
        seed: The simulator seed.
        instrument: The canonical instrument (its profile gives the start price, tick and lot step).
        streams: Names of the diff streams that accumulate changes for :meth:`drain`.
        depth: Levels per side kept at least.
    """

    def __init__(self, seed: int, instrument: str, streams: Iterable[str] = (), depth: int = DEPTH) -> None:
        profile = profile_of(instrument)
        self.instrument = instrument
        self.depth = depth
        self._rng = random.Random(f"ticklake-simulator-book/{seed}/{instrument}")
        self._tick = units(profile.tick)
        start = units(profile.start_price)
        self.step = self._tick * max(1, round(start / self._tick * _STEP_RELATIVE))
        self._lot = 10 ** (PRICE_DECIMALS - profile.size_decimals)
        self._median_lots = max(1, round(profile.median_size * 10**profile.size_decimals))
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.update_id = _FIRST_UPDATE_ID + self._rng.randrange(_ID_SPREAD)
        self._pending: dict[str, dict[tuple[BookSide, int], int]] = {name: {} for name in streams}
        self._first: dict[str, int | None] = dict.fromkeys(self._pending)
        self._last_price = start
        self._refill(start)
        for name in self._pending:  # the opening book is the state diffs start from, not a change
            self._pending[name] = {}
            self._first[name] = None

    # --- reading -------------------------------------------------------------------------------

    def best_bid(self) -> tuple[int, int] | None:
        """The best bid ``(price, size)`` in units of 1e-8, or ``None``."""
        if not self.bids:
            return None
        price = max(self.bids)
        return price, self.bids[price]

    def best_ask(self) -> tuple[int, int] | None:
        """The best ask ``(price, size)`` in units of 1e-8, or ``None``."""
        if not self.asks:
            return None
        price = min(self.asks)
        return price, self.asks[price]

    def snapshot(self, limit: int | None = None) -> BookSnapshot:
        """The book (at most ``limit`` levels per side) and the id of its latest change."""
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return BookSnapshot(self.update_id, tuple(bids), tuple(asks))

    def drain(self, stream: str) -> BookDiff | None:
        """The changes accumulated for ``stream`` since its last drain (``None``: nothing changed).

        Raises:
            KeyError: ``stream`` was not named at construction.
        """
        changed = self._pending[stream]
        first = self._first[stream]
        if first is None:
            return None
        bids = tuple(sorted(((p, s) for (side, p), s in changed.items() if side == "bid"), reverse=True))
        asks = tuple(sorted((p, s) for (side, p), s in changed.items() if side == "ask"))
        self._pending[stream] = {}
        self._first[stream] = None
        return BookDiff(first, self.update_id, bids, asks)

    # --- changing ------------------------------------------------------------------------------

    def on_trade(self, trade: SimTrade) -> None:
        """Apply one trade of the tape: the taker consumes liquidity, then a few random changes."""
        price = units(trade.price_text)
        size = units(trade.size_text)
        if trade.side == "buy":
            self._consume("ask", price, size, lambda p: p < price)
            for level in [p for p in self.bids if p >= price]:
                self._set("bid", level, 0)
        else:
            self._consume("bid", price, size, lambda p: p > price)
            for level in [p for p in self.asks if p <= price]:
                self._set("ask", level, 0)
        self._last_price = price
        rng = self._rng
        for _ in range(rng.randint(1, 3)):
            side: BookSide = "bid" if rng.random() < 0.5 else "ask"
            distance = rng.randint(1, self.depth)
            level = price - distance * self.step if side == "bid" else price + distance * self.step
            book = self.bids if side == "bid" else self.asks
            if level <= 0:
                continue
            if level in book and rng.random() < 0.3:
                self._set(side, level, 0)
            else:
                self._set(side, level, self._random_size())
        self._refill(price)

    def _consume(self, side: BookSide, price: int, size: int, beyond: Callable[[int], bool]) -> None:
        book = self.asks if side == "ask" else self.bids
        for level in [p for p in book if beyond(p)]:
            self._set(side, level, 0)
        if price in book:
            self._set(side, price, max(0, book[price] - size))

    def _refill(self, price: int) -> None:
        """Top each side up to ``depth`` levels (adding far ones) and trim it to ``2 * depth``."""
        sides: tuple[tuple[BookSide, dict[int, int], int], ...] = (("bid", self.bids, -1), ("ask", self.asks, 1))
        for side, book, sign in sides:
            while len(book) < self.depth:
                far = (min(book) if sign < 0 else max(book)) if book else price
                level = far + sign * self.step
                if level <= 0:
                    break
                self._set(side, level, self._random_size())
            while len(book) > 2 * self.depth:
                self._set(side, min(book) if sign < 0 else max(book), 0)

    def _random_size(self) -> int:
        size: int = self._rng.randint(1, 10 * self._median_lots) * self._lot
        return size

    def _set(self, side: BookSide, price: int, size: int) -> None:
        book = self.bids if side == "bid" else self.asks
        if book.get(price, 0) == size:
            return
        if size:
            book[price] = size
        else:
            del book[price]
        self.update_id += 1
        for name, changed in self._pending.items():
            changed[(side, price)] = size
            if self._first[name] is None:
                self._first[name] = self.update_id
