"""Silver keeps exactly one copy of a trade whose copies have event times on two days (first arrival wins).

The copies come from the real Kalshi parsers: a live ``trade`` frame stamped to the second (``ts``)
and the REST history's ``created_time`` to the millisecond give one trade id two ``ts_event`` values;
around midnight, two event dates. Bronze is a real Iceberg table, silver is built by Dagster.
"""

import dataclasses
import datetime as dt
import json

import pyarrow as pa
from dagster import build_sensor_context, instance_for_test
from pyiceberg.expressions import EqualTo
from silver_fixtures import Arrival, arrival_stream, build_silver, land, on_the_bus

from contracts.records import Trade
from contracts.tables import BRONZE_TRADES, SILVER_TRADES
from orchestration.definitions import defs
from orchestration.defs.silver.sensors import silver_candles_on_bronze
from orchestration.defs.silver.trades import NEIGHBOUR_COLUMNS, STALE_DAYS_KEY, deduplicate_day
from streaming.venues import kalshi
from ticklake.lake import open_catalog
from ticklake.timeutil import NS_PER_SECOND, date_to_ns, ns_to_date

DAY = dt.date(2026, 11, 20)
NEXT = DAY + dt.timedelta(days=1)
MIDNIGHT = date_to_ns(NEXT)
MS = 1_000_000
TICKER = "KXBTCD-26NOV2117-T95999.99"
KALSHI_PARTITION = 5


def kalshi_copies(
    trade_id: str, ws_seconds: int, created_time: str, ws_recv: int, rest_recv: int
) -> tuple[Trade, Trade]:
    """The live copy (``ts``, whole seconds) and the REST repair copy (``created_time``) of one Kalshi trade."""
    frame = {
        "type": "trade",
        "sid": 1,
        "seq": 7,
        "msg": {
            "trade_id": trade_id,
            "market_ticker": TICKER,
            "yes_price_dollars": "0.4200",
            "no_price_dollars": "0.5800",
            "count_fp": "3.00",
            "taker_outcome_side": "yes",
            "ts": ws_seconds,
        },
    }
    [live] = kalshi.parse(json.dumps(frame), ws_recv).records
    rest_trade = {key: value for key, value in frame["msg"].items() if key not in ("market_ticker", "ts")}
    body = json.dumps({"trades": [{**rest_trade, "ticker": TICKER, "created_time": created_time}], "cursor": ""})
    [repaired], _ = kalshi.parse_rest_trades(body.encode(), rest_recv, kalshi.to_instrument(TICKER))
    assert isinstance(live, Trade) and live.trade_id == repaired.trade_id == trade_id
    assert ns_to_date(live.ts_event) != ns_to_date(repaired.ts_event)  # the copies straddle midnight
    return live, repaired


# X: Kalshi rounds the live stamp up to 00:00:00 (next day); the REST repair, 40 s later, says 23:59:59.700.
X_LIVE, X_REST = kalshi_copies(
    "0b9a4f5e-6c1d-4e2f-8a3b-5c6d7e8f9a0b",
    MIDNIGHT // NS_PER_SECOND,
    "2026-11-20T23:59:59.700Z",
    MIDNIGHT + 200 * MS,
    MIDNIGHT + 40 * NS_PER_SECOND,
)
# Y: the other way round: the live copy (first) on the day, the repair's time on the next day.
Y_LIVE, Y_REST = kalshi_copies(
    "a3c5e7f9-1b2d-4f60-8192-a3b4c5d6e7f8",
    MIDNIGHT // NS_PER_SECOND - 1,
    "2026-11-21T00:00:00.300Z",
    MIDNIGHT - 500 * MS,
    MIDNIGHT + 45 * NS_PER_SECOND,
)


def kalshi_arrivals(*trades: Trade, first_offset: int = 0) -> list[Arrival]:
    return [Arrival(trade, KALSHI_PARTITION, first_offset + index) for index, trade in enumerate(trades)]


def silver_days(catalog) -> list[dict]:
    table = catalog.load_table(SILVER_TRADES.identifier)
    rows = []
    for day in (DAY, NEXT):
        rows += table.scan(row_filter=EqualTo("event_date", day)).to_arrow().to_pylist()
    return rows


def first_arrivals(arrivals: list[Arrival]) -> dict[tuple[str, str, str], Arrival]:
    """Per identity, its first arrival (receive time, then Kafka position), computed here independently."""
    out: dict[tuple[str, str, str], Arrival] = {}
    for arrival in sorted(arrivals, key=lambda a: (a.trade.ts_recv, a.partition, a.offset)):
        out.setdefault((arrival.trade.venue, arrival.trade.symbol, arrival.trade.trade_id), arrival)
    return out


def assert_once_each(catalog, arrivals: list[Arrival]) -> list[dict]:
    rows = silver_days(catalog)
    expected = first_arrivals(arrivals)
    identities = [(r["venue"], r["symbol"], r["trade_id"]) for r in rows]
    assert len(identities) == len(set(identities)) == len(expected), "a trade is missing or kept twice"
    for row in rows:
        want = expected[(row["venue"], row["symbol"], row["trade_id"])]
        assert (row["ts_event"], row["ts_recv"], row["kafka_partition"], row["kafka_offset"]) == (
            want.trade.ts_event,
            want.trade.ts_recv,
            want.partition,
            want.offset,
        )
        assert row["event_date"] == ns_to_date(row["ts_event"])
    return rows


def kalshi_rows(rows: list[dict]) -> list[tuple[str, dt.date, int]]:
    """The Kalshi rows of silver (every copy kept, duplicates included), in order."""
    return sorted((r["trade_id"], r["event_date"], r["ts_event"]) for r in rows if r["venue"] == "kalshi")


