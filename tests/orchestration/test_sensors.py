import datetime as dt
import json

from bronze_fixtures import append_bronze, make_trades
from dagster import DagsterRunStatus, RunRequest, build_sensor_context, instance_for_test

from orchestration.definitions import defs
from orchestration.defs.silver.sensors import silver_candles_on_bronze
from orchestration.defs.streams.sensors import relaunch_delay, stream_supervisor
from ticklake.lake import open_catalog


def test_supervisor_requests_every_stream_job_when_none_runs():
    with instance_for_test() as instance:
        result = stream_supervisor(build_sensor_context(instance=instance, definitions=defs))
        assert sorted(r.job_name for r in result.run_requests) == [
            "stream_bronze_sink",
            "stream_collectors",
            "stream_live_candles",
        ]


def test_supervisor_leaves_live_runs_alone_and_backs_off_after_failures():
    job = defs.resolve_job_def("stream_collectors")
    with instance_for_test() as instance:
        live = instance.create_run_for_job(job_def=job, status=DagsterRunStatus.STARTED)
        result = stream_supervisor(build_sensor_context(instance=instance, definitions=defs))
        assert [r.job_name for r in result.run_requests] == ["stream_bronze_sink", "stream_live_candles"]

        instance.report_run_failed(live)  # just failed: wait 5 s before relaunching it
        result = stream_supervisor(build_sensor_context(instance=instance, definitions=defs))
        assert [r.job_name for r in result.run_requests] == ["stream_bronze_sink", "stream_live_candles"]


def test_relaunch_backoff_grows_exponentially_and_is_capped():
    assert relaunch_delay(0, 300) == 0
    assert [relaunch_delay(n, 300) for n in range(1, 5)] == [5, 10, 20, 40]
    assert relaunch_delay(20, 300) == 300


def test_candle_sensor_requests_the_days_bronze_changed(settings):
    catalog = open_catalog(settings)
    day = dt.date(2026, 11, 20)
    append_bronze(catalog, make_trades(day, 3000))  # spans the evening before and the day
    with instance_for_test() as instance:
        context = build_sensor_context(instance=instance, definitions=defs)
        result = silver_candles_on_bronze(context)
        assert sorted(r.partition_key for r in result.run_requests) == ["2026-11-19", "2026-11-20"]
        assert all(isinstance(r, RunRequest) for r in result.run_requests)

        # nothing new since the cursor: nothing requested
        again = silver_candles_on_bronze(
            build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs)
        )
        assert again.run_requests == []
        assert json.loads(again.cursor)["sequence"] == json.loads(result.cursor)["sequence"]

        # a new commit on one day asks for that day only
        append_bronze(catalog, make_trades(day + dt.timedelta(days=1), 3000, seed=5)[-5:])
        third = silver_candles_on_bronze(
            build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs)
        )
        assert [r.partition_key for r in third.run_requests] == ["2026-11-21"]
