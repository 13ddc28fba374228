"""The batch candle computation: bronze trades in, OHLCV candles out (pure; DuckDB in memory).

Semantics (ARCHITECTURE.md §5): trades are deduplicated on (venue, symbol, trade_id); windows are by
event time; open and close are the first and last trade by event time, ties broken by trade id
(numeric ids in numeric order), never by arrival order. Prices and volumes stay exact decimals;
quote volume and VWAP are derived doubles.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from contracts.tables import CANDLE_INTERVALS, SILVER_CANDLES

_SQL = """
WITH deduplicated AS (
    SELECT *
    FROM trades
    QUALIFY row_number() OVER (PARTITION BY venue, symbol, trade_id ORDER BY ts_recv, kafka_offset) = 1
), windowed AS (
    SELECT
        *,
        (ts_event // $length) * $length AS window_start,
        struct_pack(t := ts_event, n := length(trade_id), id := trade_id) AS event_order
    FROM deduplicated
)
SELECT
    venue,
    instrument,
    $interval AS "interval",
    window_start,
    window_start + $length AS window_end,
    arg_min(price, event_order) AS "open",
    max(price) AS high,
    min(price) AS low,
    arg_max(price, event_order) AS "close",
    sum(size) AS volume,
    coalesce(sum(size) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
    coalesce(sum(size) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
    sum(price::DOUBLE * size::DOUBLE) AS quote_volume,
    sum(price::DOUBLE * size::DOUBLE) / sum(size)::DOUBLE AS vwap,
    count(*) AS trade_count,
    arg_min(trade_id, event_order) AS first_trade_id,
    arg_max(trade_id, event_order) AS last_trade_id,
    1::BIGINT AS revision,
    CAST(to_timestamp(window_start // 1000000000) AS DATE) AS event_date
FROM windowed
GROUP BY venue, instrument, window_start
ORDER BY venue, instrument, window_start
"""


def build_candles(trades: pa.Table, interval: str) -> pa.Table:
    """Aggregate bronze trades into candles of one interval.

    Args:
        trades: Rows of ``bronze.trades`` (any subset of days).
        interval: One of :data:`contracts.tables.CANDLE_INTERVALS`.

    Returns:
        Candles with the exact schema of ``silver.candles``.

    Raises:
        ValueError: Unknown interval.
    """
    if interval not in CANDLE_INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; known: {', '.join(CANDLE_INTERVALS)}")
    schema = SILVER_CANDLES.schema().as_arrow()
    if trades.num_rows == 0:
        return schema.empty_table()
    connection = duckdb.connect()
    try:
        connection.register("trades", trades)
        relation = connection.sql(_SQL, params={"length": CANDLE_INTERVALS[interval], "interval": interval})
        table = relation.to_arrow_table()
    finally:
        connection.close()
    return table.cast(schema)


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
