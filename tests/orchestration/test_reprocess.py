"""reprocess_bronze: raw frames re-parsed, bronze rebuilt for the range only, silver requested."""

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from dagster import DagsterInvalidConfigError, build_sensor_context, instance_for_test
from pyiceberg.expressions import EqualTo
from typer.testing import CliRunner

from contracts.tables import BRONZE_DEAD_LETTERS, BRONZE_RAW, BRONZE_TRADES, EVENT_DATES_KEY
from orchestration.definitions import defs
from orchestration.defs.bronze.reprocess import reprocess_bronze
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.sensors import silver_candles_on_bronze
from streaming.errors import ParseError
from streaming.venues.registry import PARSERS
from ticklake.cli import app
from ticklake.lake import ensure_table, open_catalog
from ticklake.timeutil import NS_PER_SECOND, date_to_ns, ns_to_date

DAY1, DAY2, OUTSIDE = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)
MS = 1_000_000
TRADE_COLUMNS = ("venue", "symbol", "trade_id", "price", "size", "side", "ts_event", "ts_recv", "ts_ingest")


def trade_frame(trade_id: int, ts_event: int, price: str, buyer_maker: bool) -> bytes:
    data = {
        "e": "trade",
        "E": ts_event // MS,
        "s": "BTCUSDT",
        "t": trade_id,
        "p": price,
        "q": "0.00062000",
        "T": ts_event // MS,
        "m": buyer_maker,
        "M": True,
    }
    return json.dumps({"stream": "btcusdt@trade", "data": data}).encode()


def frames() -> list[tuple[int, bytes]]:
    """(ts_recv, payload) of a binance connection over three days, in arrival order."""
    out = []
    for day in (DAY1, DAY2, OUTSIDE):
        for n in range(40):
            ts = date_to_ns(day) + (3600 + 97 * n) * NS_PER_SECOND
            out.append((ts + 5 * MS, trade_frame(len(out) + 1000, ts, f"{65000 + n}.{n:02d}", n % 3 == 0)))
    midnight = date_to_ns(DAY2)
    out.append((midnight + NS_PER_SECOND, trade_frame(5000, midnight - 100 * MS, "64999.99", False)))  # day-1 trade
    out.append((out[3][0] + 7 * MS, out[3][1]))  # the same trade re-sent: kept once
    out.append((date_to_ns(DAY1) + 7200 * NS_PER_SECOND, b'{"stream":"btcusdt@trade","data":{"e":'))  # malformed
    out.append((date_to_ns(DAY1) + 7300 * NS_PER_SECOND, b'{"result":null,"id":1}'))  # an ack
    return sorted(out, key=lambda item: item[0])


