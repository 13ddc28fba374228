"""The batch candle computation: trades in, OHLCV candles out (pure; DuckDB in memory).

Semantics (ARCHITECTURE.md §5): trades are deduplicated on (venue, symbol, trade_id) (once, in
``silver.trades``; :func:`build_candles` can do it for raw bronze rows); windows are by event time;
open and close are the first and last trade by event time, ties broken by trade id (numeric ids in
numeric order), never by arrival order. Prices and volumes stay exact decimals;
quote volume and VWAP are derived doubles.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa

from contracts.tables import CANDLE_INTERVALS, SILVER_CANDLES
from orchestration.defs.silver.trades import ARRIVAL_ORDER

_DEDUPLICATED = f"""
SELECT *
FROM trades
QUALIFY row_number() OVER (PARTITION BY venue, symbol, trade_id ORDER BY {ARRIVAL_ORDER}) = 1
"""

_BASE = """
CREATE OR REPLACE TEMP TABLE base AS
SELECT
    venue,
    instrument,
    (ts_event // $length) * $length AS window_start,
    arg_min(price, event_order) AS "open",
    min(event_order) AS first_order,
    max(price) AS high,
    min(price) AS low,
    arg_max(price, event_order) AS "close",
    max(event_order) AS last_order,
    sum(size) AS volume,
    coalesce(sum(size) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
    coalesce(sum(size) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
    sum(price::DOUBLE * size::DOUBLE) AS quote_volume,
    count(*) AS trade_count
FROM (SELECT *, struct_pack(t := ts_event, n := length(trade_id), id := trade_id) AS event_order FROM {source})
GROUP BY venue, instrument, window_start
"""
"""Candles of the finest interval, with the event-order keys of their first and last trade: the coarser
intervals roll up from them (the trades are aggregated once; the decimal-to-double casts, the costly part,
happen once per trade)."""

_ROLL_UP = """
SELECT
    venue,
    instrument,
    $interval AS "interval",
    (window_start // $length) * $length AS start,
    start + $length AS window_end,
    arg_min("open", first_order) AS "open",
    max(high) AS high,
    min(low) AS low,
    arg_max("close", last_order) AS "close",
    sum(volume) AS volume,
    sum(buy_volume) AS buy_volume,
    sum(sell_volume) AS sell_volume,
    sum(quote_volume) AS quote_volume,
    sum(quote_volume) / sum(volume)::DOUBLE AS vwap,
    sum(trade_count)::BIGINT AS trade_count,
    min(first_order).id AS first_trade_id,
    max(last_order).id AS last_trade_id,
    1::BIGINT AS revision,
    CAST(to_timestamp(start // 1000000000) AS DATE) AS event_date
FROM base
GROUP BY venue, instrument, start
ORDER BY venue, instrument, start
"""


def build_candles(trades: pa.Table, interval: str, *, deduplicate: bool = True) -> pa.Table:
    """Aggregate trades into candles of one interval.

    Args:
        trades: Rows of ``bronze.trades`` or ``silver.trades`` (any subset of days).
        interval: One of :data:`contracts.tables.CANDLE_INTERVALS`.
        deduplicate: Drop repeated identities first (keep the first arrival); ``False`` when the
            rows are already deduplicated (``silver.trades``).

    Returns:
        Candles with the exact schema of ``silver.candles``.

    Raises:
        ValueError: Unknown interval.
    """
    return build_all_candles(trades, (interval,), deduplicate=deduplicate)


def build_all_candles(
    trades: pa.Table, intervals: Iterable[str] = tuple(CANDLE_INTERVALS), *, deduplicate: bool = False
) -> pa.Table:
    """Aggregate trades into candles of several intervals, in one DuckDB session.

    Args:
        trades: Rows of ``silver.trades`` (or of ``bronze.trades`` with ``deduplicate``).
        intervals: Names from :data:`contracts.tables.CANDLE_INTERVALS`.
        deduplicate: Drop repeated identities first (keep the first arrival).

    Returns:
        The candles of every interval, in the schema of ``silver.candles``, by interval then window.

    Raises:
        ValueError: Unknown interval.
    """
    names = list(intervals)
    unknown = [name for name in names if name not in CANDLE_INTERVALS]
    if unknown:
        raise ValueError(f"unknown interval {unknown[0]!r}; known: {', '.join(CANDLE_INTERVALS)}")
    schema = SILVER_CANDLES.schema().as_arrow()
    if trades.num_rows == 0 or not names:
        return schema.empty_table()
    source = f"({_DEDUPLICATED})" if deduplicate else "trades"
    lengths = {name: CANDLE_INTERVALS[name] for name in names}
    finest = min(lengths.values())
    connection = duckdb.connect()
    try:
        connection.register("trades", trades)
        pieces = []
        base = None
        for name, length in lengths.items():
            wanted = finest if length % finest == 0 else length  # roll up from the finest where it divides
            if base != wanted:
                connection.execute(_BASE.format(source=source), {"length": wanted})
                base = wanted
            piece = connection.sql(_ROLL_UP, params={"length": length, "interval": name}).to_arrow_table()
            pieces.append(piece.rename_columns([c if c != "start" else "window_start" for c in piece.column_names]))
    finally:
        connection.close()
    return pa.concat_tables([piece.cast(schema) for piece in pieces])


_REVISIONS = """
SELECT
    b.* EXCLUDE (revision),
    CASE
        WHEN e.venue IS NULL THEN 1
        WHEN (b.open, b.high, b.low, b.close, b.volume, b.buy_volume, b.sell_volume, b.trade_count,
              b.first_trade_id, b.last_trade_id)
             IS NOT DISTINCT FROM
             (e.open, e.high, e.low, e.close, e.volume, e.buy_volume, e.sell_volume, e.trade_count,
              e.first_trade_id, e.last_trade_id)
        THEN coalesce(e.revision, 1)
        ELSE coalesce(e.revision, 1) + 1
    END AS revision
FROM built AS b
LEFT JOIN previous AS e USING (venue, instrument, "interval", window_start)
ORDER BY venue, instrument, "interval", window_start
"""


def assign_revisions(built: pa.Table, previous: pa.Table) -> pa.Table:
    """Number each candle's revision against the previous build of the same partition.

    A window built for the first time is revision 1; one whose values a recompute changed (late
    trades, repaired gaps, reprocessing) goes up by one; an unchanged one keeps its revision. A
    previous candle without a revision (written before revisions existed) counts as revision 1.

    Args:
        built: Candles just built (revision 1 everywhere).
        previous: The partition's candles as stored before this build (any columns order).

    Returns:
        ``built`` with its revisions set, in the same schema.
    """
    if previous.num_rows == 0 or built.num_rows == 0:
        return built
    connection = duckdb.connect()
    try:
        connection.register("built", built)
        connection.register("previous", previous)
        result = connection.sql(_REVISIONS).to_arrow_table()
    finally:
        connection.close()
    return result.select(built.column_names).cast(built.schema)
