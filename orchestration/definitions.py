"""The Dagster code location of ticklake (kept small: each domain defines its own pieces)."""

from __future__ import annotations

from dagster import Definitions

from orchestration.defs.bronze.assets import BRONZE_ASSETS
from orchestration.defs.maintenance.jobs import table_maintenance, table_maintenance_schedule
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.assets import silver_candles
from orchestration.defs.silver.sensors import candles_job, silver_candles_on_bronze
from orchestration.defs.streams.jobs import STREAM_JOBS
from orchestration.defs.streams.sensors import stream_supervisor

defs = Definitions(
    assets=[*BRONZE_ASSETS, silver_candles],
    jobs=[*STREAM_JOBS, candles_job, table_maintenance],
    schedules=[table_maintenance_schedule],
    sensors=[stream_supervisor, silver_candles_on_bronze],
    resources={"lake": LakeResource()},
)