def raw_rows(items: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    return [
        {
            "venue": "binance",
            "channel": "btcusdt@trade",
            "connection_id": "conn-1",
            "seq": seq,
            "ts_recv": ts_recv,
            "ts_ingest": ts_recv + MS,
            "payload": payload,
            "event_date": ns_to_date(ts_recv),
            "kafka_partition": 0,
            "kafka_offset": seq,
        }
        for seq, (ts_recv, payload) in enumerate(items)
    ]


def parsed_trades(items: list[tuple[int, bytes]], days: set[dt.date]) -> set[tuple[Any, ...]]:
    """What the current parser makes of the frames: each identity once, on the given event dates."""
    found: dict[tuple[str, str], tuple[Any, ...]] = {}
    for ts_recv, payload in items:
        try:
            parsed = PARSERS["binance"](payload, ts_recv)
        except ParseError:
            continue
        for trade in parsed.records:
            if ns_to_date(trade.ts_event) in days:  # type: ignore[union-attr]
                row = (*(getattr(trade, c) for c in TRADE_COLUMNS[:-1]), ts_recv + MS)
                found.setdefault((trade.symbol, trade.trade_id), row)  # type: ignore[union-attr]
    return set(found.values())


def bronze_trade(venue: str, trade_id: str, ts_event: int, ts_recv: int, price: str) -> dict[str, Any]:
    return {
        "venue": venue,
        "instrument": "BTC-USDT" if venue == "binance" else "BTC-USD",
        "symbol": "BTCUSDT" if venue == "binance" else "XBT/USD",
        "trade_id": trade_id,
        "price": Decimal(price),
        "size": Decimal("1"),
        "side": "buy",
        "ts_event": ts_event,
        "ts_recv": ts_recv,
        "ts_ingest": ts_recv,
        "event_date": ns_to_date(ts_event),
        "kafka_partition": 0,
        "kafka_offset": 0,
    }


def append(catalog: Any, table_def: Any, rows: list[dict[str, Any]]) -> None:
    table = ensure_table(catalog, table_def)
    dates = sorted({row["event_date"].isoformat() for row in rows})
    data = pa.Table.from_pylist(rows, schema=table.schema().as_arrow())
    table.append(data, snapshot_properties={EVENT_DATES_KEY: ",".join(dates)})


def land_wrong_bronze(catalog: Any, items: list[tuple[int, bytes]]) -> dict[str, Any]:
    """Raw frames, and a bronze derived from them by a buggy parser, plus rows no frame explains."""
    append(catalog, BRONZE_RAW, raw_rows(items))
    wrong = []
    for ts_recv, payload in items:
        try:
            trade = PARSERS["binance"](payload, ts_recv).records[0]
        except (ParseError, IndexError):
            continue
        if int(trade.trade_id) % 5 == 0:  # type: ignore[union-attr]
            continue  # lost by the buggy parser
        wrong.append(bronze_trade("binance", trade.trade_id, trade.ts_event, ts_recv, "1.5"))  # type: ignore[union-attr]
    wrong.append(bronze_trade("binance", "999999", date_to_ns(DAY1) + 3600 * NS_PER_SECOND, items[0][0], "7"))
    extra = {
        "repair": bronze_trade("binance", "777", date_to_ns(DAY2) + 60 * NS_PER_SECOND, date_to_ns(DAY2) + 123, "42"),
        "kraken": bronze_trade("kraken", "k1", date_to_ns(DAY2) + 90 * NS_PER_SECOND, date_to_ns(DAY2) + 99, "43"),
    }
    append(catalog, BRONZE_TRADES, [*wrong, *extra.values()])
    # a decode failure of the sink, and a frame the buggy parser rejected (the current one accepts it)
    letters = [
        {
            "venue": "binance",
            "stage": stage,
            "error": error,
            "connection_id": None,
            "seq": None,
            "source": "ticklake.trades/0/1",
            "ts_recv": ts_recv,
            "ts_ingest": ts_recv,
            "payload": b"x",
            "event_date": ns_to_date(ts_recv),
            "kafka_partition": 0,
            "kafka_offset": 1,
        }
        for stage, error, ts_recv in (
            ("decode", "cannot decode", date_to_ns(DAY1) + 10 * NS_PER_SECOND),
            ("parse", "a wrong parse error", items[0][0]),
        )
    ]
    append(catalog, BRONZE_DEAD_LETTERS, letters)
    return extra


def trades_of(catalog: Any, day: dt.date, venue: str = "binance") -> set[tuple[Any, ...]]:
    rows = catalog.load_table("bronze.trades").scan(row_filter=EqualTo("event_date", day)).to_arrow().to_pylist()
    return {tuple(r[c] for c in TRADE_COLUMNS) for r in rows if r["venue"] == venue}


def run(instance: Any, **config: Any) -> Any:
    return reprocess_bronze.execute_in_process(
        run_config={"ops": {"reprocess_raw_frames": {"config": config}}},
        instance=instance,
        resources={"lake": LakeResource()},
    )


def row_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in TRADE_COLUMNS)


def test_reprocess_rebuilds_the_range_from_raw_frames_and_requests_silver(settings):
    catalog = open_catalog(settings)
    items = frames()
    extra = land_wrong_bronze(catalog, items)
    outside_before = trades_of(catalog, OUTSIDE)
    assert outside_before and trades_of(catalog, DAY1) != parsed_trades(items, {DAY1})  # bronze is wrong

    with instance_for_test() as instance:
        cursor = silver_candles_on_bronze(build_sensor_context(instance=instance, definitions=defs)).cursor
        result = run(instance, start_date=DAY1.isoformat(), end_date=DAY2.isoformat())
        assert result.success
        after = silver_candles_on_bronze(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))

    # the range now holds what the current parser makes of the frames (each trade once), plus the
    # trade no frame explains (a REST repair); the other venue and the other dates are untouched
    assert trades_of(catalog, DAY1) == parsed_trades(items, {DAY1})
    assert trades_of(catalog, DAY2) == parsed_trades(items, {DAY2}) | {row_tuple(extra["repair"])}
    assert any(t[2] == "5000" for t in trades_of(catalog, DAY1))  # received after midnight, traded before
    assert trades_of(catalog, DAY2, "kraken") == {row_tuple(extra["kraken"])}
    assert trades_of(catalog, OUTSIDE) == outside_before

    letters = catalog.load_table("bronze.dead_letters").scan().to_arrow().to_pylist()
    stages = sorted((r["stage"], r["error"][:11]) for r in letters)
    assert stages == [("decode", "cannot deco"), ("parse", "unparseable")]
    parse_letter = next(r for r in letters if r["stage"] == "parse")
    assert parse_letter["payload"] == items[[p for _, p in items].index(parse_letter["payload"])][1]
    assert parse_letter["connection_id"] == "conn-1" and parse_letter["event_date"] == DAY1

    # the rewritten bronze tables are reported, and the silver sensor asks for exactly the range
    materialized = {
        m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("reprocess_raw_frames")
    }
    assert (
        materialized["bronze/trades"]["rows_after"].value
        == len(trades_of(catalog, DAY1)) + len(trades_of(catalog, DAY2)) + 1
    )
    assert materialized["bronze/trades"]["kept_unframed"].value == 2  # the repair and the kraken trade
    assert sorted(r.partition_key for r in after.run_requests) == [DAY1.isoformat(), DAY2.isoformat()]


