"""Markets: the dbt marts, read from the published ``gold.*`` Iceberg tables.

* ``GET /v1/markets/daily``: the daily market summary per venue and instrument, with the day's
  largest trades (``gold.daily_market_summary`` + ``gold.largest_trades``).
* ``GET /v1/markets/candles``: the candle mart of one series, with each candle's log return
  (``gold.candles``).
* ``GET /v1/instruments``: the instrument dimension (``gold.instruments``).

The marts are built by dbt in a DuckDB file private to the build and then published to these Iceberg
tables in one commit per table (``orchestration/defs/marts``), so these reads never touch a file a
writer holds: they read the files of the table's current snapshot, which no build rewrites.

Conventions are those of :mod:`serve.api.routes.candles`: exact decimal strings for prices and sizes,
times as ISO-8601 UTC with nanoseconds plus epoch-ns fields, and a 422 naming the parameter at fault.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Query, status
from pydantic import AfterValidator, BaseModel, Field
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThan,
    Reference,
)
from pyiceberg.expressions.literals import literal
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.table import Table

from contracts.instruments import is_canonical
from serve.api.deps import LakeDep
from serve.api.models import (
    SUPPORTED_INTERVALS,
    CandleOut,
    ErrorResponse,
    Interval,
    Venue,
    decimal_to_str,
)
from serve.api.routes.candles import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    TIMESTAMP_EXAMPLES,
    candle_filter,
    group_by_event_date,
    resolve_range,
    to_candle,
)
from serve.errors import InvalidParameterError, InvalidRangeError, invalid_value_message
from ticklake.timeutil import now_ns, ns_to_date, ns_to_iso

router = APIRouter(tags=["markets"])

DAILY_SUMMARY_TABLE = "gold.daily_market_summary"
LARGEST_TRADES_TABLE = "gold.largest_trades"
CANDLES_TABLE = "gold.candles"
INSTRUMENTS_TABLE = "gold.instruments"

PUBLICATION_KEY = "ticklake.publication"
"""Snapshot-summary key naming the marts build that published a gold snapshot (the same in every gold
table that build published; see ``orchestration/defs/marts/publish.py``)."""

DEFAULT_DAYS = 7
"""When ``start`` is omitted it is ``end`` minus this many days."""

InstrumentKind = Literal["spot", "perpetual", "future", "prediction"]

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_EXAMPLE = "2026-11-20"

_ERRORS: dict[int | str, dict[str, Any]] = {
    status.HTTP_422_UNPROCESSABLE_CONTENT: {"model": ErrorResponse, "description": "A bad parameter."},
    status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorResponse, "description": "The catalog is down."},
}


# --- response models ---------------------------------------------------------------------------


class LargeTradeOut(BaseModel):
    """One of the day's largest trades of an instrument."""

    rank: int = Field(description="1 for the largest trade of the day (by size; ties: the earlier trade first).")
    trade_id: str
    price: str = Field(description="Exact decimal.")
    size: str = Field(description="Exact decimal.")
    side: str = Field(description="Taker side: buy, sell or unknown.")
    ts_event: str = Field(description="Event time, ISO-8601 UTC with nanoseconds.")
    ts_event_ns: int = Field(description="Event time, epoch nanoseconds.")


class DailySummaryOut(BaseModel):
    """The market summary of one instrument on one venue over one UTC day."""

    venue: str
    instrument: str
    date: str = Field(description="The UTC day, e.g. 2026-11-20.")
    open: str = Field(description="First trade price by event time (exact decimal).")
    high: str = Field(description="Highest trade price (exact decimal).")
    low: str = Field(description="Lowest trade price (exact decimal).")
    close: str = Field(description="Last trade price by event time (exact decimal).")
    volume: str = Field(description="Base volume (exact decimal).")
    buy_volume: str = Field(description="Base volume of taker buys (exact decimal).")
    sell_volume: str = Field(description="Base volume of taker sells (exact decimal).")
    unknown_volume: str = Field(description="Base volume of trades without a taker side (exact decimal).")
    quote_volume: float = Field(description="sum(price * size), double precision.")
    vwap: float = Field(description="quote_volume / volume, double precision.")
    trade_count: int
    buy_count: int
    sell_count: int
    buy_sell_ratio: float | None = Field(description="buy_volume / sell_volume; null when nothing was sold.")
    realized_volatility: float | None = Field(
        description="sqrt(sum of squared 1-minute log returns) over the day, not annualized; null without two "
        "1-minute candles."
    )
    return_count: int = Field(description="Number of 1-minute log returns behind realized_volatility.")
    first_trade_at: str = Field(description="Event time of the day's first trade, ISO-8601 UTC with nanoseconds.")
    first_trade_ns: int
    last_trade_at: str = Field(description="Event time of the day's last trade, ISO-8601 UTC with nanoseconds.")
    last_trade_ns: int
    first_trade_id: str
    last_trade_id: str
    largest_trades: list[LargeTradeOut] = Field(description="The day's largest trades, largest first.")


