"""The marts built by Dagster + dbt over a real Iceberg lake equal an independent Python computation."""

from __future__ import annotations

import itertools
import math

import pytest
from dagster import AssetCheckKey, AssetKey
from marts_fixtures import (
    DAY,
    MINUTE,
    NEXT,
    PREVIOUS,
    BuiltLake,
    gold_files,
    read_gold,
    reference_daily,
    reference_largest,
)

from contracts.instruments import kind_of, split_spot
from contracts.tables import SILVER_CANDLES, SILVER_TRADES
from orchestration.defs.marts.assets import marts_assets
from orchestration.defs.marts.publish import GOLD_TABLES
from orchestration.defs.silver.partitions import daily_partitions
from ticklake.timeutil import ns_to_date

pytestmark = pytest.mark.timeout(600)

EXACT = ("open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "unknown_volume")
COUNTS = ("trade_count", "buy_count", "sell_count", "return_count", "first_trade_ns", "last_trade_ns")
IDS = ("first_trade_id", "last_trade_id")
FLOATS = ("quote_volume", "vwap", "buy_sell_ratio", "realized_volatility")


@pytest.mark.parametrize("day", [DAY, PREVIOUS], ids=["day", "previous_day"])
def test_daily_summary_equals_an_independent_python_computation(built_lake: BuiltLake, day) -> None:
    expected = reference_daily(built_lake.trades, day)
    actual = {(r["venue"], r["instrument"]): r for r in read_gold(built_lake.catalog, "gold.daily_market_summary", day)}
    assert actual.keys() == expected.keys() and len(actual) == 6
    for key, want in expected.items():
        got = actual[key]
        for column in (*EXACT, *COUNTS, *IDS):
            assert got[column] == want[column], (key, column)
        for column in FLOATS:
            if want[column] is None:
                assert got[column] is None, (key, column)
            else:
                assert math.isclose(got[column], want[column], rel_tol=1e-12), (key, column, got[column], want[column])
        assert got["buy_volume"] + got["sell_volume"] + got["unknown_volume"] == got["volume"]
        assert got["low"] <= min(got["open"], got["close"]) <= max(got["open"], got["close"]) <= got["high"]
    # the generator gives each kind of data: tiny prices with huge sizes, unknown sides, text trade ids
    shib = actual[("coinbase", "SHIB-USD")]
    assert shib["low"] < 1 and shib["volume"] > 10**11 and shib["unknown_volume"] > 0
    assert actual[("binance", "BTC-USDT")]["unknown_volume"] == 0
    assert actual[("binance", "BTC-USDT")]["return_count"] > 50


def test_largest_trades_are_the_days_top_n_by_size(built_lake: BuiltLake) -> None:
    rows = read_gold(built_lake.catalog, "gold.largest_trades", DAY)
    actual: dict[tuple[str, str], list[str]] = {}
    for row in sorted(rows, key=lambda r: r["size_rank"]):
        actual.setdefault((row["venue"], row["instrument"]), []).append(row["trade_id"])
    assert actual == reference_largest(built_lake.trades, DAY)
    by_id = {(t["venue"], t["instrument"], t["trade_id"]): t for t in built_lake.trades}
    for row in rows:
        trade = by_id[(row["venue"], row["instrument"], row["trade_id"])]
        assert (row["price"], row["size"], row["side"], row["ts_event"]) == (
            trade["price"],
            trade["size"],
            trade["side"],
            trade["ts_event"],
        )


def test_instrument_dimension_follows_the_naming_rules_and_spans_both_days(built_lake: BuiltLake) -> None:
    rows = {(r["venue"], r["instrument"]): r for r in read_gold(built_lake.catalog, "gold.instruments")}
    kinds = {kind_of(instrument) for _, instrument in rows}
    assert kinds == {"spot", "perpetual", "future", "prediction"}
    for (_, instrument), row in rows.items():
        seen = [t for t in built_lake.trades if t["instrument"] == instrument and ns_to_date(t["ts_event"]) <= DAY]
        assert row["kind"] == kind_of(instrument)
        if row["kind"] == "spot":
            assert (row["base"], row["quote"]) == split_spot(instrument)
        elif row["kind"] == "prediction":
            assert row["base"] is None and row["quote"] is None
        else:
            assert instrument.startswith(f"{row['base']}-{row['quote']}-")
        assert (row["expiry"] is not None) == (row["kind"] == "future")
        # first seen in the second build's window (the day before), last seen in the first's
        assert row["first_seen_ns"] == min(t["ts_event"] for t in seen)
        assert row["last_seen_ns"] == max(t["ts_event"] for t in seen)
        assert (row["first_seen_date"], row["last_seen_date"], row["days_traded"]) == (PREVIOUS, DAY, 2)
        assert row["trade_count"] == len(seen)
    assert rows[("krakenfutures", "ETH-USD-20261225")]["expiry"].isoformat() == "2026-12-25"


def test_candle_mart_is_silver_candles_with_log_returns(built_lake: BuiltLake) -> None:
    silver = built_lake.catalog.load_table(SILVER_CANDLES.identifier).scan().to_arrow().to_pylist()
    silver_by_key = {(r["venue"], r["instrument"], r["interval"], r["window_start"]): r for r in silver}
    gold = read_gold(built_lake.catalog, "gold.candles")
    assert {r["event_date"] for r in gold} == {PREVIOUS, DAY}  # not the next day: outside both windows
    assert len(gold) == sum(1 for r in silver if r["event_date"] in (PREVIOUS, DAY))
    series: dict[tuple[str, str, str, object], list[dict]] = {}
    for row in gold:
        key = (row["venue"], row["instrument"], row["interval"], row["window_start"])
        source = silver_by_key[key]
        for column in ("open", "high", "low", "close", "volume", "trade_count", "revision", "vwap"):
            assert row[column] == source[column], (key, column)
        series.setdefault((row["venue"], row["instrument"], row["interval"], row["event_date"]), []).append(row)
    for rows in series.values():
        rows.sort(key=lambda r: r["window_start"])
        assert rows[0]["log_return"] is None
        for before, after in itertools.pairwise(rows):
            exact = float((after["close"] / before["close"]).ln())  # Decimal: 28 significant digits
            assert math.isclose(after["log_return"], exact, rel_tol=1e-12, abs_tol=1e-300)


def test_each_build_replaces_only_its_window(built_lake: BuiltLake) -> None:
    # the second build (the day before) did not rewrite the first day's gold files, nor publish the next day
    assert gold_files(built_lake.catalog, DAY) == built_lake.gold_files_after_first
    assert read_gold(built_lake.catalog, "gold.daily_market_summary", NEXT) == []
    first_minutes = [r for r in read_gold(built_lake.catalog, "gold.candles", DAY) if r["interval"] == "1m"]
    assert all(ns_to_date(r["window_start"]) == DAY and r["window_start"] % MINUTE == 0 for r in first_minutes)


def test_every_dbt_test_is_an_asset_check_and_passed_in_both_builds(built_lake: BuiltLake) -> None:
    specs = {spec.key for spec in marts_assets().check_specs}
    assert len(specs) >= 40
    for result in (built_lake.first, built_lake.second):
        evaluations = result.get_asset_check_evaluations()
        assert {e.asset_check_key for e in evaluations} == specs
        assert all(e.passed for e in evaluations), [e.asset_check_key for e in evaluations if not e.passed]
    names = {key.name for key in specs}
    assert {
        "daily_summary_low_le_open_close_le_high",
        "daily_summary_vwap_within_low_high",
        "daily_summary_sides_add_up_to_volume",
        "candles_low_le_open_close_le_high",
        "unique_combination_fct_daily_market_summary_venue__instrument__event_date",
    } <= names
    blocking = {spec.key.name for spec in marts_assets().check_specs if spec.blocking}
    assert "daily_summary_sides_add_up_to_volume" in blocking
    # the singular cross-check of the two silver inputs is a warning on the daily summary, not blocking
    singular = AssetCheckKey(AssetKey(["gold", "daily_market_summary"]), "daily_summary_matches_silver_candles")
    assert singular in specs and singular.name not in blocking


def test_gold_assets_sit_downstream_of_silver_with_the_same_daily_partitions(built_lake: BuiltLake) -> None:
    assets = marts_assets()
    assert {AssetKey(g.asset_path) for g in GOLD_TABLES} <= set(assets.keys)
    assert assets.partitions_def == daily_partitions()
    upstream = {dep.asset_key for spec in assets.specs for dep in spec.deps}
    assert {AssetKey(["silver", "trades"]), AssetKey(["silver", "candles"])} <= upstream
    # each published mart records the silver snapshots it was built from and its gold snapshot
    materializations = {
        m.asset_key: m.materialization.metadata for m in built_lake.first.get_asset_materialization_events()
    }
    summary = materializations[AssetKey(["gold", "daily_market_summary"])]
    sources = summary["silver_snapshots"].value
    for table_def in (SILVER_TRADES, SILVER_CANDLES):
        current = built_lake.catalog.load_table(table_def.identifier).current_snapshot()
        assert sources[table_def.identifier]["snapshot_id"] == str(current.snapshot_id)
    assert summary["published_rows"].value == 6
    gold = built_lake.catalog.load_table("gold.daily_market_summary")
    published = next(s for s in gold.snapshots() if str(s.snapshot_id) == summary["gold_snapshot_id"].value)
    assert published.summary["ticklake.window"] == f"{DAY}/{NEXT}"
