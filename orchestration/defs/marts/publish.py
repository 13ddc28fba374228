"""Publishing the marts: the builder's tables become the ``gold.*`` Iceberg tables readers use.

After a successful ``dbt build`` (every blocking test passed), each mart's rows of the build window
replace that window in its gold table with one Iceberg ``overwrite``: a single commit, so a reader sees
the previous version or the new one, never a mix, and never waits (it reads files of an immutable
snapshot; the catalog pointer moves atomically). The dimension is small and replaced whole.

The gold tables' columns follow the marts' enforced dbt contracts (types checked by dbt at build);
a column added to a mart is added to its gold table (by name) on the next publication.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table

from orchestration.defs.marts.sources import Window

GOLD_NAMESPACE = "gold"

PUBLICATION_KEY = "ticklake.publication"
"""Snapshot-summary key naming the build that published a snapshot: every gold table a build publishes
carries the same value, so a reader of several gold tables can read them at the same publication."""


@dataclasses.dataclass(frozen=True)
class GoldTable:
    """A mart and the gold table it is published as."""

    model: str
    """The dbt model (a table of the builder database's ``main`` schema)."""
    identifier: str
    """The Iceberg table, ``gold.<name>``."""
    daily: bool
    """Partitioned by ``event_date`` and published per window; else replaced whole."""

    @property
    def asset_path(self) -> list[str]:
        """The Dagster asset key path of the mart (``gold/<name>``)."""
        return self.identifier.split(".")


GOLD_TABLES: tuple[GoldTable, ...] = (
    GoldTable("fct_largest_trades", "gold.largest_trades", daily=True),
    GoldTable("fct_daily_market_summary", "gold.daily_market_summary", daily=True),
    GoldTable("mart_candles", "gold.candles", daily=True),
    GoldTable("dim_instruments", "gold.instruments", daily=False),
)
"""Every published mart, in publication order; the dbt models carry the same asset keys in their ``meta``.

A table that readers join to another one is published *before* it: the API reads the daily summary
first and then the largest trades at the summary's publication, which must already exist then."""

GOLD_BY_IDENTIFIER: Mapping[str, GoldTable] = {table.identifier: table for table in GOLD_TABLES}

_TABLE_PROPERTIES = {
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
}


@dataclasses.dataclass(frozen=True)
class Publication:
    """What one gold table received."""

    identifier: str
    rows: int
    snapshot_id: int | None


def _plain_types(table: pa.Table) -> pa.Table:
    """``table`` with string views as plain strings (what Iceberg maps)."""
    fields = [pa.field(f.name, pa.string(), f.nullable) if pa.types.is_string_view(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields))


def ensure_gold_table(catalog: Catalog, gold: GoldTable, schema: pa.Schema) -> Table:
    """Load the gold table, creating it (partitioned by ``event_date`` when daily) or adding new columns.

    Args:
        catalog: The Iceberg catalog.
        gold: Which table.
        schema: The mart's columns as built.

    Returns:
        The table, with every column of ``schema``.
    """
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(GOLD_NAMESPACE)
    try:
        table = catalog.load_table(gold.identifier)
    except NoSuchTableError:
        try:
            with catalog.create_table_transaction(gold.identifier, schema, properties=_TABLE_PROPERTIES) as create:
                if gold.daily:
                    with create.update_spec() as spec:
                        spec.add_identity("event_date")
        except TableAlreadyExistsError:
            pass
        return catalog.load_table(gold.identifier)
    current = {field.name for field in table.schema().fields}
    if any(name not in current for name in schema.names):
        with table.update_schema() as update:
            update.union_by_name(schema)
        table = table.refresh()
    return table


def read_mart(builder: Path, gold: GoldTable, window: Window) -> pa.Table:
    """The rows of a mart to publish: the window's (daily marts) or all of them."""
    connection = duckdb.connect(str(builder), read_only=True)
    try:
        sql = f'SELECT * FROM main."{gold.model}"'
        if gold.daily:
            sql += " WHERE event_date >= $start AND event_date < $end ORDER BY ALL"
            relation = connection.sql(sql, params={"start": window.start, "end": window.end})
        else:
            relation = connection.sql(sql + " ORDER BY ALL")
        return _plain_types(relation.to_arrow_table())
    finally:
        connection.close()


def publish_table(
    catalog: Catalog, gold: GoldTable, rows: pa.Table, window: Window, properties: Mapping[str, str]
) -> Publication:
    """Replace the window of a gold table (or all of it) with ``rows`` in one commit.

    Args:
        catalog: The Iceberg catalog.
        gold: Which table.
        rows: The mart's rows (see :func:`read_mart`).
        window: The window they cover (ignored for a table replaced whole).
        properties: Added to the snapshot summary (lineage: run id, silver snapshots...).

    Returns:
        What was published.
    """
    table = ensure_gold_table(catalog, gold, rows.schema)
    target = table.schema().as_arrow()
    aligned = rows.select(target.names).cast(target) if rows.num_rows else target.empty_table()
    overwrite_filter: BooleanExpression = window.row_filter() if gold.daily else AlwaysTrue()
    with warnings.catch_warnings():
        # the first publication of a window has nothing to replace; pyiceberg warns about that
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        table.overwrite(aligned, overwrite_filter=overwrite_filter, snapshot_properties=dict(properties))
    snapshot = table.current_snapshot()
    return Publication(gold.identifier, rows.num_rows, snapshot.snapshot_id if snapshot else None)


def publish_marts(
    builder: Path,
    catalog: Catalog,
    window: Window,
    properties: Mapping[str, str],
    tables: tuple[GoldTable, ...] = GOLD_TABLES,
) -> dict[str, Publication]:
    """Publish the built marts of a window to their gold tables.

    Args:
        builder: The builder DuckDB database (no dbt process may hold it).
        catalog: The Iceberg catalog.
        window: The event dates just built.
        properties: Snapshot-summary properties recorded with every commit.
        tables: The marts to publish (those the run built); published in :data:`GOLD_TABLES` order.

    Returns:
        Per gold identifier, what was published.
    """
    ordered = [gold for gold in GOLD_TABLES if gold in tables]
    marts = {gold: read_mart(builder, gold, window) for gold in ordered}
    return {gold.identifier: publish_table(catalog, gold, rows, window, properties) for gold, rows in marts.items()}
