"""Reprocessing: re-parse ``bronze.raw_messages`` through the current parsers and rebuild bronze for a date range.

The bronze tables derived from frames (trades, book updates, tickers, lifecycle, parse dead letters)
are rebuilt for the event dates ``start..end`` (and, when given, only some venues):

1. The raw frames received in ``start - margin .. end + margin`` are read (a record's event date is
   its venue time, a frame's is its receive time; ``margin_days`` covers frames received up to that
   many days before or after the records they carry).
2. Each frame goes through :data:`streaming.venues.registry.PARSERS` exactly as the collector does:
   records keep the frame's ``ts_recv`` and the ``ts_ingest`` the collector stamped (so an unchanged
   parser reproduces the rows exactly), rejects become ``parse`` dead letters, and a trade identity
   ``(venue, symbol, trade_id)`` is kept once (its first arrival), like the collector's dedup. The
   rows' ``kafka_partition``/``kafka_offset`` are the coordinates of their raw frame (provenance).
3. Each table's rows of the range are replaced by the new ones in one Iceberg commit (``overwrite``
   with a filter on ``event_date`` (+ ``venue``); dead letters only of stage ``parse``). The commit
   carries ``ticklake.event_dates``: the silver sensor then requests those partitions.

Rows that no frame read accounts for (their ``(venue, ts_recv)`` is no frame's) are kept unless
``keep_unframed`` is off: trades repaired from a venue's REST history have no frame, and rows the
sink lands while the rebuild runs come from frames it did not read. Each table's commit is atomic;
the tables are committed one after the other (Iceberg has no multi-table transaction here), so a
reader may briefly see the new trades with the old book updates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThanOrEqual,
    Reference,
)
from pyiceberg.expressions.literals import literal
from pyiceberg.table import Table

from contracts.records import BookUpdate, DeadLetter, Lifecycle, Ticker, Trade
from contracts.tables import (
    BRONZE_BOOK,
    BRONZE_DEAD_LETTERS,
    BRONZE_LIFECYCLE,
    BRONZE_RAW,
    BRONZE_TICKERS,
    BRONZE_TRADES,
    EVENT_DATES_KEY,
    TableDef,
)
from streaming.errors import ParseError, StreamingError
from streaming.venues.registry import PARSERS
from ticklake.lake import ensure_table
from ticklake.timeutil import ns_to_date

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 5
RAW_COLUMNS = ("venue", "connection_id", "seq", "ts_recv", "ts_ingest", "payload", "kafka_partition", "kafka_offset")

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage ``parse`` counts frames, ``write <table>`` counts tables."""


class ReprocessError(StreamingError):
    """A reprocessing request is invalid (dates, venues)."""


@dataclasses.dataclass(frozen=True)
class _Target:
    """A rebuilt table: which records go there and which of its rows a rebuild replaces."""

    table: TableDef
    record: type
    time_column: str
    stage: str | None = None  # dead letters: only this stage is rebuilt


TARGETS = (
    _Target(BRONZE_TRADES, Trade, "ts_event"),
    _Target(BRONZE_BOOK, BookUpdate, "ts_event"),
    _Target(BRONZE_TICKERS, Ticker, "ts_event"),
    _Target(BRONZE_LIFECYCLE, Lifecycle, "ts_event"),
    _Target(BRONZE_DEAD_LETTERS, DeadLetter, "ts_recv", stage="parse"),
)
"""The bronze tables derived from frames, in commit order."""


@dataclasses.dataclass(frozen=True)
class TableReport:
    """What the rebuild of one table did."""

    table: str
    rows_before: int
    rows_after: int
    kept_unframed: int
    snapshot_id: int | None


@dataclasses.dataclass(frozen=True)
class ReprocessReport:
    """What one reprocessing run did."""

    start: dt.date
    end: dt.date
    venues: tuple[str, ...]
    frames: int
    rejects: int
    duplicate_trades: int
    tables: tuple[TableReport, ...]
    seconds: float

    @property
    def event_dates(self) -> list[dt.date]:
        """Every date of the range (the silver partitions to rebuild)."""
        return days_between(self.start, self.end)


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """The dates ``start..end``, both included."""
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def _between(column: str, start: dt.date, end: dt.date) -> BooleanExpression:
    return And(
        GreaterThanOrEqual(term=Reference(column), value=literal(start.isoformat())),
        LessThanOrEqual(term=Reference(column), value=literal(end.isoformat())),
    )


def _venue_in(venues: Sequence[str]) -> BooleanExpression:
    return In(term=Reference("venue"), values={literal(venue) for venue in venues})


