import datetime as dt
import math

from bronze_fixtures import append_bronze, make_trades
from dagster import instance_for_test, materialize
from pyiceberg.expressions import EqualTo
from testkit import MINUTE_NS as MINUTE
from testkit import reference_candles

from contracts.tables import CANDLE_INTERVALS
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.assets import silver_candles, silver_trades
from ticklake.lake import open_catalog
from ticklake.timeutil import date_to_ns

DAY = dt.date(2026, 11, 20)


def read_candles(catalog, day, interval="1m"):
    table = catalog.load_table("silver.candles")
    rows = table.scan(row_filter=EqualTo("event_date", day)).to_arrow().to_pylist()
    return {(r["venue"], r["instrument"], r["window_start"]): r for r in rows if r["interval"] == interval}


def test_candle_partition_equals_independent_computation(settings):
    catalog = open_catalog(settings)
    trades = make_trades(DAY, 4000)
    append_bronze(catalog, trades)
    append_bronze(catalog, trades[:300], seed=9)  # re-delivered trades must not count twice

    with instance_for_test() as instance:
        result = materialize(
            [silver_trades, silver_candles],
            partition_key=DAY.isoformat(),
            resources={"lake": LakeResource()},
            instance=instance,
        )
    assert result.success

    built = 0
    for interval, length in CANDLE_INTERVALS.items():
        expected = reference_candles(trades, DAY, length)
        actual = read_candles(catalog, DAY, interval)
        assert len(expected) > (15 if interval == "1m" else 0)
        assert actual.keys() == expected.keys()
        check_candles(actual, expected, interval, length)
        built += len(expected)

    materialization = result.asset_materializations_for_node("silver__candles")[0]
    assert materialization.metadata["candles"].value == built


def check_candles(actual, expected, interval, length):
    for key, want in expected.items():
        got = actual[key]
        for column in ("open", "close", "high", "low", "volume", "buy_volume", "sell_volume"):
            assert got[column] == want[column], (key, column)
        assert got["trade_count"] == want["trade_count"]
        assert got["first_trade_id"] == want["first_trade_id"]
        assert got["last_trade_id"] == want["last_trade_id"]
        assert got["buy_volume"] + got["sell_volume"] == got["volume"]
        assert got["low"] <= min(got["open"], got["close"]) and max(got["open"], got["close"]) <= got["high"]
        # quote volume and VWAP are derived doubles: equal up to floating-point summation order
        assert math.isclose(got["quote_volume"], want["quote_volume"], rel_tol=1e-12)
        assert math.isclose(got["vwap"], want["quote_volume"] / float(want["volume"]), rel_tol=1e-12)
        assert float(got["low"]) <= got["vwap"] * (1 + 1e-12) and got["vwap"] <= float(got["high"]) * (1 + 1e-12)
        assert got["window_end"] - got["window_start"] == length and got["interval"] == interval


def test_rematerializing_a_partition_replaces_it(settings):
    catalog = open_catalog(settings)
    trades = make_trades(DAY, 500)
    append_bronze(catalog, trades)
    with instance_for_test() as instance:
        for _ in range(2):
            result = materialize(
                [silver_trades, silver_candles],
                partition_key=DAY.isoformat(),
                resources={"lake": LakeResource()},
                instance=instance,
            )
            assert result.success
    assert read_candles(catalog, DAY).keys() == reference_candles(trades, DAY).keys()
    total = catalog.load_table("silver.candles").scan(row_filter=EqualTo("event_date", DAY)).to_arrow().num_rows
    assert total == sum(len(reference_candles(trades, DAY, length)) for length in CANDLE_INTERVALS.values())
    # the previous day's trades are in their own partition, untouched by this one
    assert read_candles(catalog, DAY - dt.timedelta(days=1)) == {}


def test_a_recompute_that_changes_a_candle_raises_its_revision(settings):
    catalog = open_catalog(settings)
    trades = make_trades(DAY, 3000)
    on_day = [t for t in trades if t["ts_event"] >= date_to_ns(DAY)]
    append_bronze(catalog, trades)
    with instance_for_test() as instance:

        def build():
            result = materialize(
                [silver_trades, silver_candles],
                partition_key=DAY.isoformat(),
                resources={"lake": LakeResource()},
                instance=instance,
            )
            assert result.success
            return read_candles(catalog, DAY), result.asset_materializations_for_node("silver__candles")[0]

        first, _ = build()
        assert {c["revision"] for c in first.values()} == {1}

        # a late trade inside an already built minute, and one opening a new minute far later in the day
        late = dict(on_day[10], trade_id="99999999", price=on_day[10]["price"] + 1000, size=on_day[10]["size"])
        fresh = dict(on_day[10], trade_id="99999998", ts_event=date_to_ns(DAY) + 20 * 3600 * 10**9)
        append_bronze(catalog, [late, fresh])
        second, materialization = build()
        late_key = ("binance", late["instrument"], late["ts_event"] // MINUTE * MINUTE)
        fresh_key = ("binance", fresh["instrument"], fresh["ts_event"] // MINUTE * MINUTE)
        assert second[late_key]["revision"] == 2 and second[late_key]["high"] == late["price"]
        assert second[fresh_key]["revision"] == 1
        assert all(c["revision"] == 1 for k, c in second.items() if k not in (late_key,))
        assert materialization.metadata["revised_candles"].value == 3  # the late minute, its 5m and its 1h

        third, _ = build()  # nothing changed: revisions stay
        assert {k: c["revision"] for k, c in third.items()} == {k: c["revision"] for k, c in second.items()}
