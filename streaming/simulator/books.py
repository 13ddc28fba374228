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
import itertools
import random
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
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
_LOG_LIMIT = 1 << 16  # a side's change log is compacted beyond this length (at least)


def text(units: int) -> str:
    """Integer units of 1e-8 as decimal text with 8 fractional digits (``150000000`` -> ``"1.50000000"``)."""
    whole, fraction = divmod(units, _UNIT)
    return f"{whole}.{fraction:08d}"


def units(decimal_text: str) -> int:
    """Decimal text as integer units of 1e-8 (exact; the tape's texts have 8 fractional digits).

    Raises:
        ValueError: The text is not a multiple of 1e-8.
        decimal.InvalidOperation: The text is not a number.
    """
    digits = decimal_text[: -PRICE_DECIMALS - 1] + decimal_text[-PRICE_DECIMALS:]
    if decimal_text[-PRICE_DECIMALS - 1 : -PRICE_DECIMALS] == "." and digits.isdigit() and digits.isascii():
        return int(digits)  # the tape's form, ASCII digits "." 8 digits: the digits are the units
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

    Each side is a dict ``price -> size`` (:attr:`bids`, :attr:`asks`; read them, never write them)
    next to the sorted list of its prices, so that the best and the farthest levels and the levels a
    trade crosses are found by bisection instead of a scan of the side. Every change appends its
    price to the side's change log; a stream remembers where in the logs, and at which update id, it
    was last drained, and its diff is the distinct prices logged since then with their sizes now (a
    level's final size is its size in the book). The logs are cut once every stream has read their
    start, and compacted when a stream is not drained for long.

    Args:
        seed: The simulator seed.
        instrument: The canonical instrument (its profile gives the start price, tick and lot step).
        streams: Names of the diff streams that accumulate changes for :meth:`drain`.
        depth: Levels per side kept at least (at least 1).

    Raises:
        ValueError: ``depth`` is below 1.
    """

    def __init__(self, seed: int, instrument: str, streams: Iterable[str] = (), depth: int = DEPTH) -> None:
        if depth < 1:
            raise ValueError(f"a book keeps at least one level per side, not {depth}")
        profile = profile_of(instrument)
        self.instrument = instrument
        self.depth = depth
        self._rng = random.Random(f"ticklake-simulator-book/{seed}/{instrument}")
        self._tick = units(profile.tick)
        start = units(profile.start_price)
        self.step = self._tick * max(1, round(start / self._tick * _STEP_RELATIVE))
        self._lot = 10 ** (PRICE_DECIMALS - profile.size_decimals)
        self._median_lots = max(1, round(profile.median_size * 10**profile.size_decimals))
        self._size_span = 10 * self._median_lots  # sizes are 1..span lots
        self._size_bits = self._size_span.bit_length()
        self._depth_bits = depth.bit_length()
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bid_prices: list[int] = []  # ascending: the best bid last
        self._ask_prices: list[int] = []  # ascending: the best ask first
        self._bid_log: list[int] = []  # the price of every bid change, in order
        self._ask_log: list[int] = []
        self._log_limit = _LOG_LIMIT
        self.update_id = _FIRST_UPDATE_ID + self._rng.randrange(_ID_SPREAD)
        self._refill(start)
        # The opening book is the state diffs start from, not a change.
        self._bid_log.clear()
        self._ask_log.clear()
        self._marks: dict[str, list[int]] = {name: [0, 0, self.update_id] for name in streams}
        """Per stream: where it was last drained -- the bid log's and the ask log's length, the update id."""

    # --- reading -------------------------------------------------------------------------------

    def best_bid(self) -> tuple[int, int] | None:
        """The best bid ``(price, size)`` in units of 1e-8, or ``None``."""
        if not self._bid_prices:
            return None
        price = self._bid_prices[-1]
        return price, self.bids[price]

    def best_ask(self) -> tuple[int, int] | None:
        """The best ask ``(price, size)`` in units of 1e-8, or ``None``."""
        if not self._ask_prices:
            return None
        price = self._ask_prices[0]
        return price, self.asks[price]

    def snapshot(self, limit: int | None = None) -> BookSnapshot:
        """The book (at most ``limit`` levels per side) and the id of its latest change."""
        bids, asks = self.bids, self.asks
        best_bids = [(price, bids[price]) for price in reversed(self._bid_prices)][:limit]
        best_asks = [(price, asks[price]) for price in self._ask_prices][:limit]
        return BookSnapshot(self.update_id, tuple(best_bids), tuple(best_asks))

    def drain(self, stream: str) -> BookDiff | None:
        """The changes accumulated for ``stream`` since its last drain (``None``: nothing changed).

        Raises:
            KeyError: ``stream`` was not named at construction.
        """
        mark = self._marks[stream]
        bid_at, ask_at, drained = mark
        if drained == self.update_id:
            return None
        bids, asks = self.bids, self.asks
        changed_bids = sorted(set(self._bid_log[bid_at:]), reverse=True)
        changed_asks = sorted(set(self._ask_log[ask_at:]))
        diff = BookDiff(
            drained + 1,
            self.update_id,
            tuple([(price, bids.get(price, 0)) for price in changed_bids]),
            tuple([(price, asks.get(price, 0)) for price in changed_asks]),
        )
        mark[:] = len(self._bid_log), len(self._ask_log), self.update_id
        self._cut_logs()
        return diff

    # --- changing ------------------------------------------------------------------------------

    def on_trade(self, trade: SimTrade) -> None:
        """Apply one trade of the tape: the taker consumes liquidity, then a few random changes."""
        self.on_trades((trade,))

    def on_trades(self, trades: Iterable[SimTrade]) -> None:
        """Apply trades of the tape in order, each as :meth:`on_trade` does (faster than one call each)."""
        bids, asks = self.bids, self.asks
        bid_prices, ask_prices = self._bid_prices, self._ask_prices
        bid_log, ask_log = self._bid_log, self._ask_log
        remove, set_level = self._remove, self._set
        # Every rng.randint(1, n) of the book is drawn as Random.randint draws it -- 1 + getrandbits(k)
        # with k = n.bit_length(), drawn again until below n (Random._randbelow) -- but without
        # randint's three Python calls: the same values from the same calls to the generator.
        rng = self._rng
        bits, uniform = rng.getrandbits, rng.random
        depth, depth_bits, step = self.depth, self._depth_bits, self.step
        span, span_bits, lot = self._size_span, self._size_bits, self._lot
        for trade in trades:
            price = units(trade.price_text)
            if trade.side == "buy":
                # The asks below the price are taken, the one at it shrinks; no bid stays at or above it.
                cut = bisect_left(ask_prices, price)
                if cut:
                    remove(asks, ask_prices, ask_log, 0, cut)
                if price in asks:
                    set_level(asks, ask_prices, ask_log, price, max(0, asks[price] - units(trade.size_text)))
                cut = bisect_left(bid_prices, price)
                if cut < len(bid_prices):
                    remove(bids, bid_prices, bid_log, cut, len(bid_prices))
            else:
                cut = bisect_right(bid_prices, price)
                if cut < len(bid_prices):
                    remove(bids, bid_prices, bid_log, cut, len(bid_prices))
                if price in bids:
                    set_level(bids, bid_prices, bid_log, price, max(0, bids[price] - units(trade.size_text)))
                cut = bisect_right(ask_prices, price)
                if cut:
                    remove(asks, ask_prices, ask_log, 0, cut)
            changes = bits(2)  # rng.randint(1, 3) random changes
            while changes >= 3:
                changes = bits(2)
            for _ in range(changes + 1):
                is_bid = uniform() < 0.5
                distance = bits(depth_bits)  # rng.randint(1, depth) steps from the price
                while distance >= depth:
                    distance = bits(depth_bits)
                if is_bid:
                    level = price - (distance + 1) * step
                    book, prices, log = bids, bid_prices, bid_log
                else:
                    level = price + (distance + 1) * step
                    book, prices, log = asks, ask_prices, ask_log
                if level <= 0:
                    continue
                old = book.get(level, 0)
                if old and uniform() < 0.3:
                    new = 0  # cancelled
                else:
                    lots = bits(span_bits)  # rng.randint(1, span) lots, as _random_size draws them
                    while lots >= span:
                        lots = bits(span_bits)
                    new = (lots + 1) * lot
                if new == old:  # what _set does, inline: this is most of the book's changes
                    continue
                if new:
                    book[level] = new
                    if not old:
                        insort(prices, level)
                else:
                    del book[level]
                    del prices[bisect_left(prices, level)]
                self.update_id += 1
                log.append(level)
            if not (depth <= len(bid_prices) <= 2 * depth and depth <= len(ask_prices) <= 2 * depth):
                self._refill(price)
            if len(bid_log) > self._log_limit or len(ask_log) > self._log_limit:
                self._compact_logs()

    def _refill(self, price: int) -> None:
        """Top each side up to ``depth`` levels (adding far ones) and trim it to ``2 * depth``."""
        depth, step = self.depth, self.step
        bids, bid_prices = self.bids, self._bid_prices
        while len(bid_prices) < depth:
            level = (bid_prices[0] if bid_prices else price) - step
            if level <= 0:
                break
            self._set(bids, bid_prices, self._bid_log, level, self._random_size())
        if len(bid_prices) > 2 * depth:  # the lowest bids go
            self._remove(bids, bid_prices, self._bid_log, 0, len(bid_prices) - 2 * depth)
        asks, ask_prices = self.asks, self._ask_prices
        while len(ask_prices) < depth:
            level = (ask_prices[-1] if ask_prices else price) + step
            if level <= 0:
                break
            self._set(asks, ask_prices, self._ask_log, level, self._random_size())
        if len(ask_prices) > 2 * depth:  # the highest asks go
            self._remove(asks, ask_prices, self._ask_log, 2 * depth, len(ask_prices))

    def _random_size(self) -> int:
        """A level's size: ``rng.randint(1, 10 * median lots)`` lots (drawn as :meth:`on_trade` explains)."""
        bits, span, span_bits = self._rng.getrandbits, self._size_span, self._size_bits
        lots = bits(span_bits)
        while lots >= span:
            lots = bits(span_bits)
        size: int = (lots + 1) * self._lot
        return size

    def _set(self, book: dict[int, int], prices: list[int], log: list[int], price: int, size: int) -> None:
        """Give a level of one side a size (0: remove it) as the next update; nothing if it has that size."""
        old = book.get(price, 0)
        if old == size:
            return
        if size:
            book[price] = size
            if not old:
                insort(prices, price)
        else:
            del book[price]
            del prices[bisect_left(prices, price)]
        self.update_id += 1
        log.append(price)

    def _remove(self, book: dict[int, int], prices: list[int], log: list[int], lo: int, hi: int) -> None:
        """Remove the levels ``prices[lo:hi]`` of one side, one update each."""
        removed = prices[lo:hi]
        del prices[lo:hi]
        for price in removed:
            del book[price]
        self.update_id += len(removed)
        log.extend(removed)

    # --- the change logs -----------------------------------------------------------------------

    def _cut_logs(self) -> None:
        """Drop the start of a log that every stream has drained, once it is at least half of it."""
        for side, log in enumerate((self._bid_log, self._ask_log)):
            read = min(mark[side] for mark in self._marks.values())
            if read and read >= len(log) // 2:
                del log[:read]
                for mark in self._marks.values():
                    mark[side] -= read

    def _compact_logs(self) -> None:
        """Shorten logs that outgrew the limit (a stream not drained for long, or none at all).

        What no stream will read goes, and between two streams' marks a price is kept once: each
        stream still finds every price changed since its mark.
        """
        for side, log in enumerate((self._bid_log, self._ask_log)):
            starts = sorted({mark[side] for mark in self._marks.values()})
            kept: list[int] = []
            moved: dict[int, int] = {}
            for start, end in itertools.pairwise([*starts, len(log)]):
                moved[start] = len(kept)
                kept.extend(dict.fromkeys(log[start:end]))
            log[:] = kept
            for mark in self._marks.values():
                mark[side] = moved[mark[side]]
        self._log_limit = max(_LOG_LIMIT, 2 * len(self._bid_log), 2 * len(self._ask_log))