class DailySummaryResponse(BaseModel):
    """Daily market summaries over the UTC days ``[start, end)``, by day, venue and instrument."""

    start: str = Field(description="First day (inclusive).")
    end: str = Field(description="Day after the last one (exclusive).")
    count: int = Field(description="Number of summaries returned (at most `limit`).")
    days: list[DailySummaryOut]


class MartCandleOut(CandleOut):
    """A candle of the candle mart: the silver candle and its log return."""

    log_return: float | None = Field(
        description="ln(close / previous candle's close) within the series and UTC day; null for the day's first."
    )


class MartCandlesResponse(BaseModel):
    """Candles of the mart for one series over ``[start, end)``, by ``window_start`` ascending."""

    venue: Venue
    instrument: str
    interval: Interval
    start: str = Field(description="Effective range start (inclusive), ISO-8601 UTC with nanoseconds.")
    end: str = Field(description="Effective range end (exclusive), ISO-8601 UTC with nanoseconds.")
    count: int = Field(description="Number of candles returned (at most `limit`).")
    candles: list[MartCandleOut]


class InstrumentOut(BaseModel):
    """One instrument traded on one venue, from the instrument dimension."""

    venue: str
    instrument: str
    kind: InstrumentKind
    base: str | None = Field(description="Base asset (null for prediction contracts).")
    quote: str | None = Field(description="Quote asset (null for prediction contracts).")
    expiry: str | None = Field(description="Expiry day of a dated future, e.g. 2026-12-25.")
    first_seen: str = Field(description="Event time of the first trade seen, ISO-8601 UTC with nanoseconds.")
    first_seen_ns: int
    last_seen: str = Field(description="Event time of the last trade seen, ISO-8601 UTC with nanoseconds.")
    last_seen_ns: int
    days_traded: int = Field(description="Number of UTC days with trades.")
    trade_count: int = Field(description="Trades over all those days.")


class InstrumentsResponse(BaseModel):
    """The instruments seen, by venue and instrument."""

    count: int
    instruments: list[InstrumentOut]


# --- parameters --------------------------------------------------------------------------------


def canonical_instrument(value: str) -> str:
    """Validate a canonical instrument name (the message lists the accepted forms)."""
    if not is_canonical(value):
        raise ValueError(
            "must be a canonical instrument: BASE-QUOTE, BASE-QUOTE-PERP, BASE-QUOTE-YYYYMMDD or VENUE:ID "
            "(e.g. BTC-USDT, BTC-USD-PERP, KALSHI:KXBTCD-26NOV2117-T95999.99)"
        )
    return value


def _optional_instrument(value: str | None) -> str | None:
    return None if value is None else canonical_instrument(value)


def parse_day(text: str, parameter: str) -> dt.date:
    """A UTC day given as a query parameter (``YYYY-MM-DD``).

    Raises:
        InvalidParameterError: The text is not such a day.
    """
    value = text.strip()
    try:
        if not _DAY.fullmatch(value):
            raise ValueError("not a date")
        return dt.date.fromisoformat(value)
    except ValueError as error:
        reason = f"{error}; use a UTC day such as {_DAY_EXAMPLE}"
        raise InvalidParameterError(invalid_value_message(parameter, text, reason), parameter=parameter) from None