def test_reprocess_one_venue_without_keeping_unframed_rows(settings):
    catalog = open_catalog(settings)
    items = frames()
    extra = land_wrong_bronze(catalog, items)
    with instance_for_test() as instance:
        assert run(
            instance, start_date=DAY2.isoformat(), end_date=DAY2.isoformat(), venues=["binance"], keep_unframed=False
        ).success
    assert trades_of(catalog, DAY2) == parsed_trades(items, {DAY2})  # the repair row went with the rest
    assert trades_of(catalog, DAY2, "kraken") == {row_tuple(extra["kraken"])}  # another venue: untouched
    assert trades_of(catalog, DAY1) != parsed_trades(items, {DAY1})  # another date: untouched


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"start_date": "2026-11-21", "end_date": "2026-11-20"}, "end 2026-11-20 is before start 2026-11-21"),
        ({"start_date": "2026-11-21", "end_date": "2026-11-21", "venues": ["nyse"]}, "unknown venues ['nyse']"),
        ({"start_date": "21/11/2026", "end_date": "2026-11-21"}, "Invalid isoformat"),
    ],
)
def test_a_bad_request_fails_the_run_with_a_message(settings, config, message):
    with instance_for_test() as instance:
        result = reprocess_bronze.execute_in_process(
            run_config={"ops": {"reprocess_raw_frames": {"config": config}}},
            instance=instance,
            resources={"lake": LakeResource()},
            raise_on_error=False,
        )
    assert not result.success
    failure = result.failure_data_for_node("reprocess_raw_frames")
    assert failure is not None and message in failure.user_failure_data.description


def test_a_missing_date_is_a_config_error():
    with instance_for_test() as instance, pytest.raises(DagsterInvalidConfigError):
        reprocess_bronze.execute_in_process(
            run_config={"ops": {"reprocess_raw_frames": {"config": {"start_date": "2026-11-21"}}}},
            instance=instance,
            resources={"lake": LakeResource()},
        )


def test_cli_reprocess_then_builds_silver(settings, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    catalog = open_catalog(settings)
    items = frames()
    land_wrong_bronze(catalog, items)
    result = CliRunner().invoke(
        app, ["reprocess", "--from", DAY1.isoformat(), "--to", DAY2.isoformat(), "--silver"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert trades_of(catalog, DAY1) == parsed_trades(items, {DAY1})
    assert f"{len(items):,} frames parsed (1 rejected, 1 duplicate trades)" in result.stderr
    assert "bronze.trades" in result.stdout and "bronze.dead_letters" in result.stdout
    assert "2/2 partitions built" in result.stderr
    silver = catalog.load_table("silver.trades").scan(row_filter=EqualTo("event_date", DAY1)).to_arrow()
    assert {(r["trade_id"], r["price"]) for r in silver.to_pylist()} == {(t[2], t[3]) for t in trades_of(catalog, DAY1)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-21", "--to", "2026-11-20"], "end 2026-11-20 is before start 2026-11-21"),
        (["--from", "2026-11-21", "--to", "2026-11-21", "--venue", "nyse"], "unknown venues ['nyse']"),
        (["--from", "yesterday", "--to", "2026-11-21"], "--from 'yesterday' is not a date"),
        (["--from", "2020-01-01", "--to", "2020-01-01", "--silver"], "outside the daily partitions"),
    ],
)
def test_cli_reprocess_bad_input_exits_2(settings, args, message):
    result = CliRunner().invoke(app, ["reprocess", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
