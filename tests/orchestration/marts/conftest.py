"""A lake with known silver data and the marts built over two days, shared by the marts tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import instance_for_test
from marts_fixtures import (
    DAY,
    NEXT,
    PREVIOUS,
    BuiltLake,
    build_marts,
    gold_files,
    lake_settings,
    make_trades,
    write_silver_day,
)

from ticklake.lake import open_catalog


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltLake]:
    """Silver data on three days; the marts built for DAY, then for the day before (two partitions)."""
    state_dir = tmp_path_factory.mktemp("marts") / "state"
    catalog = open_catalog(lake_settings(state_dir))
    trades = (
        make_trades(DAY, 1500, seed=1)
        + make_trades(PREVIOUS, 300, seed=2, hours=(21.0, 24.0))
        + make_trades(NEXT, 100, seed=3, hours=(0.0, 0.5))
    )
    for day in (PREVIOUS, DAY, NEXT):
        write_silver_day(catalog, day, trades)
    with instance_for_test() as instance:
        first = build_marts(state_dir, DAY, instance)
        assert first.success, "the first build failed"
        files = gold_files(catalog, DAY)
        second = build_marts(state_dir, PREVIOUS, instance)
        assert second.success, "the second build failed"
        yield BuiltLake(state_dir, catalog, trades, first, second, files)
