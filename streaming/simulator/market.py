"""A deterministic trade tape: random-walk prices, realistic sizes, increasing trade ids.

Pure and venue-agnostic: no I/O and no clock. The caller passes each trade's event time (the
server passes the wall clock), so that the same seed always yields the same trades. Every
instrument draws from its own :class:`random.Random`, seeded from the simulator seed and the
instrument name, so an instrument's sequence of ``(trade_id, price, size, side)`` does not depend
on which other instruments are traded or how their trades interleave.

Prices and sizes are produced as integer multiples of the tick and the lot step and rendered with
8 fractional digits, like Binance's spot wire (``"65000.01000000"``); no float ever reaches a
price or a size (floats only drive the random draws).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from math import cos, exp, log, sin, sqrt
from typing import Literal, NamedTuple

from contracts.instruments import kind_of, split_spot

SimSide = Literal["buy", "sell"]

PRICE_DECIMALS = 8
"""Fractional digits of every rendered price and size."""

_UNIT = 10**PRICE_DECIMALS  # integer units per 1.0
_STABLE_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "TUSD", "BUSD", "USDP", "DAI", "USD"})
_FIRST_TRADE_ID = 3_000_000_000
_FIRST_AGG_ID = 1_000_000_000
_ID_SPREAD = 1_000_000_000
_RELATIVE_MOVE = 3e-5  # standard deviation of one trade's price move, relative to the price
_REVERSION = 1e-4  # pull of the price back towards its start, per trade
_SIZE_SIGMA = 1.2  # log-normal dispersion of sizes
_TWO_PI = 2.0 * math.pi  # random.TWOPI
_SIZE_TEXTS = 4096  # size texts kept per instrument (sizes repeat; prices rarely do)


@dataclasses.dataclass(frozen=True, slots=True)
class InstrumentProfile:
    """How one instrument trades.

    Attributes:
        start_price: The first price, as decimal text (a multiple of ``tick``).
        tick: The price increment, as decimal text (at least ``1e-8``).
        size_decimals: Fractional digits of sizes (the lot step is ``10**-size_decimals``).
        median_size: The median trade size in base units.
        max_price: The highest price, as decimal text (a prediction contract pays at most 1), or ``None``.
    """

    start_price: str
    tick: str
    size_decimals: int
    median_size: float
    max_price: str | None = None


PROFILES: dict[str, InstrumentProfile] = {
    "BTC": InstrumentProfile("65000.00", "0.01", 5, 0.002),
    "ETH": InstrumentProfile("3000.00", "0.01", 4, 0.03),
    "SOL": InstrumentProfile("150.00", "0.01", 3, 1.0),
    "BNB": InstrumentProfile("580.00", "0.01", 3, 0.2),
    "XRP": InstrumentProfile("0.5500", "0.0001", 0, 500.0),
    "DOGE": InstrumentProfile("0.12000", "0.00001", 0, 2000.0),
    "PEPE": InstrumentProfile("0.00001234", "0.00000001", 0, 5_000_000.0),
}
"""Profiles of well-known base assets quoted in a USD stablecoin."""

DEFAULT_PROFILE = InstrumentProfile("1.0000", "0.0001", 1, 100.0)
"""The profile of every other instrument."""

PREDICTION_PROFILE = InstrumentProfile("0.50", "0.01", 0, 40.0, max_price="0.99")
"""A prediction-market contract: a probability in cents between 0.01 and 0.99, whole contracts."""


def profile_of(instrument: str) -> InstrumentProfile:
    """The trading profile of a canonical instrument.

    Args:
        instrument: A canonical instrument such as ``"BTC-USDT"``, ``"BTC-USD-PERP"`` or ``"KALSHI:X"``.

    Returns:
        :data:`PREDICTION_PROFILE` for a prediction contract; else the base asset's profile when
        quoted in a USD stablecoin (perpetuals and futures trade like their spot pair), else
        :data:`DEFAULT_PROFILE`.

    Raises:
        ValueError: The name is not canonical.
    """
    if kind_of(instrument) == "prediction":
        return PREDICTION_PROFILE
    base, quote = split_spot("-".join(instrument.split("-")[:2]))
    if quote in _STABLE_QUOTES:
        return PROFILES.get(base, DEFAULT_PROFILE)
    return DEFAULT_PROFILE


class SimTrade(NamedTuple):
    """One simulated trade (a named tuple: immutable and cheap to build at 100k trades/s).

    Attributes:
        instrument: Canonical instrument, e.g. ``"BTC-USDT"``.
        trade_id: The venue trade id; strictly increasing per instrument.
        agg_id: The aggregate-trade id of the (single-fill) aggregate holding this trade; strictly
            increasing per instrument.
        price_text: The price as decimal text with 8 fractional digits.
        size_text: The size as decimal text with 8 fractional digits.
        side: The taker (aggressor) side.
        ts_ms: Event time, epoch milliseconds; non-decreasing per instrument.
    """

    instrument: str
    trade_id: int
    agg_id: int
    price_text: str
    size_text: str
    side: SimSide
    ts_ms: int

    @property
    def price(self) -> Decimal:
        """The exact price."""
        return Decimal(self.price_text)

    @property
    def size(self) -> Decimal:
        """The exact size."""
        return Decimal(self.size_text)


_new_trade = tuple.__new__  # SimTrade(*fields) without the named tuple's Python-level __new__


class _Walk:
    """The mutable state of one instrument's tape."""

    __slots__ = (
        "instrument",
        "last_ms",
        "log_median",
        "max_ticks",
        "next_agg_id",
        "next_trade_id",
        "rng",
        "size_step_units",
        "size_texts",
        "start_ticks",
        "tick_units",
        "ticks",
    )

    def __init__(self, seed: int, instrument: str) -> None:
        profile = profile_of(instrument)
        tick = Decimal(profile.tick)
        tick_units = tick * _UNIT
        if tick <= 0 or tick_units != tick_units.to_integral_value():
            raise ValueError(f"tick {profile.tick!r} of {instrument} is not a positive multiple of 1e-8")
        start_ticks = Decimal(profile.start_price) / tick
        if start_ticks <= 0 or start_ticks != start_ticks.to_integral_value():
            raise ValueError(f"start price of {instrument} is not a positive multiple of its tick")
        if not 0 <= profile.size_decimals <= PRICE_DECIMALS:
            raise ValueError(f"size decimals of {instrument} must be within 0..{PRICE_DECIMALS}")
        self.instrument = instrument
        self.rng = random.Random(f"ticklake-simulator/{seed}/{instrument}")
        self.tick_units = int(tick_units)
        self.start_ticks = int(start_ticks)
        self.max_ticks = int(Decimal(profile.max_price) / tick) if profile.max_price is not None else None
        self.ticks = self.start_ticks
        self.size_step_units = 10 ** (PRICE_DECIMALS - profile.size_decimals)
        self.size_texts: dict[int, str] = {}  # lots -> size text: sizes repeat, their texts are made once
        self.log_median = math.log(profile.median_size * 10**profile.size_decimals)
        self.next_trade_id = _FIRST_TRADE_ID + self.rng.randrange(_ID_SPREAD)
        self.next_agg_id = _FIRST_AGG_ID + self.rng.randrange(_ID_SPREAD)
        self.last_ms = 0

    def step(self, ts_ms: int) -> SimTrade:
        """The next trade: a side, a price move following it, a size; the next ids."""
        rng = self.rng
        side: SimSide = "buy" if rng.random() < 0.5 else "sell"
        # Buys lift the offer and sells hit the bid: the move follows the aggressor.
        ticks = self.ticks
        sigma = ticks * _RELATIVE_MOVE
        if sigma < 0.6:
            sigma = 0.6
        if rng.gauss_next is None:  # type: ignore[attr-defined]  # always: step draws two normals at a time
            # rng.gauss(0.0, sigma) then rng.gauss(0.0, 1.0), computed as Random.gauss computes them
            # (Box-Muller: the first call draws a pair, the second returns the other one), in one go.
            x2pi = rng.random() * _TWO_PI
            g2rad = sqrt(-2.0 * log(1.0 - rng.random()))
            move_draw = 0.0 + cos(x2pi) * g2rad * sigma
            size_draw = 0.0 + sin(x2pi) * g2rad * 1.0
        else:
            move_draw = rng.gauss(0.0, sigma)
            size_draw = rng.gauss(0.0, 1.0)
        move = abs(round(move_draw))
        reversion = round((self.start_ticks - ticks) * _REVERSION)
        ticks += (move if side == "buy" else -move) + reversion
        if ticks < 1:
            ticks = 1
        if self.max_ticks is not None and ticks > self.max_ticks:
            ticks = self.max_ticks
        self.ticks = ticks
        lots = round(exp(self.log_median + _SIZE_SIGMA * size_draw))
        if lots < 1:
            lots = 1
        size_text = self.size_texts.get(lots)
        if size_text is None:
            size_text = _text(lots * self.size_step_units)
            if len(self.size_texts) >= _SIZE_TEXTS:
                self.size_texts.clear()
            self.size_texts[lots] = size_text
        if ts_ms > self.last_ms:
            self.last_ms = ts_ms
        trade_id = self.next_trade_id
        agg_id = self.next_agg_id
        self.next_trade_id = trade_id + 1
        self.next_agg_id = agg_id + 1
        price_text = _text(ticks * self.tick_units)
        return _new_trade(SimTrade, (self.instrument, trade_id, agg_id, price_text, size_text, side, self.last_ms))


