"""A simulated Kalshi order book per market: YES bids and NO bids in cents, changed by every trade of the tape.

Pure and venue-specific: no I/O, no clock. A Kalshi book holds **only bids** (source: the order-book
pages of https://docs.kalshi.com/websockets/orderbook-updates and the conventions documented in
:mod:`streaming.venues.kalshi`): bids for YES and bids for NO, each at a price of 1 to 99 cents with a
whole number of contracts. A NO bid at ``q`` cents is an offer to sell YES at ``100 - q`` cents, so on
the YES price axis the NO bids are the asks.

The book follows the tape of :mod:`streaming.simulator.market` deterministically (its own
:class:`random.Random`, seeded from the simulator seed and the market), so the same seed and tape
always give the same book:

* **Levels.** Each side keeps between :data:`DEPTH` and ``2 * DEPTH`` levels (fewer near 1 or 99
  cents, where the price grid ends): missing far levels are added one cent further out, the farthest
  beyond ``2 * DEPTH`` removed.
* **A trade** at YES price ``p`` consumes liquidity like a taker: a buyer of YES (tape side ``buy``)
  takes the asks, i.e. removes the NO bids above ``100 - p`` (asks below ``p``), shrinks the NO bid at
  ``100 - p`` (the ask at ``p``) by the trade's count and removes the YES bids at or above ``p``; a
  buyer of NO (tape side ``sell``) mirrors it on the YES bids. The book never crosses (best YES bid +
  best NO bid < 100).
* **Random changes** follow every trade: one to three levels within :data:`DEPTH` cents of the
  price get a new count, appear, or are cancelled.

Every change of one level is one :class:`LevelChange`: the side, the price in cents and the
**signed change** of its count, which is exactly what a Kalshi ``orderbook_delta`` carries
(``side``, ``price``, ``delta``). :meth:`KalshiBook.snapshot` is the whole book (an
``orderbook_snapshot``).
"""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal
from typing import Literal

from streaming.simulator.market import SimTrade

BookSide = Literal["yes", "no"]
"""The side of a Kalshi book: YES bids or NO bids."""

DEPTH = 10
"""Levels kept per side at least (and at most twice as many)."""

MIN_CENTS = 1
"""The lowest price of a level, in cents."""

MAX_CENTS = 99
"""The highest price of a level, in cents."""

MAX_LEVEL_COUNT = 400
"""The largest count a level is given by a random change, in contracts."""

_CANCEL_PROBABILITY = 0.3
_HUNDRED = Decimal(100)


def cents_of(price_text: str) -> int:
    """A price as integer cents (``"0.36000000"`` -> 36).

    Raises:
        ValueError: The price is not a whole number of cents from 1 to 99.
    """
    cents = Decimal(price_text) * _HUNDRED
    if cents != cents.to_integral_value() or not MIN_CENTS <= cents <= MAX_CENTS:
        raise ValueError(f"price {price_text} is not a whole number of cents from {MIN_CENTS} to {MAX_CENTS}")
    return int(cents)


def count_of(size_text: str) -> int:
    """A size as a whole number of contracts (``"136.00000000"`` -> 136).

    Raises:
        ValueError: The size is not a positive whole number.
    """
    size = Decimal(size_text)
    if size != size.to_integral_value() or size < 1:
        raise ValueError(f"size {size_text} is not a whole number of contracts")
    return int(size)


@dataclasses.dataclass(frozen=True, slots=True)
class LevelChange:
    """One change of one level: what a Kalshi ``orderbook_delta`` carries.

    Attributes:
        side: ``"yes"`` (a YES bid) or ``"no"`` (a NO bid, a YES ask at ``100 - price``).
        price: The bid's price in cents, 1 to 99.
        delta: The signed change of the level's count in contracts (never 0; negative removes contracts).
    """

    side: BookSide
    price: int
    delta: int


@dataclasses.dataclass(frozen=True, slots=True)
class KalshiBookSnapshot:
    """The whole book: what a Kalshi ``orderbook_snapshot`` carries.

    Attributes:
        yes: ``(cents, count)`` of every YES bid, by ascending price (Kalshi's order).
        no: ``(cents, count)`` of every NO bid, by ascending price.
    """

    yes: tuple[tuple[int, int], ...]
    no: tuple[tuple[int, int], ...]


