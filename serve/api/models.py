"""Response models of the API, the vocabulary its parameters share, and exact value formatting."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal, get_args

from pydantic import BaseModel, Field

Venue = Literal["binance", "coinbase", "kraken", "krakenfutures", "kalshi", "polymarket"]
"""Venue ids the API accepts (lower case)."""

KNOWN_VENUES: tuple[str, ...] = get_args(Venue)

Interval = Literal["1m", "5m", "1h"]
"""Candle intervals the platform builds. Add ``"5m"``/``"1h"`` here once silver builds them."""

SUPPORTED_INTERVALS: tuple[str, ...] = get_args(Interval)


def decimal_to_str(value: Decimal) -> str:
    """Exact plain-notation text of a decimal, without trailing zeros or an exponent.

    Unlike ``Decimal.normalize()`` this never rounds (``normalize`` applies the context precision,
    28 digits by default, while ``decimal(38, 18)`` holds 38).

    Args:
        value: A finite decimal.

    Returns:
        E.g. ``"65000.12"`` for ``Decimal("65000.120000000000000000")``, ``"0.00000123"`` for
        ``Decimal("0.000001230000000000")``, ``"12000000000"`` for ``Decimal("1.2E+10")``, ``"0"`` for
        any zero.

    Raises:
        ValueError: The value is NaN or infinite.
    """
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    if value.is_zero():
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


class CandleOut(BaseModel):
    """One OHLCV bar over the event-time window ``[window_start, window_end)``.

    Prices and sizes are exact decimal strings (never floats); ``quote_volume`` and ``vwap`` are
    derived doubles.
    """

    window_start: str = Field(description="Window start, ISO-8601 UTC with nanoseconds, inclusive.")
    window_start_ns: int = Field(description="Window start, epoch nanoseconds.")
    window_end: str = Field(description="Window end, ISO-8601 UTC with nanoseconds, exclusive.")
    window_end_ns: int = Field(description="Window end, epoch nanoseconds.")
    open: str = Field(description="First trade price by event time (exact decimal).", examples=["65000.12"])
    high: str = Field(description="Highest trade price (exact decimal).")
    low: str = Field(description="Lowest trade price (exact decimal).")
    close: str = Field(description="Last trade price by event time (exact decimal).")
    volume: str = Field(description="Base volume (exact decimal).")
    buy_volume: str = Field(description="Base volume of taker buys (exact decimal).")
    sell_volume: str = Field(description="Base volume of taker sells (exact decimal).")
    quote_volume: float = Field(description="sum(price * size), double precision.")
    vwap: float = Field(description="quote_volume / volume, double precision.")
    trade_count: int = Field(description="Number of trades in the window.")
    first_trade_id: str = Field(description="Trade id of the first trade by event time.")
    last_trade_id: str = Field(description="Trade id of the last trade by event time.")
    revision: int = Field(
        default=1, description="1 for the first build of the window; raised each time a recompute changed it."
    )


class CandlesResponse(BaseModel):
    """Candles of one instrument on one venue over ``[start, end)``, by ``window_start`` ascending."""

    venue: Venue
    instrument: str
    interval: Interval
    start: str = Field(description="Effective range start (inclusive), ISO-8601 UTC with nanoseconds.")
    end: str = Field(description="Effective range end (exclusive), ISO-8601 UTC with nanoseconds.")
    count: int = Field(description="Number of candles returned (at most `limit`).")
    candles: list[CandleOut]


CheckStatus = Literal["ok", "error"]


class VenueCapture(BaseModel):
    """Capture quality of one venue."""

    gaps: int = Field(description="Trade sequence gaps found.")
    missing: int = Field(description="Messages or trades the gaps skipped.")
    repaired_gaps: int = Field(description="Gaps completely repaired from the venue's REST history.")
    book_gaps: int = Field(description="Order books found out of sync (sequence gap or checksum), each resnapshotted.")
    dead_letters: dict[str, int] = Field(description="Rejected frames by stage (parse, ...).")


class CaptureResponse(BaseModel):
    """Capture quality per venue."""

    since: dt.date | None = Field(description="First UTC day counted; null: everything kept.")
    venues: dict[str, VenueCapture]


class HealthResponse(BaseModel):
    """Liveness with readiness details: the process answers; ``checks`` says whether its inputs do."""

    status: Literal["ok", "degraded"] = Field(description='"ok" when every check passes, else "degraded".')
    checks: dict[str, CheckStatus] = Field(description="Outcome per dependency, e.g. {'catalog': 'ok'}.")
    message: str | None = Field(default=None, description="Why a check failed (no stack trace).")


class LivenessResponse(BaseModel):
    """The process is up and serving requests."""

    status: Literal["ok"] = "ok"


class ErrorBody(BaseModel):
    """What went wrong."""

    code: str = Field(description="Machine-readable code, e.g. invalid_parameter, invalid_range.")
    message: str = Field(description="Human-readable explanation naming the parameter at fault.")
    parameter: str | None = Field(default=None, description="The request parameter at fault, if any.")


class ErrorResponse(BaseModel):
    """The shape of every error answer (4xx and 5xx)."""

    error: ErrorBody
