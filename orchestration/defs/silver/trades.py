"""The batch silver trade computations (pure; DuckDB in memory): deduplication and late trades.

Semantics (ARCHITECTURE.md §5, and exactly those of the live aggregator, ``streaming/aggregator.py``):

* **Identity** is ``(venue, symbol, trade_id)``. The first *arrival* of an identity is kept; arrival
  order is :data:`ARRIVAL_ORDER`: ``ts_recv`` (our socket), then the Kafka position of the message.
* **Watermark** per stream ``(venue, instrument)``: the largest ``ts_event`` among the stream's earlier
  arrivals, minus the allowed lateness. A trade's ``watermark_at_arrival`` excludes the trade itself.
* **Late, per interval**: a trade is late for an interval when its window of that interval was
  already sealed when it arrived, i.e. ``window_end + grace[interval] <= watermark_at_arrival``. That is
  the live aggregator's test (``seal_at <= watermark``, checked before the trade moves the watermark).

Where batch and live differ on purpose: silver keeps the first arrival of an identity, so a trade
re-sent after its windows sealed (which the live aggregator reports as late again) is not late here.

**Across days.** Copies of one identity can carry different event times, so different event dates:
Kalshi's live ``trade`` frames without ``ts_ms`` carry whole seconds (``ts``) while its REST history
(gap repair) carries ``created_time`` to the millisecond; Polymarket's market channel sends
milliseconds and its Data API (repair) whole seconds; the same trade id then has two ``ts_event``
values, and around midnight (a venue that rounds to the second, or stamps the two feeds at different
moments) two event dates. Each day therefore also compares its first arrivals with the copies the
neighbouring days hold within :data:`CROSS_DAY_SKEW_NS` of the day's edges, and keeps an identity only
when its copy is the first arrival of all (:data:`CROSS_DAY_ORDER`): exactly one day keeps it, whichever
day is built first, since the decision reads bronze only.

Day boundaries: the watermark of a trade of day *D* is raised only by trades with a *larger* event
time that arrived before it. Earlier days' trades can never make a day-*D* trade late (their event
times are all before *D*, so below any window end of *D* plus its grace), but later days' trades can:
a 23:59:50 trade that arrives after a 00:00:20 trade of the next day misses its ``1m`` window. The
caller therefore passes, besides the day's trades, the *later-day arrivals* that reached us no later
than the day's last arrival (see :func:`late_trades`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import duckdb
import pyarrow as pa

from contracts.tables import CANDLE_INTERVALS, SILVER_LATE_TRADES, SILVER_TRADES

ARRIVAL_ORDER = "ts_recv, kafka_partition, kafka_offset"
"""The SQL ordering of arrivals: receive time, then the Kafka position (an instrument keeps one partition)."""

CROSS_DAY_ORDER = "row(ts_recv, kafka_partition, kafka_offset, ts_event)"
"""The arrival order between copies on different days (:data:`ARRIVAL_ORDER`, then the event time: total)."""

CROSS_DAY_SKEW_NS = 300 * 1_000_000_000
"""The most two copies of one trade may differ in event time (5 min; rounding to the second needs 1 s).

The neighbouring days are read only this close to the day's edges."""

NEIGHBOUR_COLUMNS = (
    "venue",
    "symbol",
    "trade_id",
    "ts_recv",
    "kafka_partition",
    "kafka_offset",
    "ts_event",
    "event_date",
)
"""What :func:`deduplicate_day` needs of the neighbouring days' copies."""

STALE_CHECK_COLUMNS = ("venue", "symbol", "trade_id", "event_date")
"""What :func:`stale_neighbours` needs of the neighbouring days' ``silver.trades``."""

STALE_DAYS_KEY = "ticklake.stale_days"
"""Snapshot-summary key of a ``silver.trades`` commit naming other days to rebuild (see :func:`stale_neighbours`)."""

_SUPERSEDED = f"""
CREATE TEMP TABLE superseded AS  -- identities another day keeps: its copy arrived first (few rows)
WITH own_first AS (  -- the day's first arrival of the identities the neighbouring days also hold
    SELECT venue, symbol, trade_id, min({CROSS_DAY_ORDER}) AS arrival
    FROM trades SEMI JOIN neighbours USING (venue, symbol, trade_id)
    GROUP BY venue, symbol, trade_id
), other_first AS (
    SELECT venue, symbol, trade_id, min({CROSS_DAY_ORDER}) AS arrival
    FROM neighbours SEMI JOIN own_first USING (venue, symbol, trade_id)
    GROUP BY venue, symbol, trade_id
)
SELECT venue, symbol, trade_id
FROM own_first JOIN other_first USING (venue, symbol, trade_id)
WHERE other_first.arrival < own_first.arrival
"""