class KalshiBook:
    """The simulated book of one Kalshi market.

    Args:
        seed: The simulator seed.
        instrument: The canonical instrument (part of the random seed).
        start_cents: The YES price the opening book is built around.
        depth: Levels per side kept at least.
    """

    def __init__(self, seed: int, instrument: str, start_cents: int = 50, depth: int = DEPTH) -> None:
        self.instrument = instrument
        self.depth = depth
        self._rng = random.Random(f"ticklake-simulator-kalshi-book/{seed}/{instrument}")
        self.yes: dict[int, int] = {}
        """YES bids: count by price in cents."""
        self.no: dict[int, int] = {}
        """NO bids: count by price in cents."""
        self._refill(start_cents)  # the opening book: the state the first snapshot shows, not a change

    # --- reading -------------------------------------------------------------------------------

    def snapshot(self) -> KalshiBookSnapshot:
        """The whole book, each side by ascending price."""
        return KalshiBookSnapshot(tuple(sorted(self.yes.items())), tuple(sorted(self.no.items())))

    def best_bid(self) -> tuple[int, int] | None:
        """The best YES bid ``(cents, count)``, or ``None``."""
        if not self.yes:
            return None
        price = max(self.yes)
        return price, self.yes[price]

    def best_ask(self) -> tuple[int, int] | None:
        """The best YES ask ``(cents, count)`` (``100 -`` the best NO bid), or ``None``."""
        if not self.no:
            return None
        price = max(self.no)
        return 100 - price, self.no[price]

    # --- changing ------------------------------------------------------------------------------

    def on_trade(self, trade: SimTrade) -> list[LevelChange]:
        """Apply one trade of the tape; the changes it made, in order.

        Raises:
            ValueError: The trade's price is not 1 to 99 cents or its size not whole contracts.
        """
        price = cents_of(trade.price_text)
        count = count_of(trade.size_text)
        changes: list[LevelChange] = []
        if trade.side == "buy":  # bought YES: takes the asks (NO bids) at or below p
            self._consume(changes, "no", 100 - price, count)
            for level in [q for q in self.yes if q >= price]:
                self._set(changes, "yes", level, 0)
        else:  # bought NO at 100 - p: takes the YES bids at or above p
            self._consume(changes, "yes", price, count)
            for level in [q for q in self.no if q >= 100 - price]:
                self._set(changes, "no", level, 0)
        rng = self._rng
        for _ in range(rng.randint(1, 3)):
            side: BookSide = "yes" if rng.random() < 0.5 else "no"
            distance = rng.randint(1, self.depth)
            level = price - distance if side == "yes" else 100 - price - distance
            if level < MIN_CENTS:
                continue
            book = self.yes if side == "yes" else self.no
            if level in book and rng.random() < _CANCEL_PROBABILITY:
                self._set(changes, side, level, 0)
            else:
                self._set(changes, side, level, self._random_count())
        self._refill(price, changes)
        return changes

    def _consume(self, changes: list[LevelChange], side: BookSide, at: int, count: int) -> None:
        """Take the bids of ``side`` above ``at`` and ``count`` contracts of the bid at ``at``."""
        book = self.yes if side == "yes" else self.no
        for level in [q for q in book if q > at]:
            self._set(changes, side, level, 0)
        if at in book:
            self._set(changes, side, at, max(0, book[at] - count))

    def _refill(self, price: int, changes: list[LevelChange] | None = None) -> None:
        """Top each side up to ``depth`` levels (adding far ones) and trim it to ``2 * depth``."""
        sides: tuple[tuple[BookSide, dict[int, int], int], ...] = (
            ("yes", self.yes, price - 1),
            ("no", self.no, 100 - price - 1),
        )
        for side, book, best in sides:
            while len(book) < self.depth:
                level = min(book) - 1 if book else best
                if level < MIN_CENTS:
                    break
                self._set(changes, side, level, self._random_count())
            while len(book) > 2 * self.depth:
                self._set(changes, side, min(book), 0)

    def _random_count(self) -> int:
        count: int = self._rng.randint(1, MAX_LEVEL_COUNT)
        return count

    def _set(self, changes: list[LevelChange] | None, side: BookSide, price: int, count: int) -> None:
        book = self.yes if side == "yes" else self.no
        before = book.get(price, 0)
        if before == count:
            return
        if count:
            book[price] = count
        else:
            del book[price]
        if changes is not None:
            changes.append(LevelChange(side, price, count - before))
