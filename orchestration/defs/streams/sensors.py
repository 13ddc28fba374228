"""The supervisor: keep exactly one live run of every stream job, relaunching failures with backoff."""

import time

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration.defs.streams.jobs import STREAM_JOBS

IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
FAILED = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
BACKOFF_INITIAL = 5.0


def relaunch_delay(consecutive_failures: int, maximum: float) -> float:
    """Seconds to wait before relaunching after ``consecutive_failures`` failed runs in a row."""
    if consecutive_failures <= 0:
        return 0.0
    return float(min(maximum, BACKOFF_INITIAL * 2 ** (consecutive_failures - 1)))


@sensor(
    name="stream_supervisor",
    jobs=list(STREAM_JOBS),
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="Keeps one run of each stream job alive (the collectors of TICKLAKE_VENUES, the sink, live "
    "candles); relaunches a failed one with exponential backoff.",
)
def stream_supervisor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """Request a run for every stream job that has none in progress (after its backoff)."""
    from ticklake.settings import get_settings

    maximum = get_settings().stream_relaunch_backoff_max
    requests: list[RunRequest] = []
    waiting: list[str] = []
    for job in STREAM_JOBS:
        live = context.instance.get_runs(RunsFilter(job_name=job.name, statuses=IN_PROGRESS), limit=1)
        if live:
            continue
        records = context.instance.get_run_records(RunsFilter(job_name=job.name), limit=10)
        failures = 0
        for record in records:
            if record.dagster_run.status not in FAILED:
                break
            failures += 1
        delay = relaunch_delay(failures, maximum)
        ended = records[0].end_time if records and records[0].end_time else 0.0
        if failures and time.time() - ended < delay:
            waiting.append(f"{job.name} (failed {failures}x, relaunch in {delay - (time.time() - ended):.0f} s)")
            continue
        requests.append(
            RunRequest(
                run_key=f"{job.name}:{time.time_ns()}",
                job_name=job.name,
                tags={"ticklake/relaunch": str(failures)},
            )
        )
    if not requests:
        return SkipReason("all stream jobs running" + (f"; backing off: {', '.join(waiting)}" if waiting else ""))
    return SensorResult(run_requests=requests)