_DEDUP = f"""
WITH repeated AS (  -- a hash aggregate: far cheaper than ranking every row when duplicates are rare
    SELECT venue, symbol, trade_id FROM trades GROUP BY venue, symbol, trade_id HAVING count(*) > 1
), kept AS (
    SELECT * FROM trades ANTI JOIN repeated USING (venue, symbol, trade_id)
    UNION ALL
    SELECT *
    FROM (SELECT t.* FROM trades AS t SEMI JOIN repeated USING (venue, symbol, trade_id))
    QUALIFY row_number() OVER (PARTITION BY venue, symbol, trade_id ORDER BY {ARRIVAL_ORDER}) = 1
)
SELECT * FROM kept ANTI JOIN superseded USING (venue, symbol, trade_id) ORDER BY instrument, ts_event
"""

_STALE_NEIGHBOURS = """
SELECT DISTINCT event_date FROM neighbour_silver SEMI JOIN kept USING (venue, symbol, trade_id) ORDER BY event_date
"""

_LATE = f"""
WITH arrivals AS (  -- narrow rows: the arrival order is a sort of the whole day
    SELECT venue, instrument, symbol, trade_id, ts_event, ts_recv, kafka_partition, kafka_offset, TRUE AS own
    FROM day_trades
    UNION ALL
    SELECT venue, instrument, NULL, trade_id, ts_event, ts_recv, kafka_partition, kafka_offset, FALSE
    FROM later_arrivals
), marked AS (
    SELECT
        *,
        max(ts_event) OVER (
            PARTITION BY venue, instrument
            ORDER BY {ARRIVAL_ORDER}, ts_event, trade_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) - $lateness AS watermark_at_arrival
    FROM arrivals
), late AS (
    SELECT
        m.venue, m.symbol, m.trade_id, m.watermark_at_arrival,
        i.position, i.name AS "interval",
        (m.ts_event // i.length) * i.length AS window_start,
        (m.ts_event // i.length) * i.length + i.length AS window_end
    FROM marked AS m
    JOIN intervals AS i
      ON m.watermark_at_arrival >= (m.ts_event // i.length) * i.length + i.length + i.grace
    WHERE m.own
)
SELECT
    d.venue, d.instrument, d.symbol, d.trade_id, d.price, d.size, d.side, d.ts_event, d.ts_recv, d.ts_ingest,
    l."interval", l.window_start, l.window_end, l.watermark_at_arrival,
    d.event_date, d.kafka_partition, d.kafka_offset
FROM late AS l
JOIN day_trades AS d USING (venue, symbol, trade_id)
ORDER BY d.venue, d.instrument, l.position, l.window_start, d.ts_event, d.trade_id
"""


def _neighbour_table(neighbours: pa.Table | None) -> pa.Table:
    if neighbours is None:
        return SILVER_TRADES.schema().as_arrow().empty_table().select(list(NEIGHBOUR_COLUMNS))
    return neighbours.select(list(NEIGHBOUR_COLUMNS))


@dataclasses.dataclass(frozen=True)
class Deduplicated:
    """A day's trades kept once, and how many of its identities another day keeps instead."""

    trades: pa.Table
    """The kept rows in the schema of ``silver.trades``, sorted by instrument and event time."""
    kept_elsewhere: int
    """Identities with a copy in this day whose first arrival is another day's copy (dropped here)."""


def deduplicate_day(trades: pa.Table, neighbours: pa.Table | None = None) -> Deduplicated:
    """Keep the first arrival of every trade identity ``(venue, symbol, trade_id)``, across days too.

    Args:
        trades: Rows of ``bronze.trades`` (one day, or any days deduplicated as one).
        neighbours: Copies held by *other* days (at least :data:`NEIGHBOUR_COLUMNS`: the bronze rows
            of the neighbouring days near the edges, see
            :func:`orchestration.defs.silver.lakeio.read_day_edges`). An identity whose first arrival
            among them precedes (:data:`CROSS_DAY_ORDER`) its first arrival in ``trades`` is dropped:
            that other day keeps it. ``None``: no other day holds a copy.

    Returns:
        The kept rows and the count of identities left to other days.
    """
    schema = SILVER_TRADES.schema().as_arrow()
    if trades.num_rows == 0:
        return Deduplicated(schema.empty_table(), 0)
    connection = duckdb.connect()
    try:
        connection.register("trades", trades)
        connection.register("neighbours", _neighbour_table(neighbours))
        connection.execute(_SUPERSEDED)
        superseded = connection.sql("SELECT count(*) FROM superseded").fetchall()[0][0]
        result = connection.sql(_DEDUP).to_arrow_table()
    finally:
        connection.close()
    return Deduplicated(result.select(schema.names).cast(schema), int(superseded))


