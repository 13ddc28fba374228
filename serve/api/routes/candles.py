"""Candles: OHLCV bars of one instrument on one venue, read from ``silver.candles``.

The read prunes partitions (``event_date``) and pushes the venue, instrument, interval and
``window_start`` predicates into the Iceberg scan. Data files are read one event date at a time, in
date order, and the read stops as soon as ``limit`` candles are in hand, so a long range with a small
limit reads only its first days. This relies on the writer's rule that a candle's ``event_date`` is
the UTC date of its ``window_start``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import AfterValidator
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Reference,
)
from pyiceberg.expressions.literals import literal
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.table import FileScanTask, Table
from pyiceberg.transforms import IdentityTransform

from contracts.instruments import is_canonical
from contracts.tables import SILVER_CANDLES
from serve.api.deps import LakeDep
from serve.api.models import (
    SUPPORTED_INTERVALS,
    CandleOut,
    CandlesResponse,
    ErrorResponse,
    Interval,
    Venue,
    decimal_to_str,
)
from serve.errors import InvalidAsOfError, InvalidParameterError, InvalidRangeError, invalid_value_message
from ticklake.errors import LakeReadError
from ticklake.lake import AsOf, snapshot_as_of
from ticklake.timeutil import NS_PER_SECOND, datetime_to_ns, now_ns, ns_to_date, ns_to_datetime, ns_to_iso

router = APIRouter(tags=["candles"])

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
DEFAULT_SPAN_NS = 3600 * NS_PER_SECOND
"""When ``start`` is omitted it is ``end`` minus this (one hour)."""

CANDLE_COLUMNS: tuple[str, ...] = (
    "window_start",
    "window_end",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "quote_volume",
    "vwap",
    "trade_count",
    "first_trade_id",
    "last_trade_id",
    "revision",
)
"""The columns read from ``silver.candles`` (the filter columns are not returned); ``revision`` is read
where the table has it (tables written before revisions existed do not)."""

TIMESTAMP_EXAMPLES = "2026-11-21T10:00:00Z, 2026-11-21T11:00:00.000000001+01:00 or 2026-11-21"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_TIMESTAMP = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<fraction>\d{1,9}))?"
    r"(?P<zone>[Zz]|[+\- ]\d{2}(?::?\d{2})?)?)?"
)

_TIME_DOC = (
    "ISO-8601 timestamp with 'Z' or a UTC offset, up to nanosecond precision, e.g. {examples}. "
    "A timestamp without an offset is taken as UTC; a bare date means midnight UTC. "
    "(A '+' left unencoded in the URL arrives as a space and is read as '+'.)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open range ``[start_ns, end_ns)`` of epoch nanoseconds."""

    start_ns: int
    end_ns: int

    @property
    def first_day(self) -> dt.date:
        """The UTC date of the first instant in the range."""
        return ns_to_date(self.start_ns)

    @property
    def last_day(self) -> dt.date:
        """The UTC date of the last instant in the range (``end`` itself is excluded)."""
        return ns_to_date(self.end_ns - 1)


def _offset(zone: str | None) -> dt.tzinfo | None:
    """The tzinfo of an ISO zone designator (``None`` for none, which then means UTC)."""
    if zone is None:
        return None
    if zone in ("Z", "z"):
        return dt.UTC
    sign = -1 if zone[0] == "-" else 1  # a space is a '+' that was not URL-encoded
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or "0")
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad UTC offset {zone.strip()!r}")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def parse_timestamp(text: str, parameter: str) -> int:
    """Epoch nanoseconds of an ISO-8601 timestamp or date given as a query parameter.

    Args:
        text: E.g. ``2026-11-21T10:00:00Z``, ``2026-11-21T11:00:00.000000001+01:00``,
            ``2026-11-21T10:00`` (no offset: UTC) or ``2026-11-21`` (midnight UTC).
        parameter: The parameter's name, for the error message.

    Returns:
        The instant in epoch nanoseconds (UTC), exact to the nanosecond.

    Raises:
        InvalidParameterError: The text is not such a timestamp, or is outside the int64 range.
    """
    match = _TIMESTAMP.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError("not an ISO-8601 timestamp")
        day = dt.date.fromisoformat(match["date"])
        clock = dt.time.fromisoformat(match["time"]) if match["time"] else dt.time()
        tz = _offset(match["zone"]) or dt.UTC
    except ValueError as error:
        reason = f"{error}; use e.g. {TIMESTAMP_EXAMPLES}"
        raise InvalidParameterError(invalid_value_message(parameter, text, reason), parameter=parameter) from None
    fraction = match["fraction"] or ""
    try:
        value = datetime_to_ns(dt.datetime.combine(day, clock, tzinfo=tz)) + int(fraction.ljust(9, "0"))
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 falls before year 1
        value = _INT64_MIN - 1
    if not _INT64_MIN <= value <= _INT64_MAX:
        lowest, highest = ns_to_iso(_INT64_MIN), ns_to_iso(_INT64_MAX)
        reason = f"out of range; timestamps must lie between {lowest} and {highest}"
        raise InvalidParameterError(invalid_value_message(parameter, text, reason), parameter=parameter)
    return value


