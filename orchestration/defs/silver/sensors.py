"""Sensors of the silver layer: request the silver partitions whose bronze input changed (or gone stale).

One run per partition builds ``silver/trades``, then ``silver/late_trades`` and ``silver/candles`` from it.
"""

import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)

from contracts.tables import BRONZE_TRADES, SILVER_TRADES
from orchestration.defs.silver.assets import SILVER_KEYS
from orchestration.defs.silver.partitions import daily_partitions
from orchestration.defs.silver.trades import STALE_DAYS_KEY
from orchestration.defs.streams.sensors import IN_PROGRESS
from ticklake.lake import ensure_table, open_catalog, snapshot_event_dates

candles_job = define_asset_job(
    "silver_candles_job",
    selection=list(SILVER_KEYS),
    tags={"ticklake/layer": "silver"},
    description="One day of silver: trades (deduplicated), then late trades and candles from them.",
)
"""The silver job (its historical name is kept: runs and tags refer to it)."""


@sensor(
    name="silver_candles_on_bronze",
    job=candles_job,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Requests the silver partitions (trades, late trades, candles) of the days bronze trades changed, "
        "and of the days a silver build found stale (a trade another day now keeps)."
    ),
)
def silver_candles_on_bronze(context: SensorEvaluationContext) -> SensorResult:
    """Read new bronze.trades and silver.trades snapshots since the cursor and request their days.

    A bronze commit asks for the event dates it touched. A silver.trades commit may name other days
    whose silver still holds a trade the committing day now keeps (``ticklake.stale_days``: a copy
    with an earlier arrival landed after they were built); those are requested too. A day whose
    candle run is still queued or running stays pending in the cursor and is requested once that run
    is over, so a busy day never piles up runs.
    """
    from ticklake.settings import get_settings

    state = json.loads(context.cursor) if context.cursor else {"sequence": 0, "pending": []}
    catalog = open_catalog(get_settings())
    table = ensure_table(catalog, BRONZE_TRADES)
    pending: set[str] = set(state["pending"])
    sequence = state["sequence"]
    for snapshot in table.snapshots():
        if (snapshot.sequence_number or 0) > state["sequence"] and snapshot.summary is not None:
            dates = snapshot_event_dates(dict(snapshot.summary.additional_properties))
            pending.update(day.isoformat() for day in dates)
            sequence = max(sequence, snapshot.sequence_number or 0)
    seen_silver = state.get("silver_sequence", 0)  # absent from cursors written before silver was read
    silver_sequence = seen_silver
    for snapshot in ensure_table(catalog, SILVER_TRADES).snapshots():
        if (snapshot.sequence_number or 0) > seen_silver and snapshot.summary is not None:
            stale = snapshot.summary.additional_properties.get(STALE_DAYS_KEY, "")
            pending.update(day for day in stale.split(",") if day)
            silver_sequence = max(silver_sequence, snapshot.sequence_number or 0)
    valid = set(daily_partitions().get_partition_keys(dynamic_partitions_store=context.instance))
    busy = {
        run.tags.get("dagster/partition")
        for run in context.instance.get_runs(RunsFilter(job_name=candles_job.name, statuses=IN_PROGRESS))
    }
    requests = [
        RunRequest(run_key=f"candles:{day}:{sequence}:{silver_sequence}", partition_key=day)
        for day in sorted(pending)
        if day in valid and day not in busy
    ]
    out_of_range = sorted(day for day in pending if day not in valid)
    if out_of_range:
        context.log.warning(f"bronze has trades on days outside the partitions: {out_of_range}")
    still_pending = sorted(day for day in pending if day in valid and day in busy)
    cursor = json.dumps({"sequence": sequence, "silver_sequence": silver_sequence, "pending": still_pending})
    if requests:
        return SensorResult(run_requests=requests, cursor=cursor)
    reason = f"waiting for running partitions {still_pending}" if still_pending else "no new bronze data"
    return SensorResult(skip_reason=reason, cursor=cursor)