def deduplicate(trades: pa.Table, neighbours: pa.Table | None = None) -> pa.Table:
    """The rows :func:`deduplicate_day` keeps (the first arrival of each identity, across days too)."""
    return deduplicate_day(trades, neighbours).trades


def stale_neighbours(kept: pa.Table, neighbour_silver: pa.Table) -> list[dt.date]:
    """The other days whose ``silver.trades`` still hold an identity that ``kept`` now keeps.

    Such a day was built before the copy that now wins reached bronze (a copy landing after a later
    arrival: reprocessing, a replay); building it again drops its copy.

    Args:
        kept: A day's deduplicated trades (:func:`deduplicate_day`).
        neighbour_silver: The neighbouring days' ``silver.trades`` rows near the edges (at least
            :data:`STALE_CHECK_COLUMNS`).

    Returns:
        Those days, in order (usually none).
    """
    if kept.num_rows == 0 or neighbour_silver.num_rows == 0:
        return []
    connection = duckdb.connect()
    try:
        connection.register("kept", kept.select(["venue", "symbol", "trade_id"]))
        connection.register("neighbour_silver", neighbour_silver.select(list(STALE_CHECK_COLUMNS)))
        rows = connection.sql(_STALE_NEIGHBOURS).fetchall()
    finally:
        connection.close()
    return [row[0] for row in rows]


def _intervals_table(grace: Mapping[str, int], intervals: Mapping[str, int]) -> pa.Table:
    missing = [name for name in intervals if name not in grace]
    if missing:
        raise ValueError(f"no grace for intervals {missing}")
    names = list(intervals)
    return pa.table(
        {
            "position": pa.array(range(len(names)), pa.int32()),
            "name": pa.array(names, pa.string()),
            "length": pa.array([intervals[name] for name in names], pa.int64()),
            "grace": pa.array([grace[name] for name in names], pa.int64()),
        }
    )


def late_trades(
    day_trades: pa.Table,
    later_arrivals: pa.Table,
    grace: Mapping[str, int],
    allowed_lateness: int,
    intervals: Mapping[str, int] = CANDLE_INTERVALS,
) -> pa.Table:
    """The trades of one day that arrived after their window of an interval was sealed.

    Args:
        day_trades: The day's deduplicated trades (``silver.trades`` rows of one ``event_date``).
        later_arrivals: Trades of *later* event dates that arrived no later than the day's last
            arrival (at least ``venue, instrument, trade_id, ts_event, ts_recv, kafka_partition,
            kafka_offset``); they only raise watermarks. Duplicates among them are harmless.
        grace: Interval name → grace (ns) after the window end before it is sealed.
        allowed_lateness: Subtracted from the largest event time seen to form the watermark (ns).
        intervals: Interval name → window length (ns).

    Returns:
        One row per ``(trade, interval)`` it was late for, in the schema of ``silver.late_trades``.

    Raises:
        ValueError: An interval has no grace, or the lateness is negative.
    """
    if allowed_lateness < 0:
        raise ValueError(f"negative allowed lateness {allowed_lateness}")
    interval_table = _intervals_table(grace, intervals)
    schema = SILVER_LATE_TRADES.schema().as_arrow()
    if day_trades.num_rows == 0:
        return schema.empty_table()
    tail_columns = ("venue", "instrument", "trade_id", "ts_event", "ts_recv", "kafka_partition", "kafka_offset")
    connection = duckdb.connect()
    try:
        connection.register("day_trades", day_trades)
        connection.register("later_arrivals", later_arrivals.select(list(tail_columns)))
        connection.register("intervals", interval_table)
        result = connection.sql(_LATE, params={"lateness": allowed_lateness}).to_arrow_table()
    finally:
        connection.close()
    return result.select(schema.names).cast(schema)
