"""Silver backfill of a date range: in process, one run per partition, and ``ticklake backfill``."""

import datetime as dt

import pytest
from dagster import instance_for_test
from pyiceberg.expressions import EqualTo
from silver_fixtures import arrival_stream, as_reference, land, on_the_bus
from testkit import reference_candles
from typer.testing import CliRunner

from orchestration.defs.silver.assets import SILVER_KEYS
from orchestration.defs.silver.backfill import BackfillError, backfill, partition_range, resolve_assets
from ticklake.cli import app
from ticklake.lake import open_catalog
from ticklake.timeutil import date_to_ns

DAY = dt.date(2026, 11, 21)
DAYS = [(DAY - dt.timedelta(days=1)).isoformat(), DAY.isoformat()]


def rows(catalog, table, day):
    if not catalog.table_exists(table):
        return []
    return catalog.load_table(table).scan(row_filter=EqualTo("event_date", day)).to_arrow().to_pylist()


@pytest.fixture
def landed(settings):
    """Trades around midnight of DAY, landed in bronze."""
    arrivals = arrival_stream(date_to_ns(DAY), 1500, seed=5)
    land(open_catalog(settings), on_the_bus(arrivals))
    return arrivals


def test_backfill_builds_every_silver_asset_of_each_partition(settings, landed):
    started, done = [], []
    with instance_for_test() as instance:
        outcomes = backfill(instance, DAYS, resolve_assets(None), on_start=started.append, on_done=done.append)
        runs = instance.get_runs()
    assert started == DAYS and [o.partition for o in done] == DAYS
    assert all(o.success and o.error is None for o in outcomes)
    assert len(runs) == 2 and {r.tags["dagster/partition"] for r in runs} == set(DAYS)
    catalog = open_catalog(settings)
    for outcome in outcomes:
        day = dt.date.fromisoformat(outcome.partition)
        assert set(outcome.metadata) == {"silver/trades", "silver/late_trades", "silver/candles"}
        assert outcome.checks == {"live_candles_agree": True}  # no live candles landed: nothing differs
        expected = reference_candles([as_reference(t) for t in landed], day)
        built = [r for r in rows(catalog, "silver.candles", day) if r["interval"] == "1m"]
        assert len(built) == len(expected) > 0
        assert outcome.metadata["silver/trades"]["trades"] == len(rows(catalog, "silver.trades", day))


def test_partition_range_and_asset_names_are_checked():
    assert partition_range(dt.date(2026, 1, 30), dt.date(2026, 2, 1)) == ["2026-01-30", "2026-01-31", "2026-02-01"]
    today = dt.datetime.now(dt.UTC).date()
    assert partition_range(today, today) == [today.isoformat()]
    with pytest.raises(BackfillError, match="is before --from"):
        partition_range(DAY, DAY - dt.timedelta(days=1))
    with pytest.raises(BackfillError, match=r"2024-12-31 is outside the daily partitions 2025-01-01\.\."):
        partition_range(dt.date(2024, 12, 31), DAY)
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    with pytest.raises(BackfillError, match=f"{tomorrow} is outside"):
        partition_range(tomorrow, tomorrow)
    assert resolve_assets(["silver/candles", "silver/trades"]) == [SILVER_KEYS[0], SILVER_KEYS[2]]
    with pytest.raises(BackfillError, match=r"unknown assets \['silver/bars'\]"):
        resolve_assets(["silver/bars"])


def test_cli_backfill_records_runs_and_prints_a_summary(settings, landed, monkeypatch):
    with instance_for_test() as instance:
        monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)  # the CLI records its runs there
        result = CliRunner().invoke(app, ["backfill", "--from", DAYS[0], "--to", DAYS[1]], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        runs = instance.get_runs()
        assert {(r.tags["dagster/partition"], r.tags["ticklake/backfill"]) for r in runs} == {
            (day, "cli") for day in DAYS
        }
    assert "2/2 partitions built" in result.stderr
    assert "silver backfill 2026-11-20..2026-11-21" in result.stdout
    assert result.stdout.count("live_candles_agree: ok") == 2
    for day in DAYS:
        assert day in result.stdout
    catalog = open_catalog(settings)
    assert rows(catalog, "silver.candles", DAY) and rows(catalog, "silver.late_trades", DAY)


def test_cli_backfill_of_one_asset_builds_only_it(settings, landed, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = CliRunner().invoke(app, ["backfill", "--from", DAYS[1], "--to", DAYS[1], "--asset", "silver/trades"])
    assert result.exit_code == 0, result.output
    assert "the runs are not recorded" in result.stderr
    catalog = open_catalog(settings)
    assert rows(catalog, "silver.trades", DAY) and not rows(catalog, "silver.candles", DAY)
    assert "live_candles_agree" not in result.stdout  # the check of silver/candles did not run


def test_cli_backfill_exits_1_naming_the_partitions_that_failed(settings, landed, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("TICKLAKE_CANDLE_GRACE_SECONDS", '{"1m": 10}')  # late trades need every interval's grace
    result = CliRunner().invoke(app, ["backfill", "--from", DAYS[0], "--to", DAYS[1]], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert f"failed partitions: {DAYS[0]}, {DAYS[1]}" in result.stderr
    assert f"{DAYS[0]}: ValueError: TICKLAKE_CANDLE_GRACE_SECONDS has no grace for ['5m', '1h']" in result.stderr
    assert "FAILED" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-21", "--to", "2026-11-20"], "--to 2026-11-20 is before --from 2026-11-21"),
        (["--from", "21.11.2026", "--to", "2026-11-21"], "--from '21.11.2026' is not a date"),
        (["--from", "2020-01-01", "--to", "2020-01-02"], "2020-01-01 is outside the daily partitions"),
        (["--from", "2026-11-21", "--to", "2026-11-21", "--asset", "gold/x"], "unknown assets ['gold/x']"),
    ],
)
def test_cli_backfill_bad_input_exits_2(settings, args, message):
    result = CliRunner().invoke(app, ["backfill", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
