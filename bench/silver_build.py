"""Silver build throughput: one day of >= 10M synthetic trades in bronze.trades, then silver.

The days before and after get as many trades (silver.trades compares a day's trades with the copies
its neighbours hold near midnight), and the next day holds copies of the day's last 1,000 trades
stamped at midnight that arrived first (as a venue rounding its live times to the second would make
them): the day's build must leave those to the next day.

Prints: how long writing the days took; the read time of the day (pyiceberg scan vs DuckDB over the
Iceberg data files' Parquet); trades/s of building silver.trades (with the cross-day comparison) + the
three candle intervals; the wall time of the one-day backfill through silver (trades, late trades,
candles and the live-vs-batch check, one Dagster run); then that of the day's marts (``marts_job`` of the
code location, one Dagster run on the same instance: the dbt build through dagster-dbt with the real dbt,
then the publication to ``gold.*``), once the ``marts_after_silver`` automation, evaluated on that
instance, requested exactly that day of every mart; the gold daily summary is checked to hold the day
(every instrument, every silver trade); the wall time through silver and the marts together; the peak
RSS of the process (dbt runs in a process of its own, not counted). The dbt manifest is prepared
before the timing (the code location is loaded then, as in the daemon). dbt's log goes to stderr.

    .venv/bin/python bench/silver_build.py [--trades 10000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import resource
import shutil
import sys
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

    from dagster import DagsterInstance, evaluate_automation_conditions

    from contracts.tables import BRONZE_TRADES, CANDLE_INTERVALS, SILVER_TRADES
    from orchestration.definitions import defs  # loads the code location: the dbt manifest is prepared here
    from orchestration.defs.marts.sensors import MARTS_SELECTION
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
        relation = duckdb.sql(f"SELECT * FROM read_parquet({files!r})")
        assert relation is not None  # a SELECT always gives a relation
        direct = relation.to_arrow_table()
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

        silver_rows = unique.num_rows
        del unique, trades, candles

        marts_job = defs.resolve_job_def("marts_job")
        marts_keys = MARTS_SELECTION.resolve(defs.resolve_asset_graph())
        with DagsterInstance.ephemeral() as instance:
            # the sensor's first tick: what happened before it is history, nothing is requested
            tick = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=MARTS_SELECTION)
            assert tick.total_requested == 0, tick.total_requested

            started = time.perf_counter()
            [outcome] = backfill(instance, [DAY.isoformat()], resolve_assets(None))
            backfill_seconds = time.perf_counter() - started
            assert outcome.success, outcome.error
            assert outcome.metadata["silver/trades"]["kept_by_another_day"] == STRADDLING, outcome.metadata
            steps = {key: meta.get("seconds") for key, meta in outcome.metadata.items()}
            print(
                f"one-day backfill through silver (trades, late trades, candles, check; one Dagster run): "
                f"{backfill_seconds:.1f} s wall; per asset {steps}"
            )

            # what marts_after_silver requests now: every mart, that day only (the run marts_job makes)
            tick = evaluate_automation_conditions(
                defs=defs, instance=instance, asset_selection=MARTS_SELECTION, cursor=tick.cursor
            )
            requested = {key: set(tick.get_requested_partitions(key)) for key in marts_keys}
            assert requested == {key: {DAY.isoformat()} for key in marts_keys}, requested

            started = time.perf_counter()
            with contextlib.redirect_stdout(sys.stderr):  # dbt's log (dagster-dbt echoes it) beside Dagster's
                marts = marts_job.execute_in_process(
                    instance=instance, partition_key=DAY.isoformat(), raise_on_error=False
                )
            marts_seconds = time.perf_counter() - started
        assert marts.success, [str(e.step_failure_data.error) for e in marts.all_events if e.is_step_failure]
        built = {event.asset_key for event in marts.get_asset_materialization_events()}
        assert built == marts_keys, sorted(key.to_user_string() for key in marts_keys - built)
        checks = [evaluation.passed for evaluation in marts.get_asset_check_evaluations()]
        phases: dict[str, float] = {}
        for event in marts.get_asset_materialization_events():
            build_seconds = event.materialization.metadata.get("build_seconds")
            if build_seconds is not None:
                phases = dict(build_seconds.value)  # type: ignore[arg-type]
        summary = catalog.load_table("gold.daily_market_summary").scan(row_filter=on_day(DAY)).to_arrow()
        instruments = sorted(zip(summary["venue"].to_pylist(), summary["instrument"].to_pylist(), strict=True))
        assert instruments == [("binance", instrument) for instrument in INSTRUMENTS], instruments
        gold_trades = pc.sum(summary["trade_count"]).as_py()
        assert gold_trades == silver_rows, (gold_trades, silver_rows)
        print(
            f"one-day marts (marts_job, one Dagster run: dbt build of {len(marts_keys)} models, "
            f"{sum(checks)}/{len(checks)} dbt tests passed, gold publication): {marts_seconds:.1f} s wall; "
            + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in phases.items())
            + f"; gold.daily_market_summary of {DAY}: {len(instruments)} instruments, {gold_trades:,} trades"
        )
        print(
            f"one-day backfill through silver and the marts: {backfill_seconds + marts_seconds:.1f} s "
            f"(silver {backfill_seconds:.1f} s, marts {marts_seconds:.1f} s)"
        )
        print(f"peak RSS: {peak_rss_gib():.1f} GiB (this process; dbt's own process not counted)")
    finally:
        if args.keep is None:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