def _scope(target: _Target, start: dt.date, end: dt.date, venues: Sequence[str] | None) -> BooleanExpression:
    """The rows of ``target`` a rebuild replaces."""
    expression = _between("event_date", start, end)
    if venues:
        expression = And(expression, _venue_in(venues))
    if target.stage is not None:
        expression = And(expression, EqualTo(term=Reference("stage"), value=literal(target.stage)))
    return expression


def check_request(start: dt.date, end: dt.date, venues: Sequence[str] | None) -> None:
    """Validate a reprocessing request.

    Raises:
        ReprocessError: ``end`` before ``start``, or a venue without a parser.
    """
    if end < start:
        raise ReprocessError(f"the range is empty: end {end} is before start {start}")
    unknown = [venue for venue in venues or () if venue not in PARSERS]
    if unknown:
        raise ReprocessError(f"unknown venues {unknown}; known: {', '.join(PARSERS)}")


class _Collected:
    """The rows re-derived from frames, per target table."""

    def __init__(self, start: dt.date, end: dt.date) -> None:
        self.start = start
        self.end = end
        self.rows: dict[str, list[dict[str, Any]]] = {target.table.identifier: [] for target in TARGETS}
        self.trade_ids: set[tuple[str, str, str]] = set()
        self.duplicates = 0
        self.rejects = 0

    def add(self, target: _Target, record: Any, ts_ingest: int, partition: int, offset: int) -> None:
        day = ns_to_date(getattr(record, target.time_column))
        if not self.start <= day <= self.end:
            return
        if target.record is Trade:
            identity = (record.venue, record.symbol, record.trade_id)
            if identity in self.trade_ids:
                self.duplicates += 1
                return
            self.trade_ids.add(identity)
        row = record.to_record(ts_ingest)
        row.update(event_date=day, kafka_partition=partition, kafka_offset=offset)
        self.rows[target.table.identifier].append(row)


_TARGET_OF = {target.record: target for target in TARGETS}


