"""The dbt tests bite: each invariant fails on a deliberately broken row, and a failing check publishes nothing."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from dagster import AssetCheckKey, AssetKey, instance_for_test
from marts_fixtures import (
    DAY,
    PREVIOUS,
    BuiltLake,
    build_marts,
    lake_settings,
    make_trades,
    read_gold,
    write_silver_day,
)

from contracts.tables import SILVER_CANDLES
from orchestration.defs.marts.assets import dbt_resource
from orchestration.defs.marts.project import MartsPaths
from ticklake.lake import on_day, open_catalog

pytestmark = pytest.mark.timeout(600)

# one statement per invariant, each breaking a different row so that exactly that test fails
CORRUPTIONS: dict[str, str] = {
    "daily_summary_low_le_open_close_le_high": """
        UPDATE fct_daily_market_summary SET "open" = high + 1
        WHERE venue = 'binance' AND instrument = 'BTC-USDT' AND event_date = DATE '2026-11-20'""",
    "daily_summary_vwap_within_low_high": """
        UPDATE fct_daily_market_summary SET vwap = high::DOUBLE * 1.01
        WHERE venue = 'binance' AND instrument = 'ETH-USDT' AND event_date = DATE '2026-11-20'""",
    "daily_summary_sides_add_up_to_volume": """
        UPDATE fct_daily_market_summary SET buy_volume = buy_volume + 0.000000000000000001
        WHERE venue = 'coinbase' AND event_date = DATE '2026-11-20'""",
    "daily_summary_realized_volatility_non_negative": """
        UPDATE fct_daily_market_summary SET realized_volatility = -realized_volatility
        WHERE venue = 'kalshi' AND event_date = DATE '2026-11-20'""",
    "unique_combination_fct_daily_market_summary_venue__instrument__event_date": """
        INSERT INTO fct_daily_market_summary SELECT * FROM fct_daily_market_summary
        WHERE instrument = 'BTC-USD-PERP' AND event_date = DATE '2026-11-19'""",
    "candles_low_le_open_close_le_high": """
        UPDATE mart_candles SET "open" = high + 1
        WHERE window_start = (SELECT min(window_start) FROM mart_candles WHERE "interval" = '5m')
          AND "interval" = '5m' AND instrument = 'BTC-USDT'""",
    "candles_window_matches_interval": """
        UPDATE mart_candles SET window_end = window_end + 1
        WHERE window_start = (SELECT max(window_start) FROM mart_candles WHERE "interval" = '1m')
          AND "interval" = '1m' AND instrument = 'ETH-USDT'""",
    "largest_trades_rank_within_n": """
        UPDATE fct_largest_trades SET size_rank = 99
        WHERE size_rank = 5 AND instrument = 'SHIB-USD' AND event_date = DATE '2026-11-20'""",
    "accepted_values_dim_instruments_kind__spot__perpetual__future__prediction": """
        UPDATE dim_instruments SET kind = 'option' WHERE instrument = 'ETH-USD-20261225'""",
}


def run_dbt_tests(database: Path, target: Path) -> dict[str, str]:
    """``dbt test`` every model of a builder database; the status of each test by name.

    The window is the last build's (the day before DAY): the staging views hold that window.
    """
    dbt_vars = {"duckdb_path": str(database), "start": PREVIOUS.isoformat(), "end": DAY.isoformat()}
    invocation = dbt_resource().cli(["test", "--vars", json.dumps(dbt_vars)], raise_on_error=False, target_path=target)
    invocation.wait()
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {result["unique_id"].split(".")[2]: result["status"] for result in results}


def test_each_invariant_test_fails_on_its_broken_row_and_only_there(built_lake: BuiltLake, tmp_path: Path) -> None:
    database = tmp_path / "broken.duckdb"
    shutil.copy(MartsPaths.under(built_lake.state_dir).builder, database)
    connection = duckdb.connect(str(database))
    try:
        for name, statement in CORRUPTIONS.items():
            changed = connection.execute(statement).fetchall()
            assert changed[0][0] >= 1, f"the corruption for {name} touched no row"
    finally:
        connection.close()

    statuses = run_dbt_tests(database, tmp_path / "target")
    failed = {name for name, status in statuses.items() if status != "pass"}
    assert failed == set(CORRUPTIONS), statuses
    assert len(statuses) > len(CORRUPTIONS) + 30  # every other test ran and passed


def test_a_broken_silver_row_fails_its_check_and_nothing_is_published(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    catalog = open_catalog(lake_settings(state_dir))
    write_silver_day(catalog, DAY, make_trades(DAY, 200, seed=5, hours=(9.0, 10.0)))
    with instance_for_test() as instance:
        assert build_marts(state_dir, DAY, instance).success
        published = {
            name: catalog.load_table(name).current_snapshot().snapshot_id
            for name in ("gold.daily_market_summary", "gold.largest_trades", "gold.candles", "gold.instruments")
        }
        good_candles = read_gold(catalog, "gold.candles", DAY)

        # a silver candle whose open is above its high (e.g. a bad recompute) lands in silver
        candles = catalog.load_table(SILVER_CANDLES.identifier)
        rows = candles.scan(row_filter=on_day(DAY)).to_arrow().to_pylist()
        broken = next(r for r in rows if r["interval"] == "1h" and r["instrument"] == "BTC-USDT")
        broken["open"] = broken["high"] + 1
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Delete operation did not match any records")
            candles.overwrite(pa.Table.from_pylist(rows, schema=candles.schema().as_arrow()), on_day(DAY))

        result = build_marts(state_dir, DAY, instance)

    assert not result.success
    evaluations = {e.asset_check_key: e for e in result.get_asset_check_evaluations()}
    check = AssetCheckKey(AssetKey(["gold", "candles"]), "candles_low_le_open_close_le_high")
    assert not evaluations[check].passed and evaluations[check].blocking
    assert evaluations[check].metadata["dagster_dbt/failed_row_count"].value == 1
    assert all(e.passed for key, e in evaluations.items() if key != check)
    # the build is all or nothing: every gold table still serves the previous good version
    for name, snapshot_id in published.items():
        assert catalog.load_table(name).current_snapshot().snapshot_id == snapshot_id, name
    assert read_gold(catalog, "gold.candles", DAY) == good_candles
