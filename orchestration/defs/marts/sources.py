"""Silver Iceberg tables as DuckDB views, without copying: the sources of the dbt marts.

DuckDB cannot read Iceberg here (its ``iceberg`` extension is not bundled and nothing is downloaded),
but it reads Parquet natively, and an Iceberg snapshot is a list of Parquet data files. So for the
build window this module asks pyiceberg to plan the scan of a table's current snapshot (partition
pruning on ``event_date`` through the manifests) and (re)creates a view over exactly those files:

* columns are mapped by Iceberg field id (``read_parquet(..., schema=MAP {...})``), so renamed and
  added columns read right (a column missing from an older file reads as NULL);
* the view pins the snapshot: data committed after planning is not seen by this build, and files
  of an overwritten snapshot stay on disk until snapshots expire, so the build reads a consistent
  version even while silver is being rewritten;
* a table that does not exist yet reads as an empty view with the contract's columns.

Delete files (merge-on-read) are not supported: pyiceberg writes copy-on-write, and a planned task
that carries delete files fails the build with a clear error rather than reading deleted rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from urllib.parse import unquote, urlparse

import duckdb
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.expressions import And, BooleanExpression, GreaterThanOrEqual, LessThan, Reference
from pyiceberg.expressions.literals import literal
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from contracts.tables import SILVER_CANDLES, SILVER_TRADES
from orchestration.defs.marts.errors import MartsError


@dataclasses.dataclass(frozen=True)
class SourceTable:
    """A silver table the marts read, and the schema it has when it does not exist yet."""

    identifier: str
    contract: Callable[[], Schema]
    """The schema of the table before it exists (read from the contracts when needed)."""

    @property
    def view(self) -> str:
        """The DuckDB view (``schema.name``) dbt reads it as: the same name as the Iceberg table."""
        return self.identifier


SOURCES: tuple[SourceTable, ...] = (
    SourceTable(SILVER_TRADES.identifier, SILVER_TRADES.schema),
    SourceTable(SILVER_CANDLES.identifier, SILVER_CANDLES.schema),
)
"""The dbt sources (``dbt_project/models/staging/_sources.yml``)."""


@dataclasses.dataclass(frozen=True)
class Window:
    """A half-open range ``[start, end)`` of UTC event dates: what one build covers."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"empty window: start {self.start} is not before end {self.end}")

    def row_filter(self, column: str = "event_date") -> BooleanExpression:
        """The Iceberg predicate selecting the window's rows (and partitions)."""
        return And(
            GreaterThanOrEqual(term=Reference(column), value=literal(self.start)),
            LessThan(term=Reference(column), value=literal(self.end)),
        )

    def dbt_vars(self) -> dict[str, str]:
        """The window as the dbt project's ``start`` and ``end`` vars."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclasses.dataclass(frozen=True)
class SourceSnapshot:
    """What a source view reads: the table's snapshot and the data files planned for the window."""

    identifier: str
    snapshot_id: int | None
    files: tuple[str, ...]
    records: int


_DUCKDB_TYPES: dict[type[IcebergType], str] = {
    StringType: "VARCHAR",
    LongType: "BIGINT",
    IntegerType: "INTEGER",
    DoubleType: "DOUBLE",
    FloatType: "FLOAT",
    BooleanType: "BOOLEAN",
    DateType: "DATE",
    BinaryType: "BLOB",
    TimestampType: "TIMESTAMP",
    TimestamptzType: "TIMESTAMPTZ",
}


def duckdb_type(iceberg_type: IcebergType) -> str:
    """The DuckDB type of a primitive Iceberg type.

    Raises:
        MartsError: The type has no mapping here (nested types are not used by the sources).
    """
    if isinstance(iceberg_type, DecimalType):
        return f"DECIMAL({iceberg_type.precision},{iceberg_type.scale})"
    for kind, name in _DUCKDB_TYPES.items():
        if isinstance(iceberg_type, kind):
            return name
    raise MartsError(f"no DuckDB type for the Iceberg type {iceberg_type}")


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def local_path(location: str) -> str:
    """A data file location as DuckDB opens it: ``file:`` URIs become paths, others stay URIs."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return location


def view_sql(view: str, schema: Schema, files: tuple[str, ...]) -> str:
    """``CREATE OR REPLACE VIEW`` over Parquet files, columns mapped by Iceberg field id.

    Args:
        view: The view's qualified name, e.g. ``silver.trades``.
        schema: The Iceberg schema to expose (the table's current schema).
        files: The data files; none gives an empty view of the same columns.

    Returns:
        The DDL statement.
    """
    namespace, name = view.split(".", 1)
    qualified = f"{_quote_identifier(namespace)}.{_quote_identifier(name)}"
    if not files:
        columns = ", ".join(
            f"NULL::{duckdb_type(field.field_type)} AS {_quote_identifier(field.name)}" for field in schema.fields
        )
        return f"CREATE OR REPLACE VIEW {qualified} AS SELECT {columns} WHERE false"
    mapping = ", ".join(
        f"{field.field_id}: {{name: {_quote_literal(field.name)}, "
        f"type: {_quote_literal(duckdb_type(field.field_type))}, default_value: NULL}}"
        for field in schema.fields
    )
    file_list = ", ".join(_quote_literal(path) for path in files)
    return (
        f"CREATE OR REPLACE VIEW {qualified} AS SELECT * FROM read_parquet([{file_list}], "
        f"schema = MAP {{{mapping}}}, hive_partitioning = false)"
    )


def plan_source(table: Table, window: Window) -> tuple[SourceSnapshot, Schema]:
    """The current snapshot's data files holding the window's partitions.

    Raises:
        MartsError: A planned file has delete files (merge-on-read), which this reader cannot apply.
    """
    snapshot = table.current_snapshot()
    identifier = ".".join(table.name())
    if snapshot is None:
        return SourceSnapshot(identifier, None, (), 0), table.schema()
    files: list[str] = []
    records = 0
    for task in table.scan(row_filter=window.row_filter(), snapshot_id=snapshot.snapshot_id).plan_files():
        if task.delete_files:
            raise MartsError(
                f"{identifier}: data file {task.file.file_path} has delete files (merge-on-read); "
                "the marts read Parquet files directly and cannot apply them: compact the table first"
            )
        files.append(local_path(task.file.file_path))
        records += task.file.record_count
    return SourceSnapshot(identifier, snapshot.snapshot_id, tuple(files), records), table.schema()


def register_sources(
    connection: duckdb.DuckDBPyConnection, catalog: Catalog, window: Window
) -> dict[str, SourceSnapshot]:
    """(Re)create a DuckDB view per silver source over the window's data files of its current snapshot.

    Args:
        connection: A read-write connection to the builder database.
        catalog: The Iceberg catalog.
        window: The event dates the build covers.

    Returns:
        Per source identifier, what its view reads (for lineage metadata).
    """
    planned: dict[str, SourceSnapshot] = {}
    for source in SOURCES:
        try:
            table = catalog.load_table(source.identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            snapshot, schema = SourceSnapshot(source.identifier, None, (), 0), source.contract()
        else:
            snapshot, schema = plan_source(table, window)
        namespace = source.view.split(".", 1)[0]
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote_identifier(namespace)}")
        connection.execute(view_sql(source.view, schema, snapshot.files))
        planned[source.identifier] = snapshot
    return planned
