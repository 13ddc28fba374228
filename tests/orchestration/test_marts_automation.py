"""The marts follow silver without a human: declarative automation evaluated on a real Dagster instance.

Silver is really built (bronze in a real Iceberg catalog, Dagster runs); the automation conditions of
the marts are then evaluated as the ``marts_after_silver`` sensor evaluates them in the daemon.
"""

import datetime as dt

import pytest
from dagster import AssetKey, instance_for_test
from dagster import evaluate_automation_conditions as evaluate
from silver_fixtures import arrival_stream, build_silver, land, on_the_bus

from orchestration.definitions import defs
from orchestration.defs.marts.sensors import MARTS_SELECTION, marts_after_silver
from orchestration.defs.silver.assets import SILVER_KEYS
from ticklake.lake import open_catalog
from ticklake.timeutil import date_to_ns

pytestmark = pytest.mark.timeout(300)

DAY = dt.date(2026, 11, 17)
"""A past day (not the latest partition): Dagster's ``eager()`` would ignore it."""
PREVIOUS = DAY - dt.timedelta(days=1)


def marts_keys() -> set[AssetKey]:
    graph = defs.resolve_asset_graph()
    return {key for key in graph.get_all_asset_keys() if key.path[0] in ("gold", "marts_build")}


def requested(result) -> dict[AssetKey, set[str]]:
    """Per asset, the partitions the evaluation requested (assets with none left out)."""
    graph = defs.resolve_asset_graph()
    out = {key: set(result.get_requested_partitions(key)) for key in graph.get_all_asset_keys()}
    return {key: partitions for key, partitions in out.items() if partitions}


def test_the_marts_of_a_day_are_requested_after_its_silver_is_rematerialized(settings):
    catalog = open_catalog(settings)
    land(catalog, on_the_bus(arrival_stream(date_to_ns(DAY), 600, seed=9)))  # the evening before and the day
    marts = marts_keys()
    assert {AssetKey(["gold", "daily_market_summary"]), AssetKey(["marts_build", "stg_trades"])} <= marts
    assert MARTS_SELECTION.resolve(defs.resolve_asset_graph()) == marts
    assert marts_after_silver.asset_selection == MARTS_SELECTION

    with instance_for_test() as instance:
        build_silver(instance, PREVIOUS)
        first = evaluate(defs=defs, instance=instance, asset_selection=MARTS_SELECTION)
        assert first.total_requested == 0  # the sensor's first tick: what happened before it is history

        build_silver(instance, DAY)
        second = evaluate(defs=defs, instance=instance, asset_selection=MARTS_SELECTION, cursor=first.cursor)
        assert requested(second) == {key: {DAY.isoformat()} for key in marts}  # every mart, that day only
        assert not any(key in SILVER_KEYS for key in requested(second))

        # nothing changed since: nothing requested
        third = evaluate(defs=defs, instance=instance, asset_selection=MARTS_SELECTION, cursor=second.cursor)
        assert third.total_requested == 0

        # a past day rebuilt (late data, a repair, a backfill): its marts follow, and only its
        build_silver(instance, PREVIOUS)
        fourth = evaluate(defs=defs, instance=instance, asset_selection=MARTS_SELECTION, cursor=third.cursor)
        assert requested(fourth) == {key: {PREVIOUS.isoformat()} for key in marts}
        fifth = evaluate(defs=defs, instance=instance, asset_selection=MARTS_SELECTION, cursor=fourth.cursor)
        assert fifth.total_requested == 0
