"""Reading and replacing daily partitions of lake tables, for the silver assets."""

from __future__ import annotations

import datetime as dt
import logging
import warnings

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import And, BooleanExpression, GreaterThanOrEqual, LessThan, Or, Reference
from pyiceberg.expressions.literals import literal
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from contracts.tables import EVENT_DATES_KEY, TableDef
from ticklake.lake import ensure_table, on_day
from ticklake.timeutil import date_to_ns

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 5
"""Commits of one partition retried this often when another writer (another partition) committed first."""


def read_rows(table: Table, row_filter: BooleanExpression, columns: tuple[str, ...] = ("*",)) -> pa.Table:
    """The rows of ``table`` matching ``row_filter`` (Iceberg partition and file pruning apply)."""
    return table.scan(row_filter=row_filter, selected_fields=columns).to_arrow()


def read_day(table: Table, day: dt.date, columns: tuple[str, ...] = ("*",)) -> pa.Table:
    """The rows of one ``event_date`` partition."""
    return read_rows(table, on_day(day), columns)


def read_day_edges(table: Table, day: dt.date, skew_ns: int, columns: tuple[str, ...] = ("*",)) -> pa.Table:
    """The rows of the days before and after ``day`` whose event time is within ``skew_ns`` of its edges.

    The last ``skew_ns`` of the day before and the first ``skew_ns`` of the day after: partition
    pruning keeps the scan to those two days, file and row-group statistics on ``ts_event`` to the
    slices (files are sorted by instrument and event time).
    """
    start = date_to_ns(day)
    end = date_to_ns(day + dt.timedelta(days=1))
    before = And(
        on_day(day - dt.timedelta(days=1)),
        GreaterThanOrEqual(term=Reference("ts_event"), value=literal(start - skew_ns)),
    )
    after = And(on_day(day + dt.timedelta(days=1)), LessThan(term=Reference("ts_event"), value=literal(end + skew_ns)))
    return read_rows(table, Or(before, after), columns)


def replace_day(
    catalog: Catalog, table_def: TableDef, data: pa.Table, day: dt.date, properties: dict[str, str]
) -> Snapshot | None:
    """Replace one ``event_date`` partition with ``data`` in a single atomic Iceberg commit.

    Other partitions may be committed concurrently (one Dagster run per partition): a commit that
    lost the race is retried on the table's new state, which is safe because only this writer
    touches this partition.

    Args:
        catalog: The catalog.
        table_def: The table.
        data: The partition's new rows (columns by name; cast to the table schema).
        day: The partition.
        properties: Extra snapshot-summary properties (``ticklake.event_dates`` is added).

    Returns:
        The table's current snapshot after the commit.

    Raises:
        CommitFailedException: Still conflicting after :data:`COMMIT_ATTEMPTS` attempts.
    """
    table = ensure_table(catalog, table_def)
    target = table.schema().as_arrow()
    rows = data.select(target.names).cast(target)
    summary = {**properties, EVENT_DATES_KEY: day.isoformat()}
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                # the first build of a day has nothing to replace; pyiceberg warns about that
                warnings.filterwarnings("ignore", message="Delete operation did not match any records")
                table.overwrite(rows, overwrite_filter=on_day(day), snapshot_properties=summary)
            break
        except CommitFailedException as error:
            if attempt == COMMIT_ATTEMPTS:
                raise
            log.warning("%s %s: commit conflicted (%s); retrying", table_def.identifier, day, error)
            table = catalog.load_table(table_def.identifier)
    return table.current_snapshot()
