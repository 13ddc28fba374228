"""Table maintenance on a real SQLite Iceberg catalog: compaction never loses or doubles a row and
keeps the sink's offsets readable; expiry keeps what the sink and time travel need."""

import datetime as dt
import threading
import time
from collections import Counter

import pyarrow as pa
from dagster import instance_for_test

from contracts.tables import BRONZE_TRADES, EVENT_DATES_KEY, OFFSETS_PREFIX
from orchestration.defs.maintenance.jobs import table_maintenance
from orchestration.defs.resources import LakeResource
from ticklake.lake import committed_history, committed_offsets, ensure_table, open_catalog, read_table
from ticklake.maintenance import (
    MAINTENANCE_KEY,
    compact_partition,
    expire_snapshots,
    partition_days,
    partition_files,
    row_count,
)
from ticklake.timeutil import NS_PER_SECOND, date_to_ns

DAY = dt.date(2026, 11, 20)
TOPIC = "ticklake.trades"


def rows_for(day, start, count):
    base = date_to_ns(day) + 3600 * NS_PER_SECOND
    return [
        {
            "venue": "binance",
            "instrument": "BTC-USDT",
            "symbol": "BTCUSDT",
            "trade_id": f"{day:%Y%m%d}{start + i:06d}",
            "price": pa.scalar(65000 + (start + i) % 7, pa.decimal128(38, 18)).as_py(),
            "size": pa.scalar(1, pa.decimal128(38, 18)).as_py(),
            "side": "buy",
            "ts_event": base + (start + i) * 1_000_000,
            "ts_recv": base,
            "ts_ingest": base,
            "event_date": day,
            "kafka_partition": 0,
            "kafka_offset": start + i,
        }
        for i in range(count)
    ]


def sink_like_append(catalog, rows, next_offset):
    """An append as the sink makes it: rows plus the next offset in the snapshot summary."""
    table = catalog.load_table("bronze.trades")
    table.append(
        pa.Table.from_pylist(rows, schema=table.schema().as_arrow()),
        snapshot_properties={f"{OFFSETS_PREFIX}{TOPIC}.0": str(next_offset), EVENT_DATES_KEY: DAY.isoformat()},
    )


def identities(catalog):
    table = catalog.load_table("bronze.trades")
    return Counter(table.scan(selected_fields=("trade_id",)).to_arrow().column("trade_id").to_pylist())


def test_compaction_rewrites_small_files_without_losing_or_doubling_rows(settings):
    catalog = open_catalog(settings)
    ensure_table(catalog, BRONZE_TRADES)
    other_day = DAY - dt.timedelta(days=1)
    for chunk in range(12):
        sink_like_append(catalog, rows_for(DAY, chunk * 25, 25), (chunk + 1) * 25)
    table = catalog.load_table("bronze.trades")
    table.append(pa.Table.from_pylist(rows_for(other_day, 0, 5), schema=table.schema().as_arrow()))
    before = identities(catalog)
    offsets = committed_offsets(catalog.load_table("bronze.trades"))
    assert len(partition_files(catalog.load_table("bronze.trades"), DAY)) == 12

    result = compact_partition(catalog, BRONZE_TRADES, DAY, min_files=4)

    table = catalog.load_table("bronze.trades")
    assert (result.files_before, result.files_after, result.rows) == (12, 1, 300)
    assert identities(catalog) == before and max(before.values()) == 1
    assert committed_offsets(table) == offsets == {(TOPIC, 0): 300}
    assert table.current_snapshot().summary[MAINTENANCE_KEY] == "compaction"
    assert not any(k.startswith(OFFSETS_PREFIX) for k in table.current_snapshot().summary.additional_properties)
    assert len(partition_files(table, other_day)) == 1, "another partition was touched"
    ts = table.scan(row_filter=f"event_date = '{DAY}'").to_arrow().column("ts_event").to_pylist()
    assert ts == sorted(ts), "the compacted file follows the table's sort order"
    assert partition_days(table) == [other_day, DAY]
    # nothing left to do: a second pass changes nothing
    assert compact_partition(catalog, BRONZE_TRADES, DAY, min_files=4).snapshot_id is None