def _text(units: int) -> str:
    whole, fraction = divmod(units, _UNIT)
    return f"{whole}.{fraction:08d}"


class Market:
    """The simulated market of several instruments.

    Args:
        seed: The seed; the same seed and instruments give the same tape.
        instruments: Canonical instruments traded.

    Raises:
        ValueError: No instruments, a duplicate, or a name that is not canonical.
    """

    def __init__(self, seed: int, instruments: Sequence[str]) -> None:
        if not instruments:
            raise ValueError("the simulated market needs at least one instrument")
        if len(set(instruments)) != len(instruments):
            raise ValueError(f"duplicate instruments in {list(instruments)}")
        self._walks = {instrument: _Walk(seed, instrument) for instrument in instruments}

    @property
    def instruments(self) -> tuple[str, ...]:
        """The instruments traded, in the order given."""
        return tuple(self._walks)

    def next_trade(self, instrument: str, ts_ms: int) -> SimTrade:
        """The next trade of one instrument.

        Args:
            instrument: One of :attr:`instruments`.
            ts_ms: The trade's event time in epoch milliseconds; an earlier time than the
                instrument's previous trade is raised to it, so event times never go back.

        Returns:
            The trade.

        Raises:
            KeyError: The instrument is not traded here.
        """
        walk = self._walks.get(instrument)
        if walk is None:
            raise KeyError(f"{instrument!r} is not simulated; instruments: {list(self._walks)}")
        return walk.step(ts_ms)


def iter_trades(seed: int, instruments: Sequence[str], times_ms: Iterable[int]) -> Iterator[SimTrade]:
    """A tape that takes the instruments in turn, one trade per given event time.

    Args:
        seed: The market seed.
        instruments: Canonical instruments, traded round-robin in this order.
        times_ms: Event times (epoch milliseconds), one per trade; the tape ends with them.

    Yields:
        The trades.
    """
    market = Market(seed, instruments)
    order = market.instruments
    for index, ts_ms in enumerate(times_ms):
        yield market.next_trade(order[index % len(order)], ts_ms)
