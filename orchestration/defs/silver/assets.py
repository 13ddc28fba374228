"""Silver assets per UTC day, rebuilt from bronze (idempotent, backfillable).

``silver/trades`` deduplicates ``bronze.trades`` once; ``silver/late_trades`` and ``silver/candles``
(1m, 5m, 1h) are built from it. Each run replaces one ``event_date`` partition atomically.
"""

import datetime as dt
import time

import pyarrow.compute as pc
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from pyiceberg.expressions import And, GreaterThan, LessThanOrEqual, Reference
from pyiceberg.expressions.literals import literal

from contracts.tables import BRONZE_TRADES, CANDLE_INTERVALS, SILVER_CANDLES, SILVER_LATE_TRADES, SILVER_TRADES
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.candles import assign_revisions, build_all_candles
from orchestration.defs.silver.lakeio import read_day, read_day_edges, read_rows, replace_day
from orchestration.defs.silver.partitions import daily_partitions
from orchestration.defs.silver.trades import (
    CROSS_DAY_SKEW_NS,
    NEIGHBOUR_COLUMNS,
    STALE_CHECK_COLUMNS,
    STALE_DAYS_KEY,
    deduplicate_day,
    late_trades,
    stale_neighbours,
)
from ticklake.lake import ensure_table
from ticklake.settings import Settings
from ticklake.timeutil import ns_to_date

BRONZE_TRADES_KEY = AssetKey(["bronze", "trades"])
TRADES_KEY = AssetKey(["silver", "trades"])
LATE_TRADES_KEY = AssetKey(["silver", "late_trades"])
CANDLES_KEY = AssetKey(["silver", "candles"])
SILVER_KEYS = (TRADES_KEY, LATE_TRADES_KEY, CANDLES_KEY)
"""The daily-partitioned silver assets, in build order."""

_ARRIVAL_COLUMNS = ("venue", "instrument", "trade_id", "ts_event", "ts_recv", "kafka_partition", "kafka_offset")


def _snapshot_id(snapshot: object) -> str:
    return str(getattr(snapshot, "snapshot_id", "") or "")


def grace_ns(settings: Settings) -> dict[str, int]:
    """Per built interval, the grace (ns) after a window's end before it is sealed (as the live aggregator).

    Raises:
        ValueError: The settings give no grace for a built interval.
    """
    missing = [name for name in CANDLE_INTERVALS if name not in settings.candle_grace_seconds]
    if missing:
        raise ValueError(f"TICKLAKE_CANDLE_GRACE_SECONDS has no grace for {missing}")
    return {name: int(settings.candle_grace_seconds[name] * 1e9) for name in CANDLE_INTERVALS}


def lateness_ns(settings: Settings) -> int:
    """The allowed lateness (ns) subtracted from the largest event time seen to form the watermark."""
    return int(settings.candle_allowed_lateness_seconds * 1e9)


