"""Snapshot expiry of silver keeps time travel working for the whole retention (real Iceberg catalog)."""

import datetime as dt

import pyarrow as pa

from contracts.tables import SILVER_TRADES
from orchestration.defs.maintenance.expiry import expire_table
from orchestration.defs.silver.lakeio import replace_day
from ticklake.lake import committed_history, open_catalog, read_table, snapshot_current_at
from ticklake.timeutil import NS_PER_SECOND, date_to_ns

DAY = dt.date(2026, 11, 20)


def version(n: int) -> pa.Table:
    """``n`` trades of DAY (a version of the partition is recognisable by its row count)."""
    base = date_to_ns(DAY) + 3600 * NS_PER_SECOND
    rows = [
        {
            "venue": "binance",
            "instrument": "BTC-USDT",
            "symbol": "BTCUSDT",
            "trade_id": str(i),
            "price": pa.scalar(65000, pa.decimal128(38, 18)).as_py(),
            "size": pa.scalar(1, pa.decimal128(38, 18)).as_py(),
            "side": "buy",
            "ts_event": base + i,
            "ts_recv": base + i,
            "ts_ingest": base + i,
            "event_date": DAY,
            "kafka_partition": 0,
            "kafka_offset": i,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=SILVER_TRADES.schema().as_arrow())


def test_expiry_keeps_the_snapshot_current_at_the_retention_start(settings):
    catalog = open_catalog(settings)
    for n in (10, 20, 30, 40):  # four rebuilds of the day (each an overwrite: two snapshots)
        replace_day(catalog, SILVER_TRADES, version(n), DAY, {})
    table = catalog.load_table(SILVER_TRADES.identifier)
    commits = committed_history(table)
    assert len(commits) == 4 and len(table.snapshots()) == 7
    third, fourth = commits[2], commits[3]
    assert third.timestamp_ms < fourth.timestamp_ms - 1
    cutoff = dt.datetime.fromtimestamp((fourth.timestamp_ms - 1) / 1000, tz=dt.UTC)  # while the third was current
    assert snapshot_current_at(table, fourth.timestamp_ms - 1) == third.snapshot_id

    expiry = expire_table(catalog, SILVER_TRADES.identifier, cutoff)

    table = catalog.load_table(SILVER_TRADES.identifier)
    left = {s.snapshot_id for s in table.snapshots()}
    assert left == {third.snapshot_id, fourth.snapshot_id}
    assert (expiry.expired, expiry.kept, expiry.pinned) == (5, 2, 1)
    # time travel to any moment of the retention still answers: at its start, the third version
    assert read_table(catalog, SILVER_TRADES.identifier, as_of=cutoff).num_rows == 30
    assert read_table(catalog, SILVER_TRADES.identifier).num_rows == 40
    # nothing older than the retention is left to expire
    assert expire_table(catalog, SILVER_TRADES.identifier, cutoff).expired == 0
