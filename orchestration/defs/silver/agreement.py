"""Live vs batch candles: how many sealed live candles the batch build disagrees with (pure; DuckDB).

A sealed live candle (``bronze.live_candles``) and the batch candle of the same window
(``silver.candles``) are compared on every exact value: open, high, low, close, volume, buy and sell
volume, trade count, first and last trade id (quote volume and VWAP are derived doubles summed in
different orders: not compared). A live candle without a batch candle differs too.

Differences are expected where trades arrived after the window was sealed: the live candle misses them,
the batch includes them (and its revision goes up). For those windows (listed in ``silver.late_trades``)
the live candle is also compared with the candle of the window's *on-time* trades (the trades minus
the ones late for that interval): equal means the difference is explained by the late trades; any
other difference is unexplained.
"""

from __future__ import annotations

import dataclasses

import duckdb
import pyarrow as pa

from contracts.tables import CANDLE_INTERVALS, SILVER_CANDLES
from orchestration.defs.silver.candles import build_candles

_VALUES = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "trade_count",
    "first_trade_id",
    "last_trade_id",
)
_KEY = ("venue", "instrument", "interval", "window_start")

_ON_TIME = """
SELECT t.*
FROM trades AS t
SEMI JOIN (SELECT venue, instrument, window_start FROM late WHERE "interval" = $interval) AS w
  ON t.venue = w.venue AND t.instrument = w.instrument AND (t.ts_event // $length) * $length = w.window_start
ANTI JOIN (SELECT venue, symbol, trade_id FROM late WHERE "interval" = $interval) AS l
  ON t.venue = l.venue AND t.symbol = l.symbol AND t.trade_id = l.trade_id
"""

_LIVE = ", ".join(f"l.{c}" for c in _VALUES)
_COMPARE = f"""
WITH live_latest AS (
    SELECT *
    FROM live
    QUALIFY row_number() OVER (PARTITION BY {", ".join(_KEY)} ORDER BY kafka_partition DESC, kafka_offset DESC) = 1
)
SELECT
    l.venue, l.instrument, l."interval", l.window_start,
    b.venue IS NULL OR ({_LIVE}) IS DISTINCT FROM ({", ".join(f"b.{c}" for c in _VALUES)}) AS differs,
    o.venue IS NOT NULL AND ({_LIVE}) IS NOT DISTINCT FROM ({", ".join(f"o.{c}" for c in _VALUES)}) AS on_time_equal
FROM live_latest AS l
LEFT JOIN batch AS b USING (venue, instrument, "interval", window_start)
LEFT JOIN on_time AS o USING (venue, instrument, "interval", window_start)
ORDER BY l."interval", l.venue, l.instrument, l.window_start
"""


@dataclasses.dataclass(frozen=True)
class Agreement:
    """How the sealed live candles of a partition compare with the batch candles.

    Attributes:
        compared: Live candles compared (one per window; a window sealed twice counts once, the last).
        differing: Live candles the batch candle differs from (or that have no batch candle).
        explained: Differing candles equal to their window's on-time candle: the late trades explain them.
        by_interval: Per interval, the differing candles.
        unexplained_sample: Up to 10 ``venue instrument interval window_start`` of unexplained differences.
    """

    compared: int
    differing: int
    explained: int
    by_interval: dict[str, int]
    unexplained_sample: tuple[str, ...]

    @property
    def unexplained(self) -> int:
        """Differing candles no late trade explains."""
        return self.differing - self.explained

    @property
    def differing_fraction(self) -> float:
        """``differing / compared`` (0 when nothing was compared)."""
        return self.differing / self.compared if self.compared else 0.0

    @property
    def unexplained_fraction(self) -> float:
        """``unexplained / compared`` (0 when nothing was compared)."""
        return self.unexplained / self.compared if self.compared else 0.0


def on_time_candles(trades: pa.Table, late: pa.Table) -> pa.Table:
    """The candles of the windows that had late trades, built from their on-time trades only.

    Args:
        trades: ``silver.trades`` rows of the partition.
        late: ``silver.late_trades`` rows of the partition.

    Returns:
        Candles in the schema of ``silver.candles`` (what the live aggregator sealed for those windows).
    """
    pieces = [SILVER_CANDLES.schema().as_arrow().empty_table()]
    if trades.num_rows == 0 or late.num_rows == 0:
        return pieces[0]
    connection = duckdb.connect()
    try:
        connection.register("trades", trades)
        columns = ["venue", "instrument", "symbol", "trade_id", "interval", "window_start"]
        connection.register("late", late.select(columns))
        for interval, length in CANDLE_INTERVALS.items():
            kept = connection.sql(_ON_TIME, params={"interval": interval, "length": length}).to_arrow_table()
            pieces.append(build_candles(kept, interval, deduplicate=False))
    finally:
        connection.close()
    return pa.concat_tables(pieces)


def compare_live_with_batch(live: pa.Table, batch: pa.Table, on_time: pa.Table) -> Agreement:
    """Compare sealed live candles with batch candles.

    Args:
        live: ``bronze.live_candles`` rows (candle columns plus ``kafka_partition``, ``kafka_offset``).
        batch: ``silver.candles`` rows of the same partition.
        on_time: :func:`on_time_candles` of the same partition.

    Returns:
        The counts.
    """
    if live.num_rows == 0:
        return Agreement(0, 0, 0, {}, ())
    connection = duckdb.connect()
    try:
        connection.register("live", live)
        connection.register("batch", batch)
        connection.register("on_time", on_time)
        rows = connection.sql(_COMPARE).fetchall()
    finally:
        connection.close()
    differing = [row for row in rows if row[4]]
    by_interval: dict[str, int] = {}
    for row in differing:
        by_interval[row[2]] = by_interval.get(row[2], 0) + 1
    unexplained = [f"{row[0]} {row[1]} {row[2]} {row[3]}" for row in differing if not row[5]]
    return Agreement(
        compared=len(rows),
        differing=len(differing),
        explained=len(differing) - len(unexplained),
        by_interval=by_interval,
        unexplained_sample=tuple(unexplained[:10]),
    )
