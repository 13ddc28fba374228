"""Iceberg table maintenance: compact small files and expire old snapshots.

Compaction rewrites the small data files of one partition into files of the target size, in the
table's sort order, with a single atomic commit that deletes exactly those files and adds the new
ones: the same rows, never lost or doubled. Writers that only append (the bronze sink) may keep
committing meanwhile: the new files are written first, then the commit is retried on a fresh table
whenever another commit got in between (the files it replaces are still there, since writers only
add). Maintenance commits carry no Kafka offsets (see :func:`ticklake.lake.sink_snapshot`), and
snapshot expiry keeps the sink's newest snapshot, so the offsets always stay readable.

pyiceberg 0.12 has no rewrite-files action; this module builds one from its snapshot-update API
(``_OverwriteFiles`` with explicit data files) and its Arrow file writer. Pinned with pyiceberg.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table

from contracts.tables import TableDef
from ticklake.lake import on_day, sink_snapshot, snapshot_current_at

log = logging.getLogger(__name__)

MAINTENANCE_KEY = "ticklake.maintenance"
"""Snapshot-summary key marking commits made by maintenance (value: the action)."""

COMMIT_ATTEMPTS = 20


@dataclasses.dataclass(frozen=True)
class CompactionResult:
    """What compacting one partition did."""

    table: str
    day: dt.date
    files_before: int
    files_after: int
    rows: int
    seconds: float
    snapshot_id: int | None


def partition_files(table: Table, day: dt.date) -> list[FileScanTask]:
    """The data files (as scan tasks) of one daily partition."""
    return list(table.scan(row_filter=on_day(day)).plan_files())


def compact_partition(
    catalog: Catalog,
    table_def: TableDef,
    day: dt.date,
    *,
    small_file_bytes: int = 64 * 2**20,
    min_files: int = 2,
) -> CompactionResult:
    """Rewrite the small files of one daily partition into large sorted ones, atomically.

    Args:
        catalog: The catalog holding the table.
        table_def: The table.
        day: The partition (UTC event date).
        small_file_bytes: Files smaller than this are rewritten.
        min_files: Do nothing unless at least this many small files exist.

    Returns:
        Counts before and after, and the snapshot of the rewrite (``None`` when nothing was done).

    Raises:
        CommitFailedException: Other commits kept getting in the way for every attempt.
        ValidationException: Same, as pyiceberg reports it for overwrites.
    """
    started = time.monotonic()
    table = catalog.load_table(table_def.identifier)
    tasks = partition_files(table, day)
    small = [task for task in tasks if task.file.file_size_in_bytes < small_file_bytes]
    if len(small) < min_files:
        return CompactionResult(table_def.identifier, day, len(tasks), len(tasks), 0, 0.0, None)

    data = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table(small)
    if data.num_rows:
        data = data.sort_by([(column, "ascending") for column in table_def.sort_by])
    data = data.cast(table.schema().as_arrow())
    new_files: list[DataFile] = list(_dataframe_to_data_files(table.metadata, data, table.io))
    replaced = [task.file for task in small]

    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        table = catalog.load_table(table_def.identifier)
        properties = {MAINTENANCE_KEY: "compaction"}
        try:
            with (
                table.transaction() as transaction,
                transaction.update_snapshot(snapshot_properties=properties).overwrite() as rewrite,
            ):
                for old in replaced:
                    rewrite.delete_data_file(old)
                for new in new_files:
                    rewrite.append_data_file(new)
            break
        except (CommitFailedException, ValidationException):
            # another writer committed first (pyiceberg also refuses an overwrite when files were added
            # to the partition meanwhile); the files being replaced are still there: try again on top
            if attempt == COMMIT_ATTEMPTS:
                raise
            log.info("compaction of %s %s: another commit got in first; retrying", table_def.identifier, day)
            time.sleep(min(0.05 * attempt, 1.0))
    table = catalog.load_table(table_def.identifier)
    snapshot = table.current_snapshot()
    result = CompactionResult(
        table=table_def.identifier,
        day=day,
        files_before=len(tasks),
        files_after=len(partition_files(table, day)),
        rows=data.num_rows,
        seconds=time.monotonic() - started,
        snapshot_id=snapshot.snapshot_id if snapshot else None,
    )
    log.info(
        "compacted %s %s: %d -> %d files (%d rows) in %.2f s",
        result.table,
        day,
        result.files_before,
        result.files_after,
        result.rows,
        result.seconds,
    )
    return result


def partition_days(table: Table) -> list[dt.date]:
    """The ``event_date`` partitions that hold data files."""
    days: set[dt.date] = set()
    for task in table.scan().plan_files():
        value = task.file.partition[0]
        days.add(dt.date(1970, 1, 1) + dt.timedelta(days=value) if isinstance(value, int) else value)
    return sorted(days)


def expire_snapshots(catalog: Catalog, table_def: TableDef, older_than: dt.timedelta, now: dt.datetime) -> int:
    """Expire the snapshots older than ``now - older_than``.

    The current snapshot, the sink's newest one (which holds the Kafka offsets) and the one that was
    current at ``now - older_than`` (time travel to any moment of the retention reads it) always stay.

    Returns:
        How many snapshots were expired.
    """
    table = catalog.load_table(table_def.identifier)
    before = len(table.snapshots())
    cutoff = now - older_than
    keep = {s.snapshot_id for s in (table.current_snapshot(), sink_snapshot(table)) if s is not None}
    at_cutoff = snapshot_current_at(table, int(cutoff.timestamp() * 1000))
    if at_cutoff is not None:
        keep.add(at_cutoff)
    expired = [
        s.snapshot_id
        for s in table.snapshots()
        if s.timestamp_ms < cutoff.timestamp() * 1000 and s.snapshot_id not in keep
    ]
    if expired:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    after = len(catalog.load_table(table_def.identifier).snapshots())
    log.info("expired %d of %d snapshots of %s", before - after, before, table_def.identifier)
    return before - after


def row_count(table: Table, day: dt.date | None = None) -> int:
    """Rows of a table (or one partition), from the scan plan's file metadata."""
    scan = table.scan(row_filter=on_day(day)) if day else table.scan()
    return sum(task.file.record_count for task in scan.plan_files())