def resolve_days(start: str | None, end: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The query's days ``[start, end)`` with the defaults applied.

    Args:
        start: The ``start`` parameter; default ``end`` minus :data:`DEFAULT_DAYS` days.
        end: The ``end`` parameter; default the day after ``today`` (today included).
        today: The current UTC day.

    Returns:
        The first day and the day after the last one.

    Raises:
        InvalidParameterError: A day cannot be parsed.
        InvalidRangeError: ``start`` is not before ``end``.
    """
    last = today + dt.timedelta(days=1) if end is None else parse_day(end, "end")
    first = last - dt.timedelta(days=DEFAULT_DAYS) if start is None else parse_day(start, "start")
    if first >= last:
        end_text = last.isoformat() + (" (the day after today, the default)" if end is None else "")
        raise InvalidRangeError(
            f"'start' ({first.isoformat()}) must be before 'end' ({end_text}); the days are [start, end)",
            parameter="start",
        )
    return first, last


# --- reading -----------------------------------------------------------------------------------


def load_gold(catalog: Catalog, identifier: str) -> Table | None:
    """A gold table, or ``None`` before its first publication."""
    try:
        return catalog.load_table(identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return None


def _all(*predicates: BooleanExpression | None) -> BooleanExpression:
    present = [p for p in predicates if p is not None]
    if not present:
        return AlwaysTrue()
    expression = present[0]
    for predicate in present[1:]:
        expression = And(expression, predicate)
    return expression


def _equal(column: str, value: str | None) -> BooleanExpression | None:
    return None if value is None else EqualTo(term=Reference(column), value=literal(value))


def days_filter(first: dt.date, last: dt.date, venue: str | None, instrument: str | None) -> BooleanExpression:
    """Rows of the days ``[first, last)`` (and partitions), optionally of one venue and/or instrument."""
    return _all(
        GreaterThanOrEqual(term=Reference("event_date"), value=literal(first)),
        LessThan(term=Reference("event_date"), value=literal(last)),
        _equal("venue", venue),
        _equal("instrument", instrument),
    )


def publication_of(table: Table) -> str | None:
    """The build that published the table's current snapshot (``None`` if not a marts publication)."""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return None
    return snapshot.summary.additional_properties.get(PUBLICATION_KEY)


def snapshot_of_publication(table: Table, publication: str | None) -> int | None:
    """The newest snapshot of ``table`` written by the build ``publication`` (``None``: read the current one).

    A build publishes its gold tables one commit after the other, the largest trades before the daily
    summary. A reader that has read the summary at publication P reads the largest trades at P too, so
    it never pairs a summary with the largest trades of another build. (The current snapshot is the
    fallback when P is not there: a build that published the summary alone, or expired snapshots.)
    """
    if publication is None:
        return None
    for snapshot in sorted(table.snapshots(), key=lambda s: s.sequence_number or 0, reverse=True):
        if snapshot.summary is not None and snapshot.summary.additional_properties.get(PUBLICATION_KEY) == publication:
            return snapshot.snapshot_id
    return None


def read_by_day(
    table: Table,
    row_filter: BooleanExpression,
    sort_keys: list[tuple[str, str]],
    limit: int | None,
    snapshot_id: int | None = None,
) -> list[dict[str, Any]]:
    """Rows matching ``row_filter``, one ``event_date`` partition at a time in date order, up to ``limit``.

    Args:
        table: A gold table partitioned by ``event_date``.
        row_filter: The predicate (pushed into the scan: partition pruning and file statistics).
        sort_keys: The order within a day, e.g. ``[("venue", "ascending")]``.
        limit: The most rows to return; ``None`` for all.
        snapshot_id: Read this snapshot instead of the current one.

    Returns:
        One dict per row (decimals as :class:`~decimal.Decimal`).
    """
    scan = table.scan(row_filter=row_filter, snapshot_id=snapshot_id)
    reader = ArrowScan(table.metadata, table.io, scan.projection(), scan.row_filter)
    rows: list[dict[str, Any]] = []
    for tasks in group_by_event_date(table, scan.plan_files()):
        piece: pa.Table = reader.to_table(tasks)
        piece = piece.sort_by([("event_date", "ascending"), *sort_keys])
        remaining = None if limit is None else limit - len(rows)
        rows.extend((piece if remaining is None else piece.slice(0, remaining)).to_pylist())
        if limit is not None and len(rows) >= limit:
            break
    return rows


def _iso_day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def to_large_trade(row: dict[str, Any]) -> LargeTradeOut:
    """The API form of one ``gold.largest_trades`` row."""
    return LargeTradeOut(
        rank=row["size_rank"],
        trade_id=row["trade_id"],
        price=decimal_to_str(row["price"]),
        size=decimal_to_str(row["size"]),
        side=row["side"],
        ts_event=ns_to_iso(row["ts_event"]),
        ts_event_ns=row["ts_event"],
    )


def to_summary(row: dict[str, Any], largest: list[LargeTradeOut]) -> DailySummaryOut:
    """The API form of one ``gold.daily_market_summary`` row and its largest trades."""
    decimals = {
        name: decimal_to_str(row[name])
        for name in ("open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "unknown_volume")
    }
    return DailySummaryOut(
        venue=row["venue"],
        instrument=row["instrument"],
        date=row["event_date"].isoformat(),
        **decimals,
        quote_volume=row["quote_volume"],
        vwap=row["vwap"],
        trade_count=row["trade_count"],
        buy_count=row["buy_count"],
        sell_count=row["sell_count"],
        buy_sell_ratio=row["buy_sell_ratio"],
        realized_volatility=row["realized_volatility"],
        return_count=row["return_count"],
        first_trade_at=ns_to_iso(row["first_trade_ns"]),
        first_trade_ns=row["first_trade_ns"],
        last_trade_at=ns_to_iso(row["last_trade_ns"]),
        last_trade_ns=row["last_trade_ns"],
        first_trade_id=row["first_trade_id"],
        last_trade_id=row["last_trade_id"],
        largest_trades=largest,
    )


def to_instrument(row: dict[str, Any]) -> InstrumentOut:
    """The API form of one ``gold.instruments`` row."""
    return InstrumentOut(
        venue=row["venue"],
        instrument=row["instrument"],
        kind=row["kind"],
        base=row["base"],
        quote=row["quote"],
        expiry=_iso_day(row["expiry"]),
        first_seen=ns_to_iso(row["first_seen_ns"]),
        first_seen_ns=row["first_seen_ns"],
        last_seen=ns_to_iso(row["last_seen_ns"]),
        last_seen_ns=row["last_seen_ns"],
        days_traded=row["days_traded"],
        trade_count=row["trade_count"],
    )


_ORDER = [("venue", "ascending"), ("instrument", "ascending")]


# --- routes ------------------------------------------------------------------------------------

InstrumentParam = Annotated[
    str | None,
    AfterValidator(_optional_instrument),
    Query(
        max_length=160,
        description="Canonical instrument (BASE-QUOTE, BASE-QUOTE-PERP, BASE-QUOTE-YYYYMMDD or VENUE:ID); "
        "default: all.",
        examples=["BTC-USDT"],
    ),
]


@router.get("/markets/daily", summary="Daily market summaries", responses=_ERRORS)
def get_daily(
    lake: LakeDep,
    venue: Annotated[Venue | None, Query(description="Venue id, lower case; default: all.")] = None,
    instrument: InstrumentParam = None,
    start: Annotated[
        str | None,
        Query(description=f"First UTC day, inclusive, e.g. {_DAY_EXAMPLE}. Default: end minus {DEFAULT_DAYS} days."),
    ] = None,
    end: Annotated[
        str | None,
        Query(description="UTC day after the last one (exclusive). Default: tomorrow, so today is included."),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Most summaries to return (1..{MAX_LIMIT}); earliest days first.")
    ] = DEFAULT_LIMIT,
) -> DailySummaryResponse:
    """Daily summaries per venue, instrument and UTC day in ``[start, end)``.

    Each has OHLC, volumes, VWAP, counts, the buy/sell ratio, realized volatility and the day's
    largest trades.

    An empty list (not an error) when nothing matches, including before the marts are first published.
    """
    first, last = resolve_days(start, end, ns_to_date(now_ns()))
    catalog = lake.catalog()
    row_filter = days_filter(first, last, venue, instrument)
    summaries: list[DailySummaryOut] = []
    table = load_gold(catalog, DAILY_SUMMARY_TABLE)
    if table is not None:
        rows = read_by_day(table, row_filter, _ORDER, limit)
        largest: dict[tuple[str, str, dt.date], list[LargeTradeOut]] = defaultdict(list)
        trades_table = load_gold(catalog, LARGEST_TRADES_TABLE)
        if rows and trades_table is not None:
            last_day = rows[-1]["event_date"] + dt.timedelta(days=1)
            trades_filter = days_filter(first, min(last, last_day), venue, instrument)
            order = [*_ORDER, ("size_rank", "ascending")]
            snapshot_id = snapshot_of_publication(trades_table, publication_of(table))
            for trade in read_by_day(trades_table, trades_filter, order, None, snapshot_id):
                largest[(trade["venue"], trade["instrument"], trade["event_date"])].append(to_large_trade(trade))
        summaries = [to_summary(r, largest[(r["venue"], r["instrument"], r["event_date"])]) for r in rows]
    return DailySummaryResponse(start=first.isoformat(), end=last.isoformat(), count=len(summaries), days=summaries)


@router.get("/markets/candles", summary="Candles of the candle mart", responses=_ERRORS)
def get_mart_candles(
    lake: LakeDep,
    instrument: Annotated[
        str,
        AfterValidator(canonical_instrument),
        Query(max_length=160, description="Canonical instrument.", examples=["BTC-USDT"]),
    ],
    venue: Annotated[Venue, Query(description="Venue id, lower case.", examples=["binance"])],
    interval: Annotated[
        Interval, Query(description=f"Candle interval; one of: {', '.join(SUPPORTED_INTERVALS)}.")
    ] = "1m",
    start: Annotated[
        str | None,
        Query(
            description=f"Range start, inclusive, on window_start, e.g. {TIMESTAMP_EXAMPLES}. "
            "Default: end minus one hour."
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(description="Range end, exclusive, on window_start (same forms as start). Default: now."),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Most candles to return (1..{MAX_LIMIT}); the earliest first.")
    ] = DEFAULT_LIMIT,
) -> MartCandlesResponse:
    """The published candle mart of one series, ``window_start`` in ``[start, end)``, ascending.

    Same parameters and conventions as ``/v1/candles``; each candle also carries its log return.
    """
    window = resolve_range(start, end, now_ns())
    table = load_gold(lake.catalog(), CANDLES_TABLE)
    rows: list[dict[str, Any]] = []
    if table is not None:
        row_filter = candle_filter(venue, instrument, interval, window)
        rows = read_by_day(table, row_filter, [("window_start", "ascending")], limit)
    candles = [MartCandleOut(**to_candle(row).model_dump(), log_return=row["log_return"]) for row in rows]
    return MartCandlesResponse(
        venue=venue,
        instrument=instrument,
        interval=interval,
        start=ns_to_iso(window.start_ns),
        end=ns_to_iso(window.end_ns),
        count=len(candles),
        candles=candles,
    )


@router.get("/instruments", summary="Instruments seen", responses=_ERRORS)
def get_instruments(
    lake: LakeDep,
    venue: Annotated[Venue | None, Query(description="Venue id, lower case; default: all.")] = None,
    kind: Annotated[InstrumentKind | None, Query(description="Instrument kind; default: all.")] = None,
) -> InstrumentsResponse:
    """The instrument dimension: every instrument traded, its kind, base/quote, and first/last seen.

    An empty list (not an error) before the marts are first published.
    """
    table = load_gold(lake.catalog(), INSTRUMENTS_TABLE)
    instruments: list[InstrumentOut] = []
    if table is not None:
        arrow = table.scan(row_filter=_all(_equal("venue", venue), _equal("kind", kind))).to_arrow()
        rows = arrow.sort_by(_ORDER).to_pylist()
        instruments = [to_instrument(row) for row in rows]
    return InstrumentsResponse(count=len(instruments), instruments=instruments)
