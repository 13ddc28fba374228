"""silver.late_trades equals the live aggregator's late set on the same arrival order; the recompute revises."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from dagster import instance_for_test
from pyiceberg.expressions import EqualTo
from silver_fixtures import SECOND, arrival_stream, as_reference, build_silver, land, on_the_bus
from testkit import reference_candles

from contracts.records import Trade
from contracts.tables import BRONZE_TRADES, CANDLE_INTERVALS
from orchestration.defs.silver.assets import grace_ns, lateness_ns
from orchestration.defs.silver.trades import late_trades
from streaming.aggregator import CandleAggregator
from ticklake.lake import open_catalog
from ticklake.settings import load_settings
from ticklake.timeutil import date_to_ns, ns_to_date

DAY = dt.date(2026, 11, 21)
MIDNIGHT = date_to_ns(DAY)
DAYS = (DAY - dt.timedelta(days=1), DAY)
REVISION_COLUMNS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "trade_count",
    "first_trade_id",
    "last_trade_id",
)


def live_late_set(arrivals: list[Trade], settings) -> dict[tuple[str, str, str], int]:
    """(symbol, trade_id, interval) -> watermark at arrival, as the live aggregator reports them.

    A trade re-sent after its windows sealed is reported again by the live aggregator; silver keeps
    the first arrival of an identity, so the first report is the one to compare.
    """
    aggregator = CandleAggregator(grace=grace_ns(settings), allowed_lateness=lateness_ns(settings))
    found: dict[tuple[str, str, str], int] = {}
    for trade in arrivals:
        for late in aggregator.add(trade).late:
            for interval in late.intervals:
                found.setdefault((trade.symbol, trade.trade_id, interval), late.watermark)
    return found


def stored_late_set(catalog, day) -> dict[tuple[str, str, str], int]:
    rows = catalog.load_table("silver.late_trades").scan(row_filter=EqualTo("event_date", day)).to_arrow().to_pylist()
    found = {}
    for row in rows:
        length = CANDLE_INTERVALS[row["interval"]]
        assert row["window_start"] == row["ts_event"] // length * length
        assert row["window_end"] == row["window_start"] + length
        assert row["event_date"] == day == ns_to_date(row["ts_event"])
        assert row["watermark_at_arrival"] >= row["window_end"] + grace_ns(load_settings())[row["interval"]]
        key = (row["symbol"], row["trade_id"], row["interval"])
        assert key not in found
        found[key] = row["watermark_at_arrival"]
    return found


def read_candles(catalog, day):
    rows = catalog.load_table("silver.candles").scan(row_filter=EqualTo("event_date", day)).to_arrow().to_pylist()
    return {(r["interval"], r["venue"], r["instrument"], r["window_start"]): r for r in rows}


def reference(trades: list[Trade], day) -> dict[tuple[str, str, str, int], dict]:
    unique = [as_reference(t) for t in trades]
    return {
        (interval, *key): value
        for interval, length in CANDLE_INTERVALS.items()
        for key, value in reference_candles(unique, day, length).items()
    }


@pytest.mark.parametrize("lateness", [0.0, 2.5])
def test_late_trades_equal_the_live_set_and_the_recompute_revises_only_affected_windows(monkeypatch, lateness):
    monkeypatch.setenv("TICKLAKE_CANDLE_ALLOWED_LATENESS_SECONDS", str(lateness))
    settings = load_settings()
    catalog = open_catalog(settings)
    arrivals = arrival_stream(MIDNIGHT, 2600, seed=21)
    live = live_late_set(arrivals, settings)

    # the stream is meaningful: late trades for every interval, on both days, and trades of the
    # first day made late by the second day's trades (the watermark crossed midnight)
    assert {key[2] for key in live} == set(CANDLE_INTERVALS)
    late_days = {ns_to_date(t.ts_event) for t in arrivals if (t.symbol, t.trade_id, "1m") in live}
    assert late_days == set(DAYS)
    assert any(
        ns_to_date(t.ts_event) == DAYS[0] and live.get((t.symbol, t.trade_id, "1h"), 0) >= MIDNIGHT for t in arrivals
    )

    bus = on_the_bus(arrivals)
    cut = len(bus) * 2 // 3
    with instance_for_test() as instance:
        land(catalog, bus[:cut])
        for day in DAYS:
            build_silver(instance, day)
        first = {day: read_candles(catalog, day) for day in DAYS}
        # the late set only depends on earlier arrivals: the prefix gives the prefix of the live set
        prefix_live = live_late_set(arrivals[:cut], settings)
        assert {**stored_late_set(catalog, DAYS[0]), **stored_late_set(catalog, DAYS[1])} == prefix_live

        land(catalog, bus[cut:])
        results = {day: build_silver(instance, day) for day in DAYS}

    stored = {**stored_late_set(catalog, DAYS[0]), **stored_late_set(catalog, DAYS[1])}
    assert stored == live  # same (trade, interval) pairs, same watermark at arrival
    late_meta = results[DAY].asset_materializations_for_node("silver__late_trades")[0].metadata
    assert late_meta["late_rows"].value == len(stored_late_set(catalog, DAY)) > 0
    assert late_meta["late_1h"].value == sum(1 for key in stored_late_set(catalog, DAY) if key[2] == "1h")

    for day in DAYS:
        candles = read_candles(catalog, day)
        full = reference(arrivals, day)
        before = reference(arrivals[:cut], day)
        assert candles.keys() == full.keys()
        revised = 0
        for key, want in full.items():
            got = candles[key]
            assert all(got[c] == want[c] for c in REVISION_COLUMNS), key  # late trades are included
            changed = key in before and any(before[key][c] != want[c] for c in REVISION_COLUMNS)
            assert got["revision"] == (2 if changed else 1), key
            assert first[day].get(key, {"revision": 1})["revision"] == 1
            revised += changed
        assert revised > 0
        meta = results[day].asset_materializations_for_node("silver__candles")[0].metadata
        assert meta["revised_candles"].value == revised


def test_a_later_days_arrival_makes_a_trade_late_only_when_it_came_first():
    settings = load_settings()
    grace, lateness = grace_ns(settings), lateness_ns(settings)
    one = Decimal(1)
    before = Trade("binance", "BTC-USDT", "BTCUSDT", "1", one, one, "buy", MIDNIGHT - 10 * SECOND, MIDNIGHT)
    schema = BRONZE_TRADES.schema().as_arrow()

    def rows(*trades_with_offsets):
        out = []
        for trade, offset in trades_with_offsets:
            row = trade.to_record(trade.ts_recv)
            row.update(event_date=ns_to_date(trade.ts_event), kafka_partition=0, kafka_offset=offset)
            out.append(row)
        return pa.Table.from_pylist(out, schema=schema)

    # a 23:59:50 trade received after a 00:00:25 trade of the next day missed its 1m window only
    next_day = dataclasses.replace(
        before, trade_id="2", ts_event=MIDNIGHT + 25 * SECOND, ts_recv=MIDNIGHT + 26 * SECOND
    )
    late_one = dataclasses.replace(before, ts_recv=MIDNIGHT + 30 * SECOND)
    found = late_trades(rows((late_one, 1)), rows((next_day, 0)), grace, lateness)
    assert found.column("interval").to_pylist() == ["1m"]  # 00:00:00 + 10 s grace <= 00:00:25
    assert found.column("watermark_at_arrival").to_pylist() == [MIDNIGHT + 25 * SECOND]
    # the same next-day trade arriving afterwards changes nothing
    afterwards = dataclasses.replace(next_day, ts_recv=MIDNIGHT + 40 * SECOND)
    assert late_trades(rows((late_one, 0)), rows((afterwards, 1)), grace, lateness).num_rows == 0
    # same receive time: the Kafka position decides the order
    tied = dataclasses.replace(next_day, ts_recv=late_one.ts_recv)
    assert late_trades(rows((late_one, 1)), rows((tied, 0)), grace, lateness).num_rows == 1
    assert late_trades(rows((late_one, 0)), rows((tied, 1)), grace, lateness).num_rows == 0


def test_late_trades_need_a_grace_for_every_interval_and_a_non_negative_lateness():
    empty = BRONZE_TRADES.schema().as_arrow().empty_table()
    with pytest.raises(ValueError, match="no grace"):
        late_trades(empty, empty, {"1m": 0}, 0)
    with pytest.raises(ValueError, match="negative"):
        late_trades(empty, empty, {"1m": 0, "5m": 0, "1h": 0}, -1)
