"""Silver build throughput: one day of >= 10M synthetic trades in bronze.trades, then silver.

The days before and after get as many trades (silver.trades compares a day's trades with the copies
its neighbours hold near midnight), and the next day holds copies of the day's last 1,000 trades
stamped at midnight that arrived first (as a venue rounding its live times to the second would make
them): the day's build must leave those to the next day.

Prints: how long writing the days took; the read time of the day (pyiceberg scan vs DuckDB over the
Iceberg data files' Parquet); trades/s of building silver.trades (with the cross-day comparison) + the
three candle intervals; the wall time of the one-day backfill through silver (trades, late trades,
candles and the live-vs-batch check, one Dagster run); the peak RSS of the process.

    .venv/bin/python bench/silver_build.py [--trades 10000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

DAY = dt.date(2026, 11, 20)
STRADDLING = 1_000
"""Trades of DAY whose first copy is on the next day (stamped at midnight)."""
INSTRUMENTS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
BASE_CENTS = (6_500_000, 300_000, 15_000)


def decimals(units: pa.Array, scale: int) -> pa.Array:
    """decimal(38, 18) values ``units / 10**scale``, exactly, without a Python loop.

    An int64 cast to decimal(38, 0) has the integer as its 128-bit storage; the same buffers read as
    decimal(38, scale) are ``units / 10**scale``; the cast to scale 18 is an exact rescale.
    """
    whole = pc.cast(units, pa.decimal128(38, 0))
    scaled = pa.Array.from_buffers(pa.decimal128(38, scale), len(whole), whole.buffers())
    return pc.cast(scaled, pa.decimal128(38, 18))


def uniform(count: int, low: int, high: int, seed: int) -> pa.Array:
    """``count`` random int64 in ``[low, high)``."""
    draws = pc.multiply(pc.random(count, initializer=seed), float(high - low))
    return pc.add(pc.cast(pc.floor(draws), pa.int64()), low)


def constant(value: object, type_: pa.DataType, count: int) -> pa.Array:
    """``count`` times ``value``."""
    return pc.fill_null(pa.nulls(count, type_), pa.scalar(value, type_))


def counting(count: int, start: int = 0) -> pa.Array:
    """``start, start + 1, ...`` (``count`` int64)."""
    return pc.add(pc.cumulative_sum(constant(1, pa.int64(), count)), start - 1)


def synthetic_day(count: int, seed: int = 1, day: dt.date = DAY) -> pa.Table:
    """``count`` bronze.trades rows of ``day`` for three instruments, 0.5% of them re-delivered duplicates.

    Per instrument: sorted uniform event times over the day, a bounded random walk of prices in cents,
    consecutive trade ids; receive time 1-50 ms after the event (so arrival reorders neighbours).
    """
    from contracts.tables import BRONZE_TRADES
    from ticklake.timeutil import NS_PER_DAY, date_to_ns

    unique = count - count // 200
    pieces = []
    for index, (instrument, base) in enumerate(zip(INSTRUMENTS, BASE_CENTS, strict=True)):
        n = unique // len(INSTRUMENTS) + (1 if index < unique % len(INSTRUMENTS) else 0)
        walk = pc.cumulative_sum(uniform(n, -30, 31, seed + 20 + index))
        pieces.append(
            pa.table(
                {
                    "instrument": constant(instrument, pa.string(), n),
                    "partition": constant(index, pa.int32(), n),
                    "trade_id": counting(n, 1_000_000_000 + (day - DAY).days * 100_000_000),  # no shared ids
                    "cents": pc.add(pc.abs(pc.subtract(pc.bit_wise_and(walk, 0xFFFF), 0x8000)), base),
                    "ts_event": pc.add(uniform(n, 0, NS_PER_DAY, seed + 10 + index).sort(), date_to_ns(day)),
                }
            )
        )
    merged = pa.concat_tables(pieces).sort_by("ts_event").combine_chunks()
    ts_recv = pc.add(merged["ts_event"].combine_chunks(), uniform(unique, 1_000_000, 50_000_000, seed + 30))
    again = uniform(count - unique, 0, unique, seed + 40)  # re-deliveries of random trades, a second later
    rows = merged.take(pa.concat_arrays([counting(unique), again])).combine_chunks()
    recv = pa.concat_arrays([ts_recv, pc.add(pc.take(ts_recv, again), 1_000_000_000)])
    instrument = rows["instrument"].combine_chunks()
    columns = {
        "venue": constant("binance", pa.string(), count),
        "instrument": instrument,
        "symbol": pc.replace_substring(instrument, "-", ""),
        "trade_id": pc.cast(rows["trade_id"], pa.string()),
        "price": decimals(rows["cents"].combine_chunks(), 2),
        "size": decimals(uniform(count, 1, 5_000_000, seed + 50), 5),
        "side": pc.if_else(pc.less(pc.random(count, initializer=seed + 60), 0.5), "buy", "sell"),
        "ts_event": rows["ts_event"],
        "ts_recv": recv,
        "ts_ingest": pc.add(recv, 2_000_000),
        "event_date": constant(day, pa.date32(), count),
        "kafka_partition": rows["partition"],
        "kafka_offset": counting(count),
    }
    schema = BRONZE_TRADES.schema().as_arrow()
    return pa.table([columns[name] for name in schema.names], schema=schema)


def straddling_copies(day_rows: pa.Table, count: int) -> pa.Table:
    """Copies of the last ``count`` first deliveries of DAY, stamped at the next midnight, arrived 1 ms earlier."""
    from ticklake.timeutil import date_to_ns

    first_deliveries = day_rows.filter(pc.less(day_rows["kafka_offset"], day_rows.num_rows - day_rows.num_rows // 200))
    last = first_deliveries.sort_by("ts_event").slice(first_deliveries.num_rows - count)
    midnight = date_to_ns(DAY + dt.timedelta(days=1))
    columns = {name: last[name] for name in last.schema.names}
    columns["ts_event"] = constant(midnight, pa.int64(), count)
    columns["ts_recv"] = pc.subtract(last["ts_recv"], 1_000_000)
    columns["event_date"] = constant(DAY + dt.timedelta(days=1), pa.date32(), count)
    columns["kafka_offset"] = counting(count, 10**12)
    return pa.table([columns[name] for name in last.schema.names], schema=last.schema)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--keep", type=Path, help="Keep the lake in this folder (default: a temporary one).")
    args = parser.parse_args()
    state = args.keep or Path(tempfile.mkdtemp(prefix="ticklake-bench-silver-"))
    os.environ["TICKLAKE_STATE_DIR"] = str(state)
    os.environ.setdefault("TICKLAKE_PARTITIONS_START", "2026-01-01")

    from dagster import DagsterInstance

    from contracts.tables import BRONZE_TRADES, CANDLE_INTERVALS, SILVER_TRADES
    from orchestration.defs.silver.backfill import backfill, resolve_assets
    from orchestration.defs.silver.candles import build_all_candles
    from orchestration.defs.silver.lakeio import read_day, read_day_edges, replace_day
    from orchestration.defs.silver.trades import (
        CROSS_DAY_SKEW_NS,
        NEIGHBOUR_COLUMNS,
        STALE_CHECK_COLUMNS,
        deduplicate_day,
        stale_neighbours,
    )
    from ticklake.lake import ensure_table, on_day, open_catalog
    from ticklake.settings import get_settings

    try:
        catalog = open_catalog(get_settings())
        made = written = 0.0
        n = 0
        for offset, day_of in ((0, DAY), (-1, DAY - dt.timedelta(days=1)), (1, DAY + dt.timedelta(days=1))):
            started = time.perf_counter()
            rows_of_day = synthetic_day(args.trades, seed=1 + 1000 * (offset % 3), day=day_of)
            if offset == 0:
                n = rows_of_day.num_rows
                straddling = straddling_copies(rows_of_day, STRADDLING)
            elif offset == 1:
                rows_of_day = pa.concat_tables([rows_of_day, straddling])
            made += time.perf_counter() - started
            started = time.perf_counter()
            ensure_table(catalog, BRONZE_TRADES).append(rows_of_day)
            written += time.perf_counter() - started
            del rows_of_day
        print(
            f"bronze.trades: {n:,} rows of {DAY} and as many on each neighbouring day generated in {made:.1f} s, "
            f"written in {written:.1f} s ({3 * n / written:,.0f} rows/s)"
        )
        del straddling

        bronze = catalog.load_table(BRONZE_TRADES.identifier)
        started = time.perf_counter()
        scanned = read_day(bronze, DAY)
        pyiceberg_read = time.perf_counter() - started
        del scanned
        tasks = bronze.scan(row_filter=on_day(DAY)).plan_files()
        files = [task.file.file_path.removeprefix("file://") for task in tasks]
        started = time.perf_counter()
        direct = duckdb.sql(f"SELECT * FROM read_parquet({files!r})").to_arrow_table()
        duckdb_read = time.perf_counter() - started
        del direct
        print(
            f"read the day: pyiceberg scan {pyiceberg_read:.1f} s, DuckDB over its {len(files)} Parquet files "
            f"{duckdb_read:.1f} s"
        )

        # silver.trades + the three candle intervals, the asset code path without Dagster
        started = time.perf_counter()
        rows = read_day(bronze, DAY)
        edges_started = time.perf_counter()
        neighbours = read_day_edges(bronze, DAY, CROSS_DAY_SKEW_NS, NEIGHBOUR_COLUMNS)
        edges_seconds = time.perf_counter() - edges_started
        result = deduplicate_day(rows, neighbours)
        unique = result.trades
        del rows, neighbours
        silver = ensure_table(catalog, SILVER_TRADES)
        stale = stale_neighbours(unique, read_day_edges(silver, DAY, CROSS_DAY_SKEW_NS, STALE_CHECK_COLUMNS))
        replace_day(catalog, SILVER_TRADES, unique, DAY, {})
        trades_seconds = time.perf_counter() - started
        assert result.kept_elsewhere == STRADDLING and not stale, (result.kept_elsewhere, stale)
        started = time.perf_counter()
        trades = read_day(catalog.load_table(SILVER_TRADES.identifier), DAY)
        candles = build_all_candles(trades, CANDLE_INTERVALS)
        candle_seconds = time.perf_counter() - started
        total = trades_seconds + candle_seconds
        print(
            f"silver.trades: {unique.num_rows:,} unique of {n:,} ({result.kept_elsewhere:,} left to the next day) "
            f"in {trades_seconds:.1f} s (read, dedup across days, write); the neighbours' edges read in "
            f"{edges_seconds:.2f} s"
        )
        print(
            f"candles 1m+5m+1h: {candles.num_rows:,} from {trades.num_rows:,} trades in {candle_seconds:.1f} s "
            "(read, build)"
        )
        print(f"silver.trades + candles: {n / total:,.0f} trades/s ({total:.1f} s)")
        del unique, trades, candles

        started = time.perf_counter()
        with DagsterInstance.ephemeral() as instance:
            [outcome] = backfill(instance, [DAY.isoformat()], resolve_assets(None))
        backfill_seconds = time.perf_counter() - started
        assert outcome.success, outcome.error
        assert outcome.metadata["silver/trades"]["kept_by_another_day"] == STRADDLING, outcome.metadata
        steps = {key: meta.get("seconds") for key, meta in outcome.metadata.items()}
        print(
            f"one-day backfill through silver (trades, late trades, candles, check; one Dagster run): "
            f"{backfill_seconds:.1f} s wall; per asset {steps}"
        )
        print(f"peak RSS: {peak_rss_gib():.1f} GiB")
    finally:
        if args.keep is None:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