def test_compaction_while_the_sink_keeps_appending(settings):
    catalog = open_catalog(settings)
    ensure_table(catalog, BRONZE_TRADES)
    for chunk in range(10):
        sink_like_append(catalog, rows_for(DAY, chunk * 10, 10), (chunk + 1) * 10)
    done = threading.Event()
    errors = []

    def sink():
        try:
            for chunk in range(10, 40):
                sink_like_append(catalog, rows_for(DAY, chunk * 10, 10), (chunk + 1) * 10)
                time.sleep(0.05)
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    writer = threading.Thread(target=sink)
    writer.start()
    compact_partition(catalog, BRONZE_TRADES, DAY, min_files=2)
    writer.join(120)
    assert done.is_set() and not errors, errors
    ids = identities(catalog)
    assert len(ids) == 400 and max(ids.values()) == 1
    assert committed_offsets(catalog.load_table("bronze.trades")) == {(TOPIC, 0): 400}


def test_expiry_keeps_the_current_and_the_sink_snapshot(settings):
    catalog = open_catalog(settings)
    ensure_table(catalog, BRONZE_TRADES)
    for chunk in range(6):
        sink_like_append(catalog, rows_for(DAY, chunk * 10, 10), (chunk + 1) * 10)
    compact_partition(catalog, BRONZE_TRADES, DAY, min_files=2)  # newest snapshot: no offsets
    table = catalog.load_table("bronze.trades")
    assert len(table.snapshots()) == 7

    now = dt.datetime.now(dt.UTC)
    assert expire_snapshots(catalog, BRONZE_TRADES, dt.timedelta(hours=1), now) == 0  # all recent
    expired = expire_snapshots(catalog, BRONZE_TRADES, dt.timedelta(0), now + dt.timedelta(seconds=1))
    table = catalog.load_table("bronze.trades")
    assert expired == 5 and len(table.snapshots()) == 2
    assert committed_offsets(table) == {(TOPIC, 0): 60}
    assert row_count(table) == 60 and len(identities(catalog)) == 60


def test_maintenance_job_runs_in_dagster(settings):
    catalog = open_catalog(settings)
    ensure_table(catalog, BRONZE_TRADES)
    for chunk in range(5):
        sink_like_append(catalog, rows_for(DAY, chunk * 10, 10), (chunk + 1) * 10)
    with instance_for_test() as instance:
        result = table_maintenance.execute_in_process(resources={"lake": LakeResource()}, instance=instance)
    assert result.success
    observations = [
        e.asset_observation_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    by_table = {o.asset_key.to_user_string(): o.metadata for o in observations}
    assert by_table["bronze/trades"]["files_before"].value == 5
    assert by_table["bronze/trades"]["files_after"].value == 1
    assert by_table["bronze/trades"]["rows"].value == 50
    assert {"bronze/raw_messages", "bronze/dead_letters", "silver/candles"} <= set(by_table)
    assert len(partition_files(catalog.load_table("bronze.trades"), DAY)) == 1


def test_expiry_keeps_the_snapshot_current_at_the_retention_start_for_time_travel(settings):
    catalog = open_catalog(settings)
    ensure_table(catalog, BRONZE_TRADES)
    for chunk in range(4):
        sink_like_append(catalog, rows_for(DAY, chunk * 10, 10), (chunk + 1) * 10)
    commits = committed_history(catalog.load_table("bronze.trades"))
    third, fourth = commits[2], commits[3]
    assert third.timestamp_ms < fourth.timestamp_ms - 1
    start = dt.datetime.fromtimestamp((fourth.timestamp_ms - 1) / 1000, tz=dt.UTC)  # the third was current then

    expired = expire_snapshots(catalog, BRONZE_TRADES, dt.timedelta(0), start)

    table = catalog.load_table("bronze.trades")
    assert expired == 2 and {s.snapshot_id for s in table.snapshots()} == {third.snapshot_id, fourth.snapshot_id}
    assert read_table(catalog, "bronze.trades", as_of=start).num_rows == 30  # as_of the retention start still reads
    assert read_table(catalog, "bronze.trades").num_rows == 40