def _parse_frames(raw: pa.Table, collected: _Collected, progress: Progress | None) -> int:
    """Parse every frame (in arrival order) into ``collected``; return how many frames were parsed."""
    total = raw.num_rows
    done = 0
    step = max(1, total // 100)
    for batch in raw.to_batches(max_chunksize=10_000):
        columns = {name: batch.column(name).to_pylist() for name in RAW_COLUMNS}
        for index in range(batch.num_rows):
            venue = columns["venue"][index]
            payload = columns["payload"][index]
            ts_recv = columns["ts_recv"][index]
            ts_ingest = columns["ts_ingest"][index]
            partition = columns["kafka_partition"][index]
            offset = columns["kafka_offset"][index]
            try:
                parsed = PARSERS[venue](payload, ts_recv)
            except ParseError as error:
                collected.rejects += 1
                letter = DeadLetter(
                    venue=venue,
                    stage="parse",
                    error=str(error),
                    ts_recv=ts_recv,
                    payload=payload,
                    connection_id=columns["connection_id"][index],
                    seq=columns["seq"][index],
                )
                collected.add(_TARGET_OF[DeadLetter], letter, ts_ingest, partition, offset)
            else:
                for record in parsed.records:
                    collected.add(_TARGET_OF[type(record)], record, ts_ingest, partition, offset)
            done += 1
            if progress is not None and (done % step == 0 or done == total):
                progress("parse", done, total)
    return done


def _unframed(existing: pa.Table, frames: dict[str, pa.Array]) -> pa.Table:
    """The existing rows whose ``(venue, ts_recv)`` is no frame's."""
    if existing.num_rows == 0:
        return existing
    framed = pa.array([False] * existing.num_rows)
    for venue, receive_times in frames.items():
        of_venue = pc.equal(existing.column("venue"), venue)
        framed = pc.or_(framed, pc.and_(of_venue, pc.is_in(existing.column("ts_recv"), value_set=receive_times)))
    return existing.filter(pc.invert(framed))


def _rebuild(
    catalog: Catalog,
    target: _Target,
    rows: list[dict[str, Any]],
    scope: BooleanExpression,
    frames: dict[str, pa.Array],
    keep_unframed: bool,
    properties: dict[str, str],
) -> TableReport:
    """Replace the table's rows in ``scope`` with ``rows`` (plus the unframed ones kept), atomically."""
    table: Table = ensure_table(catalog, target.table)
    schema = table.schema().as_arrow()
    fresh = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        existing = table.scan(row_filter=scope).to_arrow()
        kept = _unframed(existing, frames) if keep_unframed else schema.empty_table()
        data = pa.concat_tables([fresh, kept.select(schema.names).cast(schema)])
        if data.num_rows:
            data = data.sort_by([(name, "ascending") for name in target.table.sort_by])
        try:
            with warnings.catch_warnings():
                # an empty range has nothing to replace; pyiceberg warns about that
                warnings.filterwarnings("ignore", message="Delete operation did not match any records")
                table.overwrite(data, overwrite_filter=scope, snapshot_properties=properties)
            break
        except CommitFailedException as error:
            if attempt == COMMIT_ATTEMPTS:
                raise
            log.warning("reprocess: commit to %s conflicted (%s); retrying", target.table.identifier, error)
            table = catalog.load_table(target.table.identifier)
    snapshot = table.current_snapshot()
    return TableReport(
        table=target.table.identifier,
        rows_before=existing.num_rows,
        rows_after=data.num_rows,
        kept_unframed=kept.num_rows,
        snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
    )


def reprocess(
    catalog: Catalog,
    start: dt.date,
    end: dt.date,
    venues: Sequence[str] | None = None,
    *,
    margin_days: int = 1,
    keep_unframed: bool = True,
    progress: Progress | None = None,
) -> ReprocessReport:
    """Rebuild the frame-derived bronze tables for the event dates ``start..end`` from the raw frames.

    Args:
        catalog: The catalog holding bronze.
        start: First event date (inclusive).
        end: Last event date (inclusive).
        venues: Only these venues (default: every venue).
        margin_days: Also read frames received this many days before ``start`` and after ``end``.
        keep_unframed: Keep existing rows no frame read accounts for (REST repairs, rows landed meanwhile).
        progress: Called with the parse progress (frames) and the write progress (tables).

    Returns:
        What was read and written.

    Raises:
        ReprocessError: The request is invalid.
        CommitFailedException: A table stayed in conflict with another writer.
    """
    check_request(start, end, venues)
    if margin_days < 0:
        raise ReprocessError(f"negative margin {margin_days}")
    started = time.monotonic()
    raw_table = ensure_table(catalog, BRONZE_RAW)
    margin = dt.timedelta(days=margin_days)
    raw_scope = _between("event_date", start - margin, end + margin)
    if venues:
        raw_scope = And(raw_scope, _venue_in(venues))
    raw = raw_table.scan(row_filter=raw_scope, selected_fields=RAW_COLUMNS).to_arrow()
    raw = raw.sort_by([("ts_recv", "ascending"), ("kafka_partition", "ascending"), ("kafka_offset", "ascending")])
    unknown = sorted(set(raw.column("venue").to_pylist()) - set(PARSERS))
    if unknown:
        log.warning("reprocess: no parser for venues %s: their frames are skipped", unknown)
        raw = raw.filter(pc.invert(pc.is_in(raw.column("venue"), value_set=pa.array(unknown))))
    log.info("reprocess %s..%s: %d frames to parse", start, end, raw.num_rows)

    collected = _Collected(start, end)
    frames = _parse_frames(raw, collected, progress)
    receive_times = {
        venue: pc.unique(raw.filter(pc.equal(raw.column("venue"), venue)).column("ts_recv"))
        for venue in pc.unique(raw.column("venue")).to_pylist()
    }
    dates = ",".join(day.isoformat() for day in days_between(start, end))
    properties = {
        EVENT_DATES_KEY: dates,
        "ticklake.reprocess": f"{start.isoformat()}..{end.isoformat()}",
        "ticklake.reprocess.venues": ",".join(venues or ()) or "*",
    }
    reports = []
    for index, target in enumerate(TARGETS, start=1):
        report = _rebuild(
            catalog,
            target,
            collected.rows[target.table.identifier],
            _scope(target, start, end, venues),
            receive_times,
            keep_unframed,
            properties,
        )
        reports.append(report)
        log.info(
            "reprocess: %s: %d rows replaced by %d (%d unframed kept), snapshot %s",
            report.table,
            report.rows_before,
            report.rows_after,
            report.kept_unframed,
            report.snapshot_id,
        )
        if progress is not None:
            progress(f"write {target.table.identifier}", index, len(TARGETS))
    return ReprocessReport(
        start=start,
        end=end,
        venues=tuple(venues or ()),
        frames=frames,
        rejects=collected.rejects,
        duplicate_trades=collected.duplicates,
        tables=tuple(reports),
        seconds=time.monotonic() - started,
    )