@asset(
    key=TRADES_KEY,
    partitions_def=daily_partitions(),
    deps=[BRONZE_TRADES_KEY],
    group_name="silver",
    kinds={"iceberg", "duckdb"},
    description=(
        "bronze.trades deduplicated on (venue, symbol, trade_id): the first arrival of each trade, across days too."
    ),
)
def silver_trades(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult[None]:
    """Rebuild one day of deduplicated trades from bronze and replace that day's partition atomically.

    An identity with copies on two days is kept by the day of its first arrival only
    (:mod:`orchestration.defs.silver.trades`); neighbouring days whose silver still holds a trade this
    day now keeps are named in the commit (:data:`STALE_DAYS_KEY`) for the silver sensor to rebuild.
    """
    day = dt.date.fromisoformat(context.partition_key)
    catalog = lake.catalog()
    bronze = ensure_table(catalog, BRONZE_TRADES)
    bronze_snapshot = bronze.current_snapshot()
    started = time.monotonic()
    rows = read_day(bronze, day)
    neighbours = read_day_edges(bronze, day, CROSS_DAY_SKEW_NS, NEIGHBOUR_COLUMNS)
    context.log.info(
        f"{day}: read {rows.num_rows:,} bronze trades and {neighbours.num_rows:,} of the neighbouring days' edges "
        f"in {time.monotonic() - started:.2f} s"
    )
    result = deduplicate_day(rows, neighbours)
    unique = result.trades
    bronze_rows = rows.num_rows
    del rows, neighbours  # a big day is large: only one copy while writing
    context.log.info(
        f"{day}: {unique.num_rows:,} unique trades ({bronze_rows - unique.num_rows:,} duplicates dropped, "
        f"{result.kept_elsewhere:,} of them kept by a neighbouring day) in {time.monotonic() - started:.2f} s"
    )
    silver = ensure_table(catalog, SILVER_TRADES)
    stale = stale_neighbours(unique, read_day_edges(silver, day, CROSS_DAY_SKEW_NS, STALE_CHECK_COLUMNS))
    if stale:
        context.log.warning(
            f"{day}: silver.trades of {[d.isoformat() for d in stale]} still hold trades whose first arrival is on "
            f"{day}; they are marked for a rebuild"
        )
    properties = {"ticklake.partition": day.isoformat(), "ticklake.bronze_snapshot": _snapshot_id(bronze_snapshot)}
    if stale:
        properties[STALE_DAYS_KEY] = ",".join(d.isoformat() for d in stale)
    snapshot = replace_day(catalog, SILVER_TRADES, unique, day, properties)
    context.log.info(f"{day}: silver.trades written in {time.monotonic() - started:.2f} s")
    return MaterializeResult(
        metadata={
            "bronze_rows": MetadataValue.int(bronze_rows),
            "trades": MetadataValue.int(unique.num_rows),
            "duplicates": MetadataValue.int(bronze_rows - unique.num_rows),
            "kept_by_another_day": MetadataValue.int(result.kept_elsewhere),
            "stale_days": MetadataValue.text(",".join(d.isoformat() for d in stale)),
            "snapshot_id": MetadataValue.text(_snapshot_id(snapshot)),
            "bronze_snapshot_id": MetadataValue.text(_snapshot_id(bronze_snapshot)),
            "seconds": MetadataValue.float(round(time.monotonic() - started, 3)),
        }
    )


@asset(
    key=LATE_TRADES_KEY,
    partitions_def=daily_partitions(),
    deps=[TRADES_KEY, BRONZE_TRADES_KEY],
    group_name="silver",
    kinds={"iceberg", "duckdb"},
    description=(
        "Trades that arrived after their window of an interval was sealed (watermark past window end + grace), "
        "one row per trade and interval, with the watermark at arrival: the live aggregator's late trades."
    ),
)
def silver_late_trades(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult[None]:
    """Recompute one day's late trades in arrival order and replace that day's partition atomically.

    The day's trades come from ``silver.trades``; the later-day trades that arrived no later than the
    day's last arrival come from ``bronze.trades`` (they can raise the day's watermarks).
    """
    day = dt.date.fromisoformat(context.partition_key)
    settings = lake.settings()
    catalog = lake.catalog()
    started = time.monotonic()
    day_trades = read_day(ensure_table(catalog, SILVER_TRADES), day)
    bronze = ensure_table(catalog, BRONZE_TRADES)
    if day_trades.num_rows:
        last_arrival = pc.max(day_trades["ts_recv"]).as_py()
        # a trade received by then happened at most a day after (venue clocks are not a day ahead of ours):
        # only those partitions are planned, and their files are pruned on ts_recv
        newest = ns_to_date(last_arrival) + dt.timedelta(days=1)
        later = read_rows(
            bronze,
            And(
                And(
                    GreaterThan(term=Reference("event_date"), value=literal(day.isoformat())),
                    LessThanOrEqual(term=Reference("event_date"), value=literal(newest.isoformat())),
                ),
                LessThanOrEqual(term=Reference("ts_recv"), value=literal(last_arrival)),
            ),
            _ARRIVAL_COLUMNS,
        )
    else:
        later = bronze.schema().as_arrow().empty_table().select(list(_ARRIVAL_COLUMNS))
    context.log.info(
        f"{day}: {day_trades.num_rows:,} trades and {later.num_rows:,} later-day arrivals read "
        f"in {time.monotonic() - started:.2f} s"
    )
    late = late_trades(day_trades, later, grace_ns(settings), lateness_ns(settings))
    snapshot = replace_day(catalog, SILVER_LATE_TRADES, late, day, {"ticklake.partition": day.isoformat()})
    per_interval = {name: 0 for name in CANDLE_INTERVALS}
    for name in late.column("interval").to_pylist():
        per_interval[name] += 1
    unique = len(set(zip(late.column("venue").to_pylist(), late.column("trade_id").to_pylist(), strict=True)))
    context.log.info(f"{day}: {unique} late trades ({per_interval}) in {time.monotonic() - started:.2f} s")
    return MaterializeResult(
        metadata={
            "trades": MetadataValue.int(day_trades.num_rows),
            "late_trades": MetadataValue.int(unique),
            "late_rows": MetadataValue.int(late.num_rows),
            **{f"late_{name}": MetadataValue.int(count) for name, count in per_interval.items()},
            "later_day_arrivals": MetadataValue.int(later.num_rows),
            "snapshot_id": MetadataValue.text(_snapshot_id(snapshot)),
            "seconds": MetadataValue.float(round(time.monotonic() - started, 3)),
        }
    )


@asset(
    key=CANDLES_KEY,
    partitions_def=daily_partitions(),
    deps=[TRADES_KEY],
    group_name="silver",
    kinds={"iceberg", "duckdb"},
    description=(
        "OHLCV candles (1m, 5m, 1h) by event time from silver.trades: OHLC, volume, quote volume, VWAP, "
        "trade count, buy/sell volume, revision."
    ),
)
def silver_candles(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult[None]:
    """Rebuild one day of candles from silver trades and replace that day's partition atomically."""
    day = dt.date.fromisoformat(context.partition_key)
    catalog = lake.catalog()
    trades_table = ensure_table(catalog, SILVER_TRADES)
    candles_table = ensure_table(catalog, SILVER_CANDLES)
    trades_snapshot = trades_table.current_snapshot()

    started = time.monotonic()
    trades = read_day(trades_table, day)
    context.log.info(f"{day}: read {trades.num_rows:,} silver trades in {time.monotonic() - started:.2f} s")
    candles = build_all_candles(trades, CANDLE_INTERVALS, deduplicate=False)
    previous = read_day(candles_table, day)
    built = assign_revisions(candles, previous)
    revised = (pc.sum(pc.greater(built.column("revision"), 1)).as_py() or 0) if built.num_rows else 0
    context.log.info(f"{day}: built {built.num_rows} candles ({revised} revised) in {time.monotonic() - started:.2f} s")
    snapshot = replace_day(
        catalog,
        SILVER_CANDLES,
        built,
        day,
        {"ticklake.partition": day.isoformat(), "ticklake.silver_trades_snapshot": _snapshot_id(trades_snapshot)},
    )
    instruments = sorted(set(built.column("instrument").to_pylist())) if built.num_rows else []
    return MaterializeResult(
        metadata={
            "trades": MetadataValue.int(trades.num_rows),
            "candles": MetadataValue.int(built.num_rows),
            "revised_candles": MetadataValue.int(revised),
            "instruments": MetadataValue.text(", ".join(instruments)),
            "snapshot_id": MetadataValue.text(_snapshot_id(snapshot)),
            "silver_trades_snapshot_id": MetadataValue.text(_snapshot_id(trades_snapshot)),
            "seconds": MetadataValue.float(round(time.monotonic() - started, 3)),
        }
    )


SILVER_ASSETS = [silver_trades, silver_late_trades, silver_candles]
"""The silver assets, in build order."""