def test_a_trade_whose_copies_straddle_midnight_is_kept_once_by_the_day_of_its_first_arrival(settings):
    catalog = open_catalog(settings)
    background = on_the_bus(arrival_stream(MIDNIGHT, 800, seed=21))  # binance trades on both days, some duplicated
    arrivals = [*background, *kalshi_arrivals(Y_LIVE, X_LIVE, X_REST, Y_REST)]
    land(catalog, arrivals)
    expected_kalshi = sorted(
        [
            (X_LIVE.trade_id, NEXT, X_LIVE.ts_event),  # first arrival: the live copy, next day
            (Y_LIVE.trade_id, DAY, Y_LIVE.ts_event),  # first arrival: the live copy, the day
        ]
    )
    outcomes = []
    for order in ((DAY, NEXT), (NEXT, DAY)):  # whichever day is built first
        with instance_for_test() as instance:
            results = {day: build_silver(instance, day) for day in order}
        rows = assert_once_each(catalog, arrivals)
        assert kalshi_rows(rows) == expected_kalshi
        outcomes.append(sorted((r["event_date"], r["venue"], r["trade_id"]) for r in rows))
        for day, result in results.items():
            metadata = result.asset_materializations_for_node("silver__trades")[0].metadata
            assert metadata["kept_by_another_day"].value == 1, day  # X's repair on DAY, Y's repair on NEXT
            assert metadata["stale_days"].value == ""
    assert outcomes[0] == outcomes[1]


def test_a_copy_landing_late_with_an_earlier_arrival_rebuilds_the_day_that_kept_the_other_copy(settings):
    catalog = open_catalog(settings)
    background = on_the_bus(arrival_stream(MIDNIGHT, 300, seed=5))
    land(catalog, [*background, *kalshi_arrivals(X_LIVE, first_offset=100)])  # X's live copy (next day) lands
    with instance_for_test() as instance:
        context = build_sensor_context(instance=instance, definitions=defs)
        first = silver_candles_on_bronze(context)
        assert sorted(r.partition_key for r in first.run_requests) == [DAY.isoformat(), NEXT.isoformat()]
        for day in (DAY, NEXT):
            build_silver(instance, day)
        assert kalshi_rows(silver_days(catalog)) == [(X_LIVE.trade_id, NEXT, X_LIVE.ts_event)]

        # a replay lands a copy on DAY that reached us *before* the one NEXT kept (a reprocessed capture)
        earlier = dataclasses.replace(X_REST, ts_recv=X_LIVE.ts_recv - 100 * MS)
        land(catalog, kalshi_arrivals(earlier, first_offset=50))
        second = silver_candles_on_bronze(
            build_sensor_context(instance=instance, cursor=first.cursor, definitions=defs)
        )
        assert [r.partition_key for r in second.run_requests] == [DAY.isoformat()]
        result = build_silver(instance, DAY)
        assert result.asset_materializations_for_node("silver__trades")[0].metadata["stale_days"].value == (
            NEXT.isoformat()
        )
        table = catalog.load_table(SILVER_TRADES.identifier)
        assert table.current_snapshot().summary[STALE_DAYS_KEY] == NEXT.isoformat()
        # both days hold it until NEXT is rebuilt, which the sensor asks for without bronze changing there
        assert kalshi_rows(silver_days(catalog)) == [
            (X_LIVE.trade_id, DAY, earlier.ts_event),
            (X_LIVE.trade_id, NEXT, X_LIVE.ts_event),
        ]
        third = silver_candles_on_bronze(
            build_sensor_context(instance=instance, cursor=second.cursor, definitions=defs)
        )
        assert [r.partition_key for r in third.run_requests] == [NEXT.isoformat()]
        build_silver(instance, NEXT)
        fourth = silver_candles_on_bronze(
            build_sensor_context(instance=instance, cursor=third.cursor, definitions=defs)
        )
        assert fourth.run_requests == []

    arrivals = [*background, *kalshi_arrivals(X_LIVE, first_offset=100), *kalshi_arrivals(earlier, first_offset=50)]
    assert kalshi_rows(assert_once_each(catalog, arrivals)) == [(X_LIVE.trade_id, DAY, earlier.ts_event)]


def copy_row(trade: Trade, partition: int, offset: int) -> dict:
    row = trade.to_record(trade.ts_recv + MS)
    return {**row, "event_date": ns_to_date(trade.ts_event), "kafka_partition": partition, "kafka_offset": offset}


def test_copies_with_the_same_arrival_are_kept_by_exactly_one_day():
    """A total order: when receive time and Kafka position are equal, the earlier event time wins."""
    schema = BRONZE_TRADES.schema().as_arrow()
    on_day = pa.Table.from_pylist([copy_row(X_REST, 1, 9)], schema=schema)  # 23:59:59.700, DAY
    on_next = pa.Table.from_pylist([copy_row(dataclasses.replace(X_LIVE, ts_recv=X_REST.ts_recv), 1, 9)], schema=schema)
    day = deduplicate_day(on_day, on_next.select(list(NEIGHBOUR_COLUMNS)))
    next_day = deduplicate_day(on_next, on_day.select(list(NEIGHBOUR_COLUMNS)))
    assert (day.trades.num_rows, day.kept_elsewhere) == (1, 0)
    assert (next_day.trades.num_rows, next_day.kept_elsewhere) == (0, 1)
    # no neighbour: each keeps its own
    assert deduplicate_day(on_next).trades.num_rows == 1
