"""The table-maintenance job: compact small files, then expire old snapshots, for every table."""

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
from orchestration.defs.resources import LakeResource
from ticklake.lake import ensure_table
from ticklake.maintenance import compact_partition, expire_snapshots, partition_days, row_count


@op(description="Compact the small files of every partition and expire snapshots past the retention.")
def maintain_tables(context: OpExecutionContext, lake: LakeResource) -> None:
    """Compaction first (it adds snapshots), expiry second; rows are counted before and after."""
    settings = lake.settings()
    catalog = lake.catalog()
    now = dt.datetime.now(dt.UTC)
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
        expired = expire_snapshots(
            catalog, table_def, dt.timedelta(hours=settings.maintenance_snapshot_retention_hours), now
        )
        rows_after = row_count(catalog.load_table(table_def.identifier))
        if rows_after < rows_before:
            # appends may add rows meanwhile; maintenance itself must never remove one
            raise RuntimeError(f"{table_def.identifier}: {rows_before} rows before maintenance, {rows_after} after")
        summary[table_def.identifier] = {
            "partitions": len(days),
            "files_before": files_before,
            "files_after": files_after,
            "snapshots_expired": expired,
            "rows": rows_after,
        }
        context.log.info(f"{table_def.identifier}: {summary[table_def.identifier]}")
        context.log_event(
            AssetObservation(
                asset_key=AssetKey(table_def.identifier.split(".")),
                description="table maintenance",
                metadata={key: MetadataValue.int(value) for key, value in summary[table_def.identifier].items()},
            )
        )


@job(description="Compact small files and expire old snapshots of every lake table.")
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
