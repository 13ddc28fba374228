"""The table-maintenance job: compact small files, then expire old snapshots, for every table (gold included)."""

import datetime as dt

from dagster import (
    AssetKey,
    AssetObservation,
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

from contracts.tables import ALL_TABLES
from orchestration.defs.maintenance.expiry import expire_gold, expire_table, gold_tables
from orchestration.defs.resources import LakeResource
from ticklake.lake import ensure_table
from ticklake.maintenance import compact_partition, expire_snapshots, partition_days, row_count


@op(
    description=(
        "Compact the small files of every bronze and silver partition, then expire snapshots past the retention "
        "(bronze, silver and gold)."
    )
)
def maintain_tables(context: OpExecutionContext, lake: LakeResource) -> None:
    """Compaction first (it adds snapshots), expiry second; rows are counted before and after.

    Bronze keeps the sink's offsets snapshot; silver and gold keep what time travel and the marts'
    publication pin need (:mod:`orchestration.defs.maintenance.expiry`). Gold tables are not
    compacted: each publication replaces its days' files, so they never pile up.

    Raises:
        RuntimeError: A table has fewer rows after maintenance than before.
    """
    settings = lake.settings()
    catalog = lake.catalog()
    now = dt.datetime.now(dt.UTC)
    retention = dt.timedelta(hours=settings.maintenance_snapshot_retention_hours)
    summary: dict[str, dict[str, int]] = {}
    for table_def in ALL_TABLES:
        table = ensure_table(catalog, table_def)
        days = partition_days(table)
        rows_before = row_count(table)
        files_before = files_after = 0
        for index, day in enumerate(days, start=1):
            result = compact_partition(
                catalog,
                table_def,
                day,
                small_file_bytes=int(settings.maintenance_small_file_mb * 2**20),
                min_files=settings.maintenance_min_files,
            )
            files_before += result.files_before
            files_after += result.files_after
            if result.snapshot_id is not None:
                context.log.info(
                    f"[{index}/{len(days)}] {table_def.identifier} {day}: {result.files_before} -> "
                    f"{result.files_after} files, {result.rows} rows rewritten in {result.seconds:.1f} s"
                )
        if table_def.namespace == "bronze":
            expired = expire_snapshots(catalog, table_def, retention, now)
        else:
            expired = expire_table(catalog, table_def.identifier, now - retention).expired
        rows_after = row_count(catalog.load_table(table_def.identifier))
        _check_rows(table_def.identifier, rows_before, rows_after)
        summary[table_def.identifier] = {
            "partitions": len(days),
            "files_before": files_before,
            "files_after": files_after,
            "snapshots_expired": expired,
            "rows": rows_after,
        }
        _report(context, table_def.identifier, summary[table_def.identifier])

    gold = gold_tables(catalog)
    rows_before_gold = {identifier: row_count(catalog.load_table(identifier)) for identifier in gold}
    for expiry in expire_gold(catalog, now - retention):
        rows_after = row_count(catalog.load_table(expiry.identifier))
        _check_rows(expiry.identifier, rows_before_gold[expiry.identifier], rows_after)
        _report(
            context,
            expiry.identifier,
            {
                "snapshots_expired": expiry.expired,
                "snapshots_kept": expiry.kept,
                "snapshots_pinned": expiry.pinned,
                "rows": rows_after,
            },
        )


def _check_rows(identifier: str, before: int, after: int) -> None:
    if after < before:
        # appends (and publications of more rows) may add rows meanwhile; maintenance itself must never remove one
        raise RuntimeError(f"{identifier}: {before} rows before maintenance, {after} after")


def _report(context: OpExecutionContext, identifier: str, figures: dict[str, int]) -> None:
    context.log.info(f"{identifier}: {figures}")
    context.log_event(
        AssetObservation(
            asset_key=AssetKey(identifier.split(".")),
            description="table maintenance",
            metadata={key: MetadataValue.int(value) for key, value in figures.items()},
        )
    )


@job(description="Compact small files and expire old snapshots of every lake table (bronze, silver, gold).")
def table_maintenance() -> None:
    """The maintenance job."""
    maintain_tables()


table_maintenance_schedule = ScheduleDefinition(
    name="table_maintenance_hourly",
    job=table_maintenance,
    cron_schedule="17 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Hourly: a day of 5-second commits is ~17k files; hourly compaction keeps partitions to a few.",
)
