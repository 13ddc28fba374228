"""The dbt project's plumbing: manifest generation, source views over Iceberg files, wiring, shared rules."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from dagster import AssetKey
from dagster_dbt import DbtProject
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DateType, LongType, NestedField, StringType

from contracts import instruments
from contracts.tables import SILVER_CANDLES, SILVER_TRADES
from orchestration.defs.marts import publish
from orchestration.defs.marts.errors import MartsError
from orchestration.defs.marts.project import DBT_PROJECT_DIR, file_lock, prepare_manifest, project_fingerprint
from orchestration.defs.marts.sources import Window, plan_source, register_sources, view_sql
from serve.api.routes import markets
from ticklake.lake import open_catalog
from ticklake.settings import Settings

pytestmark = pytest.mark.timeout(300)

DAY = dt.date(2026, 11, 20)


def test_instrument_rules_in_sql_are_the_contracts_rules() -> None:
    text = (DBT_PROJECT_DIR / "macros" / "instruments.sql").read_text()
    patterns = {kind: pattern.replace("\\\\", "\\") for kind, pattern in re.findall(r'"(\w+)": "([^"]+)"', text)}
    assert patterns == {
        "perpetual": instruments._PERP.pattern,
        "future": instruments._FUTURE.pattern,
        "spot": instruments._SPOT.pattern,
        "prediction": instruments._PREDICTION.pattern,
    }


def test_manifest_is_generated_on_first_use_and_again_when_the_project_changes(tmp_path: Path) -> None:
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=copy, target_path=Path("target"))
    assert not project.manifest_path.exists()

    manifest = prepare_manifest(project)
    assert manifest == project.manifest_path and manifest.exists()
    first = manifest.stat().st_mtime_ns
    assert prepare_manifest(project).stat().st_mtime_ns == first  # up to date: not parsed again

    model = copy / "models" / "marts" / "dim_instruments.sql"
    before = project_fingerprint(copy)
    model.write_text(model.read_text() + "\n-- an edit\n")
    assert project_fingerprint(copy) != before
    assert prepare_manifest(project).stat().st_mtime_ns != first
    # the repository never carries a manifest: it is generated, and ignored by git
    assert "dbt_project/target/" in (DBT_PROJECT_DIR.parent / ".gitignore").read_text().split()


def test_builds_exclude_each_other(tmp_path: Path) -> None:
    lock = tmp_path / "build.lock"
    busy = pytest.raises(MartsError, match="the marts build is busy")
    with file_lock(lock, 5, "the marts build"), busy, file_lock(lock, 0.3, "the marts build"):
        pass
    with file_lock(lock, 0.3, "the marts build"):  # released
        pass


def _evolving_table(settings: Settings):  # type: ignore[no-untyped-def]
    catalog = open_catalog(settings)
    catalog.create_namespace("silver")
    schema = Schema(
        NestedField(1, "venue", StringType(), required=False),
        NestedField(2, "size", LongType(), required=False),
        NestedField(3, "event_date", DateType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=3, field_id=1000, transform=IdentityTransform(), name="event_date"))
    table = catalog.create_table("silver.trades", schema=schema, partition_spec=spec)
    table.append(pa.Table.from_pylist([{"venue": "binance", "size": 1, "event_date": DAY}], table.schema().as_arrow()))
    with table.update_schema() as update:
        update.rename_column("size", "quantity")
        update.add_column("side", StringType())
    table = table.refresh()
    later = DAY + dt.timedelta(days=1)
    rows = [{"venue": "kraken", "quantity": 2, "event_date": later, "side": "buy"}]
    table.append(pa.Table.from_pylist(rows, table.schema().as_arrow()))
    return catalog, table


def test_source_views_read_the_windows_files_by_field_id(settings: Settings) -> None:
    _, table = _evolving_table(settings)
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA silver")

    both, schema = plan_source(table, Window(DAY, DAY + dt.timedelta(days=2)))
    assert len(both.files) == 2 and both.records == 2
    assert both.snapshot_id == table.current_snapshot().snapshot_id
    connection.execute(view_sql("silver.trades", schema, both.files))
    rows = connection.sql("SELECT venue, quantity, side, event_date FROM silver.trades ORDER BY venue").fetchall()
    # the old file's "size" reads as the renamed "quantity"; the added "side" is NULL there
    assert rows == [("binance", 1, None, DAY), ("kraken", 2, "buy", DAY + dt.timedelta(days=1))]

    second_day, schema = plan_source(table, Window(DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)))
    assert len(second_day.files) == 1  # partition pruning: the first day's file is not planned
    connection.execute(view_sql("silver.trades", schema, second_day.files))
    assert connection.sql("SELECT venue FROM silver.trades").fetchall() == [("kraken",)]


def test_missing_sources_read_as_empty_views_with_the_contract_columns(settings: Settings, tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "builder.duckdb"))
    planned = register_sources(connection, open_catalog(settings), Window(DAY, DAY + dt.timedelta(days=1)))
    assert {name: (p.snapshot_id, p.files) for name, p in planned.items()} == {
        "silver.trades": (None, ()),
        "silver.candles": (None, ()),
    }
    for table_def in (SILVER_TRADES, SILVER_CANDLES):
        relation = connection.sql(f"SELECT * FROM {table_def.identifier}")
        assert relation.columns == [field.name for field in table_def.schema().fields]
        assert relation.fetchall() == []


def test_a_window_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="empty window"):
        Window(DAY, DAY)
    assert Window(DAY, DAY + dt.timedelta(days=1)).dbt_vars() == {"start": "2026-11-20", "end": "2026-11-21"}


def test_the_code_location_has_the_marts_job_and_gold_assets() -> None:
    from orchestration.definitions import defs

    assert "marts_job" in {job.name for job in defs.resolve_all_job_defs()}
    graph = defs.resolve_asset_graph()
    for gold in publish.GOLD_TABLES:
        node = graph.get(AssetKey(gold.asset_path))
        assert node.partitions_def == graph.get(AssetKey(["silver", "candles"])).partitions_def
    assert AssetKey(["silver", "trades"]) in graph.get(AssetKey(["marts_build", "stg_trades"])).parent_keys
    assert AssetKey(["silver", "candles"]) in graph.get(AssetKey(["marts_build", "stg_candles"])).parent_keys
    assert markets.PUBLICATION_KEY == publish.PUBLICATION_KEY  # the API reads what the build writes
