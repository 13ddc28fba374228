import dataclasses
import datetime as dt
from decimal import Decimal

from dagster import AssetKey, DagsterEventType, instance_for_test
from pyiceberg.expressions import EqualTo
from silver_fixtures import arrival_stream, as_reference, build_silver, land, on_the_bus
from testkit import reference_candles

from contracts.tables import BRONZE_TRADES, SILVER_TRADES
from orchestration.definitions import defs
from orchestration.defs.silver.trades import deduplicate
from ticklake.lake import open_catalog
from ticklake.timeutil import date_to_ns, ns_to_date

DAY = dt.date(2026, 11, 21)


def silver_rows(catalog, table, day):
    return catalog.load_table(table).scan(row_filter=EqualTo("event_date", day)).to_arrow().to_pylist()


def test_silver_trades_keep_the_first_arrival_of_each_identity(settings):
    catalog = open_catalog(settings)
    arrivals = on_the_bus(arrival_stream(date_to_ns(DAY), 1500, seed=11))
    first = arrivals[200]
    # a replay of an already landed trade with other values, much later: the first arrival wins
    replay = dataclasses.replace(
        arrivals[-1],
        trade=dataclasses.replace(first.trade, price=first.trade.price + 1, ts_recv=arrivals[-1].trade.ts_recv + 1),
        offset=arrivals[-1].offset + 1,
    )
    land(catalog, arrivals[:1000])
    land(catalog, [*arrivals[1000:], replay])
    with instance_for_test() as instance:
        result = build_silver(instance, ns_to_date(first.trade.ts_event))
    day = ns_to_date(first.trade.ts_event)

    on_day = [a for a in [*arrivals, replay] if ns_to_date(a.trade.ts_event) == day]
    expected = {}
    for arrival in sorted(on_day, key=lambda a: (a.trade.ts_recv, a.partition, a.offset)):
        expected.setdefault((arrival.trade.symbol, arrival.trade.trade_id), arrival)
    rows = silver_rows(catalog, "silver.trades", day)
    assert len(rows) == len(expected) < len(on_day)  # duplicates existed, and were dropped
    for row in rows:
        want = expected[(row["symbol"], row["trade_id"])]
        assert (row["price"], row["ts_recv"], row["kafka_offset"]) == (
            want.trade.price,
            want.trade.ts_recv,
            want.offset,
        )
    by_id = {(r["symbol"], r["trade_id"]): r for r in rows}
    assert by_id[(first.trade.symbol, first.trade.trade_id)]["price"] == first.trade.price
    # sorted by instrument, then event time
    assert [(r["instrument"], r["ts_event"]) for r in rows] == sorted((r["instrument"], r["ts_event"]) for r in rows)
    metadata = result.asset_materializations_for_node("silver__trades")[0].metadata
    assert metadata["trades"].value == len(expected)
    assert metadata["duplicates"].value == len(on_day) - len(expected)


def test_deduplicating_nothing_gives_an_empty_silver_table():
    empty = deduplicate(BRONZE_TRADES.schema().as_arrow().empty_table())
    assert empty.num_rows == 0 and empty.schema == SILVER_TRADES.schema().as_arrow()


def test_the_sensor_job_builds_trades_then_late_trades_and_candles_from_them(settings):
    catalog = open_catalog(settings)
    arrivals = on_the_bus(arrival_stream(date_to_ns(DAY), 1200, seed=4))
    land(catalog, arrivals)
    job = defs.resolve_job_def("silver_candles_job")
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key=DAY.isoformat())
        assert result.success
        assert [e.check_name for e in result.get_asset_check_evaluations()] == ["live_candles_agree"]
        order = [
            event.asset_key for event in result.all_events if event.event_type == DagsterEventType.ASSET_MATERIALIZATION
        ]
    assert order[0] == AssetKey(["silver", "trades"])
    assert set(order) == {AssetKey(["silver", s]) for s in ("trades", "late_trades", "candles")} and len(order) == 3

    # the candles come from silver.trades: each identity counted once, values as the reference
    expected = reference_candles([as_reference(a.trade) for a in arrivals], DAY)
    rows = silver_rows(catalog, "silver.candles", DAY)
    actual = {(r["venue"], r["instrument"], r["window_start"]): r for r in rows if r["interval"] == "1m"}
    assert actual.keys() == expected.keys() and len(expected) >= 4
    for key, want in expected.items():
        got = actual[key]
        assert (got["open"], got["high"], got["low"], got["close"]) == (
            want["open"],
            want["high"],
            want["low"],
            want["close"],
        )
        assert (got["volume"], got["trade_count"]) == (want["volume"], want["trade_count"])
        assert got["buy_volume"] + got["sell_volume"] == got["volume"] > Decimal(0)