def resolve_range(start: str | None, end: str | None, now: int) -> TimeRange:
    """The query's time range with the defaults applied.

    Args:
        start: The ``start`` parameter; default ``end`` minus one hour.
        end: The ``end`` parameter; default ``now``.
        now: The current time in epoch nanoseconds.

    Returns:
        The half-open range ``[start, end)``.

    Raises:
        InvalidParameterError: A timestamp cannot be parsed.
        InvalidRangeError: ``start`` is not before ``end``.
    """
    end_ns = now if end is None else parse_timestamp(end, "end")
    start_ns = max(end_ns - DEFAULT_SPAN_NS, _INT64_MIN) if start is None else parse_timestamp(start, "start")
    if start_ns >= end_ns:
        end_text = ns_to_iso(end_ns) + (" (now, the default)" if end is None else "")
        raise InvalidRangeError(
            f"'start' ({ns_to_iso(start_ns)}) must be before 'end' ({end_text}); the range is [start, end)",
            parameter="start",
        )
    return TimeRange(start_ns, end_ns)


def candle_filter(venue: str, instrument: str, interval: str, window: TimeRange) -> BooleanExpression:
    """The scan predicate: one series, ``window_start`` in the range, and the partitions it spans."""
    return And(
        EqualTo(term=Reference("venue"), value=literal(venue)),
        EqualTo(term=Reference("instrument"), value=literal(instrument)),
        EqualTo(term=Reference("interval"), value=literal(interval)),
        GreaterThanOrEqual(term=Reference("window_start"), value=literal(window.start_ns)),
        LessThan(term=Reference("window_start"), value=literal(window.end_ns)),
        GreaterThanOrEqual(term=Reference("event_date"), value=literal(window.first_day)),
        LessThanOrEqual(term=Reference("event_date"), value=literal(window.last_day)),
    )


def _identity_position(spec: PartitionSpec, source_id: int) -> int | None:
    """The position of the identity partition field on ``source_id`` in ``spec``, if any."""
    for position, field in enumerate(spec.fields):
        if field.source_id == source_id and isinstance(field.transform, IdentityTransform):
            return position
    return None


def group_by_event_date(table: Table, tasks: Iterable[FileScanTask]) -> list[list[FileScanTask]]:
    """Scan tasks grouped by their ``event_date`` partition, in date order.

    When a file's date is unknown (a spec that does not partition by ``event_date``), every task is
    returned as a single group, which is still correct, only not incremental.
    """
    source_id = table.schema().find_field("event_date").field_id
    specs = table.specs()
    positions: dict[int, int | None] = {}
    everything: list[FileScanTask] = []
    by_day: dict[int, list[FileScanTask]] = {}
    complete = True
    for task in tasks:
        everything.append(task)
        spec_id = task.file.spec_id
        if spec_id not in positions:
            positions[spec_id] = _identity_position(specs[spec_id], source_id)
        position = positions[spec_id]
        day = task.file.partition[position] if position is not None else None
        if isinstance(day, int):
            by_day.setdefault(day, []).append(task)
        else:
            complete = False
    if not complete:
        return [everything]
    return [by_day[day] for day in sorted(by_day)]


def read_candles(
    table: Table, row_filter: BooleanExpression, limit: int, snapshot_id: int | None = None
) -> list[dict[str, Any]]:
    """The first ``limit`` candles matching ``row_filter``, by ``window_start`` ascending.

    Args:
        table: ``silver.candles``.
        row_filter: The predicate (see :func:`candle_filter`).
        limit: The most candles to return.
        snapshot_id: Read this snapshot (time travel) instead of the current one.

    Returns:
        One dict per candle with the :data:`CANDLE_COLUMNS` (decimals as :class:`~decimal.Decimal`).
    """
    present = {field.name for field in table.scan(snapshot_id=snapshot_id).projection().fields}
    scan = table.scan(
        row_filter=row_filter,
        selected_fields=tuple(c for c in CANDLE_COLUMNS if c in present),
        snapshot_id=snapshot_id,
    )
    reader = ArrowScan(table.metadata, table.io, scan.projection(), scan.row_filter)
    rows: list[dict[str, Any]] = []
    for tasks in group_by_event_date(table, scan.plan_files()):
        piece = reader.to_table(tasks).sort_by("window_start")
        rows.extend(piece.slice(0, limit - len(rows)).to_pylist())
        if len(rows) >= limit:
            break
    return rows


