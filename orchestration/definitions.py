"""The Dagster code location of ticklake (kept small: each domain defines its own pieces)."""

from __future__ import annotations

from dagster import Definitions

from orchestration.defs.bronze.assets import BRONZE_ASSETS
from orchestration.defs.bronze.reprocess import reprocess_bronze
from orchestration.defs.maintenance.jobs import table_maintenance, table_maintenance_schedule
from orchestration.defs.marts.assets import dbt_resource, marts_assets, marts_job
from orchestration.defs.marts.sensors import marts_after_silver
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.assets import SILVER_ASSETS
from orchestration.defs.silver.checks import SILVER_CHECKS
from orchestration.defs.silver.sensors import candles_job, silver_candles_on_bronze
from orchestration.defs.streams.jobs import STREAM_JOBS
from orchestration.defs.streams.sensors import stream_supervisor

defs = Definitions(
    assets=[*BRONZE_ASSETS, *SILVER_ASSETS, marts_assets()],
    asset_checks=SILVER_CHECKS,
    jobs=[*STREAM_JOBS, candles_job, reprocess_bronze, table_maintenance, marts_job],
    schedules=[table_maintenance_schedule],
    sensors=[stream_supervisor, silver_candles_on_bronze, marts_after_silver],
    resources={"lake": LakeResource(), "dbt": dbt_resource()},
)
