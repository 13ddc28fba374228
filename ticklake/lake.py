"""Iceberg catalog and table access (the embedded SQLite catalog or any pyiceberg catalog)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, EqualTo, Reference
from pyiceberg.expressions.literals import literal
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, SnapshotLogEntry

from contracts.tables import ALL_TABLES, EVENT_DATES_KEY, OFFSETS_PREFIX, TableDef
from ticklake.errors import LakeReadError
from ticklake.settings import Settings

log = logging.getLogger(__name__)


def open_catalog(settings: Settings) -> Catalog:
    """Open the configured Iceberg catalog, creating the local state folders it needs."""
    if settings.catalog_uri is None or settings.warehouse is None:
        settings.state_path.mkdir(parents=True, exist_ok=True)
        (settings.state_path / "warehouse").mkdir(exist_ok=True)
    return SqlCatalog(
        settings.catalog_name,
        uri=settings.resolved_catalog_uri,
        warehouse=settings.resolved_warehouse,
    )


def ensure_table(catalog: Catalog, table: TableDef) -> Table:
    """Create a table (and its namespace) if missing; return it. Safe to call concurrently."""
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(table.namespace)
    if catalog.table_exists(table.identifier):
        return evolve(catalog.load_table(table.identifier), table)
    try:
        created = catalog.create_table(
            table.identifier,
            schema=table.schema(),
            partition_spec=table.partition_spec(),
            sort_order=table.sort_order(),
            properties={
                "write.parquet.compression-codec": "zstd",
                "write.target-file-size-bytes": str(128 * 1024 * 1024),
            },
        )
    except TableAlreadyExistsError:
        return catalog.load_table(table.identifier)
    log.info("created table %s", table.identifier)
    return created


def evolve(existing: Table, table: TableDef) -> Table:
    """Add the columns a newer contract has to an existing table (schema evolution by name).

    Iceberg cannot add a required column to a table that has rows, so added columns are optional;
    rows written before read them as null. Existing columns are never changed or dropped.
    """
    current = {field.name for field in existing.schema().fields}
    added = [field for field in table.schema().fields if field.name not in current]
    if not added:
        return existing
    with existing.update_schema() as update:
        for field in added:
            update.add_column(field.name, field.field_type, doc=field.doc)
    log.info("evolved %s: added %s", table.identifier, ", ".join(field.name for field in added))
    return existing.refresh()


def ensure_tables(catalog: Catalog) -> dict[str, Table]:
    """Create every table of the lake that is missing, idempotently."""
    return {table.identifier: ensure_table(catalog, table) for table in ALL_TABLES}


def on_day(day: dt.date, column: str = "event_date") -> BooleanExpression:
    """A row filter selecting one daily partition."""
    return EqualTo(term=Reference(column), value=literal(day.isoformat()))


def snapshot_offsets(summary: dict[str, str]) -> dict[tuple[str, int], int]:
    """The ``(topic, partition) -> next offset`` pairs recorded in a snapshot summary."""
    offsets: dict[tuple[str, int], int] = {}
    for key, value in summary.items():
        if key.startswith(OFFSETS_PREFIX):
            topic, _, partition = key[len(OFFSETS_PREFIX) :].rpartition(".")
            offsets[(topic, int(partition))] = int(value)
    return offsets


def sink_snapshot(table: Table) -> Snapshot | None:
    """The newest snapshot written by the sink (the one that carries Kafka offsets), if any.

    The sink writes the offsets of every partition it owns into each of its commits, so its newest
    snapshot holds the whole position. Other writers (maintenance) never write offsets: a stale
    copy could land on top of newer sink commits through pyiceberg's automatic commit retries.
    Snapshot expiry keeps this snapshot (see :mod:`ticklake.maintenance`).
    """
    for snapshot in sorted(table.snapshots(), key=lambda s: s.sequence_number or 0, reverse=True):
        if snapshot.summary is not None and snapshot_offsets(dict(snapshot.summary.additional_properties)):
            return snapshot
    return None


def sink_summary(table: Table) -> dict[str, str]:
    """The summary of :func:`sink_snapshot` (empty when the sink never committed)."""
    snapshot = sink_snapshot(table)
    if snapshot is None or snapshot.summary is None:
        return {}
    return dict(snapshot.summary.additional_properties)


def committed_offsets(table: Table) -> dict[tuple[str, int], int]:
    """The next Kafka offsets stored with the table's data (see :func:`sink_summary`)."""
    return snapshot_offsets(sink_summary(table))


def snapshot_event_dates(summary: dict[str, str]) -> set[dt.date]:
    """The event dates a snapshot touched, as recorded by the writer."""
    text = summary.get(EVENT_DATES_KEY, "")
    return {dt.date.fromisoformat(part) for part in text.split(",") if part}


AsOf = dt.datetime | int
"""A point in a table's history: an aware datetime (the snapshot current then) or a snapshot id."""


def _iso(timestamp_ms: int) -> str:
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")