def to_candle(row: dict[str, Any]) -> CandleOut:
    """The API form of one ``silver.candles`` row: ISO times, exact decimal strings."""
    return CandleOut(
        window_start=ns_to_iso(row["window_start"]),
        window_start_ns=row["window_start"],
        window_end=ns_to_iso(row["window_end"]),
        window_end_ns=row["window_end"],
        open=decimal_to_str(row["open"]),
        high=decimal_to_str(row["high"]),
        low=decimal_to_str(row["low"]),
        close=decimal_to_str(row["close"]),
        volume=decimal_to_str(row["volume"]),
        buy_volume=decimal_to_str(row["buy_volume"]),
        sell_volume=decimal_to_str(row["sell_volume"]),
        quote_volume=row["quote_volume"],
        vwap=row["vwap"],
        trade_count=row["trade_count"],
        first_trade_id=row["first_trade_id"],
        last_trade_id=row["last_trade_id"],
        revision=row.get("revision") or 1,
    )


def parse_as_of(text: str) -> AsOf:
    """The ``as_of`` parameter: a snapshot id (digits) or an ISO-8601 time (the forms ``start`` takes).

    Raises:
        InvalidAsOfError: Neither (answered 400).
    """
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        moment = parse_timestamp(value, "as_of")
    except InvalidParameterError as error:
        raise InvalidAsOfError(
            error.message.replace("; use e.g.", "; give an Iceberg snapshot id or a time such as"), parameter="as_of"
        ) from None
    return ns_to_datetime(moment)


def _canonical_instrument(value: str) -> str:
    if not is_canonical(value):
        raise ValueError(
            "must be a canonical instrument: BASE-QUOTE, BASE-QUOTE-PERP, BASE-QUOTE-YYYYMMDD or VENUE:ID "
            "(e.g. BTC-USDT, BTC-USD-PERP, KALSHI:KXBTCD-26NOV2117-T95999.99)"
        )
    return value


@router.get(
    "/candles",
    summary="Candles of one instrument",
    responses={
        status.HTTP_400_BAD_REQUEST: {"model": ErrorResponse, "description": "A bad as_of (time travel) value."},
        status.HTTP_422_UNPROCESSABLE_CONTENT: {"model": ErrorResponse, "description": "A bad parameter."},
        status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorResponse, "description": "The catalog is down."},
    },
)
def get_candles(
    lake: LakeDep,
    instrument: Annotated[
        str,
        AfterValidator(_canonical_instrument),
        Query(
            max_length=64,
            description="Canonical instrument, BASE-QUOTE in upper case.",
            examples=["BTC-USDT"],
        ),
    ],
    venue: Annotated[Venue, Query(description="Venue id, lower case.", examples=["binance"])],
    interval: Annotated[
        Interval, Query(description=f"Candle interval; one of: {', '.join(SUPPORTED_INTERVALS)}.")
    ] = "1m",
    start: Annotated[
        str | None,
        Query(
            description="Range start, inclusive, on window_start. "
            + _TIME_DOC.format(examples=TIMESTAMP_EXAMPLES)
            + " Default: end minus one hour.",
            examples=["2026-11-21T10:00:00Z"],
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            description="Range end, exclusive, on window_start. "
            + _TIME_DOC.format(examples=TIMESTAMP_EXAMPLES)
            + " Default: now.",
            examples=["2026-11-21T11:00:00Z"],
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description=f"Most candles to return (1..{MAX_LIMIT}); the earliest first."),
    ] = DEFAULT_LIMIT,
    as_of: Annotated[
        str | None,
        Query(
            description="Time travel: the candles as they were stored at this time (ISO-8601, as 'start'), "
            "or at this Iceberg snapshot id (digits). Default: now. A bad value or a time before the "
            "table's first snapshot is a 400.",
            examples=["2026-11-21T12:00:00Z"],
        ),
    ] = None,
) -> CandlesResponse:
    """Candles with ``window_start`` in ``[start, end)``, ascending, at most ``limit``.

    Prices and sizes are exact decimal strings. An empty list (not an error) when nothing matches,
    including before ``silver.candles`` exists.
    """
    window = resolve_range(start, end, now_ns())
    point = parse_as_of(as_of) if as_of is not None else None
    catalog = lake.catalog()
    try:
        table = catalog.load_table(SILVER_CANDLES.identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        rows: list[dict[str, Any]] = []
    else:
        snapshot_id = None
        if point is not None:
            try:
                snapshot_id = snapshot_as_of(table, point).snapshot_id
            except LakeReadError as error:
                raise InvalidAsOfError(invalid_value_message("as_of", as_of, str(error)), parameter="as_of") from None
        rows = read_candles(table, candle_filter(venue, instrument, interval, window), limit, snapshot_id)
    candles = [to_candle(row) for row in rows]
    return CandlesResponse(
        venue=venue,
        instrument=instrument,
        interval=interval,
        start=ns_to_iso(window.start_ns),
        end=ns_to_iso(window.end_ns),
        count=len(candles),
        candles=candles,
    )
