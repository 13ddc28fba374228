"""Iceberg catalog and table access (the embedded SQLite catalog or any pyiceberg catalog)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
from pyiceberg.expressions import BooleanExpression, EqualTo, Reference
from pyiceberg.expressions.literals import literal
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from contracts.tables import ALL_TABLES, EVENT_DATES_KEY, OFFSETS_PREFIX, TableDef
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