def snapshot_as_of(table: Table, as_of: AsOf) -> Snapshot:
    """The snapshot with id ``as_of``, or the one that was current at the datetime ``as_of``.

    Raises:
        LakeReadError: No such snapshot id (never existed or expired), a naive datetime, or no
            snapshot at or before the time; the message says what exists.
    """
    name = ".".join(table.name())
    if isinstance(as_of, bool) or not isinstance(as_of, (int, dt.datetime)):
        raise LakeReadError(f"as of must be a snapshot id or an aware datetime, not {as_of!r}")
    if isinstance(as_of, int):
        found = table.snapshot_by_id(as_of)
        if found is None:
            recent = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)[-3:]
            listed = ", ".join(f"{s.snapshot_id} ({_iso(s.timestamp_ms)})" for s in recent) or "none"
            raise LakeReadError(f"{name} has no snapshot {as_of} (or it expired); its latest snapshots: {listed}")
        return found
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise LakeReadError(f"as of {as_of.isoformat()} has no time zone; give one, e.g. {as_of.isoformat()}Z")
    timestamp_ms = int(as_of.timestamp() * 1000)
    history = committed_history(table)
    current = [entry for entry in history if entry.timestamp_ms <= timestamp_ms]
    if not current:
        first = f"its first snapshot is from {_iso(history[0].timestamp_ms)}" if history else "it has no snapshot yet"
        raise LakeReadError(f"{name} has no snapshot at or before {_iso(timestamp_ms)}: {first}")
    found = table.snapshot_by_id(current[-1].snapshot_id)
    if found is None:
        raise LakeReadError(
            f"{name}: the snapshot current at {_iso(timestamp_ms)} ({current[-1].snapshot_id}) has expired"
        )
    return found


def committed_history(table: Table) -> list[SnapshotLogEntry]:
    """The snapshot log without the snapshots no reader ever saw as current.

    One commit may add several snapshots (pyiceberg's overwrite is a delete, then an append) and logs
    each; only the last one was ever visible. A commit's last snapshot is logged at the commit time,
    which the metadata log records; log entries older than the oldest kept metadata file cannot be
    checked and are kept.
    """
    metadata = table.metadata
    commits = {entry.timestamp_ms for entry in metadata.metadata_log} | {metadata.last_updated_ms}
    horizon = min(commits)
    return [entry for entry in metadata.snapshot_log if entry.timestamp_ms < horizon or entry.timestamp_ms in commits]


def snapshot_current_at(table: Table, timestamp_ms: int) -> int | None:
    """The id of the snapshot that was the table's current one at ``timestamp_ms`` (``None``: none yet)."""
    current = [entry.snapshot_id for entry in committed_history(table) if entry.timestamp_ms <= timestamp_ms]
    return current[-1] if current else None


def parse_row_filter(text: str) -> BooleanExpression:
    """An Iceberg row filter from its text, e.g. ``event_date = '2026-11-21' and venue = 'binance'``.

    Raises:
        LakeReadError: The text is not a filter expression.
    """
    from pyiceberg.expressions.parser import parse
    from pyparsing import ParseException

    try:
        return parse(text)
    except ParseException as error:
        raise LakeReadError(
            f"cannot parse the filter {text!r} (at character {error.loc + 1}); use comparisons joined by "
            "and/or/not, e.g. event_date = '2026-11-21' and venue in ('binance', 'kraken')"
        ) from None


def read_table(
    catalog: Catalog,
    name: str,
    as_of: AsOf | None = None,
    row_filter: BooleanExpression | str | None = None,
    columns: tuple[str, ...] = ("*",),
    limit: int | None = None,
) -> pa.Table:
    """Read a table, now or as it was at a snapshot (time travel).

    Args:
        catalog: The catalog.
        name: The table identifier, e.g. ``silver.candles``.
        as_of: A snapshot id, or an aware datetime (the snapshot current at that time); ``None``: now.
        row_filter: An Iceberg expression or its text (see :func:`parse_row_filter`).
        columns: The columns to read (``*``: all, as the snapshot's schema has them).
        limit: The most rows to read.

    Returns:
        The rows, in the schema of the snapshot read.

    Raises:
        LakeReadError: Unknown table, bad filter or column, or no snapshot for ``as_of``.
    """
    from pyiceberg.expressions.visitors import bind

    try:
        table = catalog.load_table(name)
    except (NoSuchTableError, NoSuchNamespaceError):
        raise LakeReadError(f"no table {name!r} in the catalog") from None
    expression = parse_row_filter(row_filter) if isinstance(row_filter, str) else row_filter or AlwaysTrue()
    snapshot_id = snapshot_as_of(table, as_of).snapshot_id if as_of is not None else None
    scan = table.scan(row_filter=expression, selected_fields=columns, snapshot_id=snapshot_id, limit=limit)
    try:
        bind(table.scan(snapshot_id=snapshot_id).projection(), expression, case_sensitive=True)
        scan.projection()  # unknown selected columns
    except ValueError as error:
        raise LakeReadError(f"{name}: {error}") from None
    return scan.to_arrow()
