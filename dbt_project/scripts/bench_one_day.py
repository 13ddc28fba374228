"""Time the one-day build of the marts: silver data of one UTC day -> dbt build -> gold Iceberg tables.

Usage (from the repository root)::

    .venv/bin/python dbt_project/scripts/bench_one_day.py --instruments 6 --trades-per-instrument 500000

Seeds a fresh lake in a temporary folder with synthetic silver trades (and their silver candles,
built by the silver candle code) for one day, then materializes the marts' partition of that day
twice through Dagster (a first build, then a rebuild of the same window, the incremental path) and
prints the wall time of each phase.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from dagster import DagsterInstance, materialize

from contracts.tables import CANDLE_INTERVALS, SILVER_CANDLES, SILVER_TRADES
from orchestration.defs.marts.assets import dbt_resource, marts_assets
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.candles import build_candles
from ticklake.lake import ensure_table, open_catalog
from ticklake.settings import load_settings
from ticklake.timeutil import date_to_ns

DAY = dt.date(2026, 11, 20)

_TRADES = """
SELECT
    'binance' AS venue,
    'X' || s || '-USDT' AS instrument,
    'X' || s || 'USDT' AS symbol,
    CAST(i AS VARCHAR) AS trade_id,
    round(100.0 * (s + 1) * (1 + 0.02 * sin(i / 5000.0) + 0.001 * random()), 2)::DECIMAL(38, 18) AS price,
    round(0.0001 + random() * 3, 5)::DECIMAL(38, 18) AS size,
    CASE WHEN random() < 0.5 THEN 'buy' ELSE 'sell' END AS side,
    $midnight + i * (86400000000000 // $count) + (random() * 1000000)::BIGINT AS ts_event,
    $midnight + i * (86400000000000 // $count) + 2000000 AS ts_recv,
    $midnight + i * (86400000000000 // $count) + 3000000 AS ts_ingest,
    $day::DATE AS event_date,
    0::INTEGER AS kafka_partition,
    i AS kafka_offset
FROM range($instruments) AS a(s), range($count) AS b(i)
"""


def seed(state_dir: Path, instruments: int, per_instrument: int) -> int:
    """Write one day of silver trades and candles; the number of trades."""
    catalog = open_catalog(load_settings(state_dir=state_dir))
    params = {"midnight": date_to_ns(DAY), "count": per_instrument, "instruments": instruments, "day": DAY}
    connection = duckdb.connect()
    try:
        trades = connection.sql(_TRADES, params=params).to_arrow_table()
    finally:
        connection.close()
    table = ensure_table(catalog, SILVER_TRADES)
    target = table.schema().as_arrow()
    table.append(trades.select(target.names).cast(target))
    candles_table = ensure_table(catalog, SILVER_CANDLES)
    candles = pa.concat_tables([build_candles(trades, i) for i in CANDLE_INTERVALS])
    candles_target = candles_table.schema().as_arrow()
    candles_table.append(candles.select(candles_target.names).cast(candles_target))
    return int(trades.num_rows)


def build(state_dir: Path, instance: DagsterInstance) -> dict[str, float]:
    """Materialize the marts' partition of DAY; the phases' wall times (and the total)."""
    started = time.monotonic()
    result = materialize(
        [marts_assets()],
        partition_key=DAY.isoformat(),
        resources={"lake": LakeResource(state_dir=str(state_dir)), "dbt": dbt_resource()},
        instance=instance,
    )
    total = time.monotonic() - started
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "build_seconds" in metadata:
            phases: dict[str, float] = dict(metadata["build_seconds"].value)  # type: ignore[arg-type]
            return {**phases, "total": total}
    raise RuntimeError("no published mart in the result")


def main() -> None:
    """Seed, build twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instruments", type=int, default=6)
    parser.add_argument("--trades-per-instrument", type=int, default=500_000)
    args = parser.parse_args()
    marts_assets()  # the manifest is prepared before timing
    with tempfile.TemporaryDirectory() as folder:
        state_dir = Path(folder) / "state"
        started = time.monotonic()
        count = seed(state_dir, args.instruments, args.trades_per_instrument)
        print(f"seeded {count:,} trades ({args.instruments} instruments) in {time.monotonic() - started:.1f} s")
        with DagsterInstance.ephemeral() as instance:
            for label in ("first build", "rebuild"):
                phases = build(state_dir, instance)
                print(f"{label}: " + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in phases.items()))


if __name__ == "__main__":
    main()
