"""Order books rebuilt from venue updates: a pure reducer, with sequence, checksum and sanity checks.

One :class:`OrderBook` per (venue, instrument) applies :class:`~contracts.records.BookUpdate` records
in arrival order:

* ``snapshot`` replaces the book and (re)synchronises it;
* ``delta`` sets each level's absolute size (0 removes the level);
* ``increment`` adds each level's signed size (Kalshi); a level going below zero is a desync.

Sequences: an update whose ``sequence`` is not newer than the book's is stale and ignored; one that
does not continue the book (``prev_sequence`` differs, or ``first_sequence``/``sequence`` starts
after the next expected number) is a gap. Binance's rule for the first diff after a REST snapshot
(``U <= lastUpdateId + 1 <= u``) is the same test. A gap, a checksum mismatch or a negative size
leaves the book unsynchronised until the next snapshot: the caller resnapshots (REST, or the
venue's resubscribe). A crossed book (best bid >= best ask) is reported but kept.

No I/O, no clock: the caller decides what to do with each :class:`BookResult`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Literal

from contracts.records import BookUpdate, Level

Status = Literal["ok", "stale", "gap", "unsynced", "negative", "checksum_mismatch", "crossed"]

Checksum = Callable[[Sequence[Level], Sequence[Level]], int]
"""Computes a venue checksum from the bids (best first) and asks (best first) of the book."""


@dataclasses.dataclass(frozen=True, slots=True)
class BookResult:
    """What applying one update did.

    Attributes:
        status: ``ok``; ``stale`` (ignored, older than the book); ``gap`` (sequence jump: resnapshot);
            ``unsynced`` (ignored: no snapshot since the last problem); ``negative`` (an increment took a
            level below zero: resnapshot); ``checksum_mismatch`` (resnapshot); ``crossed`` (applied,
            but best bid >= best ask).
        expected: The sequence the book expected next, where it matters.
        received: The sequence the update started at, where it matters.
    """

    status: Status
    expected: int | None = None
    received: int | None = None

    @property
    def needs_snapshot(self) -> bool:
        """Whether the book must be rebuilt from a snapshot before it can be trusted again."""
        return self.status in ("gap", "unsynced", "negative", "checksum_mismatch")


class OrderBook:
    """The book of one instrument.

    Args:
        venue: The venue id (checked against every update).
        instrument: The canonical instrument (checked against every update).
        depth: Keep only this many levels per side after each update (venues that checksum a
            truncated book, such as Kraken, need it); ``None`` keeps everything.
        checksum: Verifies ``BookUpdate.checksum`` when the venue sends one.
    """

    def __init__(self, venue: str, instrument: str, depth: int | None = None, checksum: Checksum | None = None) -> None:
        self.venue = venue
        self.instrument = instrument
        self.depth = depth
        self.checksum = checksum
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.sequence: int | None = None
        self.synced = False

    def best_bids(self, count: int | None = None) -> list[Level]:
        """Bids, best (highest) first."""
        prices = sorted(self.bids, reverse=True)[:count]
        return [Level(price, self.bids[price]) for price in prices]

    def best_asks(self, count: int | None = None) -> list[Level]:
        """Asks, best (lowest) first."""
        prices = sorted(self.asks)[:count]
        return [Level(price, self.asks[price]) for price in prices]

    def apply(self, update: BookUpdate) -> BookResult:
        """Apply one update.

        Raises:
            ValueError: The update belongs to another venue or instrument.
        """
        if (update.venue, update.instrument) != (self.venue, self.instrument):
            raise ValueError(
                f"{update.venue}/{update.instrument} update applied to the {self.venue}/{self.instrument} book"
            )
        if update.kind == "snapshot":
            self.bids = {level.price: level.size for level in update.bids if level.size}
            self.asks = {level.price: level.size for level in update.asks if level.size}
            self.sequence = update.sequence
            self.synced = True
            return self._after(update)
        if not self.synced:
            return BookResult("unsynced")
        order = self._order(update)
        if order is not None:
            return order
        if update.kind == "delta":
            for side, levels in ((self.bids, update.bids), (self.asks, update.asks)):
                for level in levels:
                    if level.size:
                        side[level.price] = level.size
                    else:
                        side.pop(level.price, None)
        else:  # increment
            for side, levels in ((self.bids, update.bids), (self.asks, update.asks)):
                for level in levels:
                    size = side.get(level.price, Decimal(0)) + level.size
                    if size < 0:
                        self.synced = False
                        return BookResult("negative")
                    if size:
                        side[level.price] = size
                    else:
                        side.pop(level.price, None)
        if update.sequence is not None:
            self.sequence = update.sequence
        return self._after(update)

    def _order(self, update: BookUpdate) -> BookResult | None:
        """Stale or gap, by the update's sequence numbers; ``None`` when it continues the book."""
        if update.sequence is None or self.sequence is None:
            return None
        if update.sequence <= self.sequence:
            return BookResult("stale", self.sequence + 1, update.sequence)
        expected = self.sequence + 1
        if update.prev_sequence is not None:
            if update.prev_sequence != self.sequence:
                self.synced = False
                return BookResult("gap", expected, update.prev_sequence + 1)
            return None
        start = update.first_sequence if update.first_sequence is not None else update.sequence
        if start > expected:
            self.synced = False
            return BookResult("gap", expected, start)
        return None

    def _after(self, update: BookUpdate) -> BookResult:
        if self.depth is not None:
            for side, best in ((self.bids, self.best_bids), (self.asks, self.best_asks)):
                if len(side) > self.depth:
                    kept = {level.price for level in best(self.depth)}
                    for price in [p for p in side if p not in kept]:
                        del side[price]
        if (
            update.checksum is not None
            and self.checksum is not None
            and self.checksum(self.best_bids(self.depth), self.best_asks(self.depth)) != update.checksum
        ):
            self.synced = False
            return BookResult("checksum_mismatch")
        if self.bids and self.asks and max(self.bids) >= min(self.asks):
            return BookResult("crossed")
        return BookResult("ok")
