"""Bronze tables as Dagster assets.

They are written by the stream sink, not by asset runs: each sink commit is reported as a
materialization (rows, offsets, snapshot id).
"""

from __future__ import annotations

from dagster import AssetSpec

from contracts.tables import (
    BRONZE_BOOK,
    BRONZE_DEAD_LETTERS,
    BRONZE_GAPS,
    BRONZE_LATE_TRADE_EVENTS,
    BRONZE_LIFECYCLE,
    BRONZE_LIVE_CANDLES,
    BRONZE_RAW,
    BRONZE_TICKERS,
    BRONZE_TRADES,
)
from orchestration.defs.streams.jobs import bronze_key

BRONZE_ASSETS = [
    AssetSpec(
        key=bronze_key(table.identifier),
        description=description,
        group_name="bronze",
        kinds={"iceberg"},
        metadata={"table": table.identifier, "writer": "stream_bronze_sink"},
    )
    for table, description in (
        (BRONZE_RAW, "Every venue frame as received: the source of truth for reprocessing."),
        (BRONZE_TRADES, "Normalized trades, exactly once per Kafka message."),
        (BRONZE_BOOK, "Order-book snapshots and deltas with the venues' sequences and checksums."),
        (BRONZE_TICKERS, "Top of book and market statistics (funding rate, mark/index price, open interest)."),
        (BRONZE_LIFECYCLE, "Market lifecycle events: created, opened, closed, determined, settled..."),
        (BRONZE_GAPS, "Sequence numbers venue streams skipped, to be repaired from the venues' REST history."),
        (BRONZE_DEAD_LETTERS, "Frames and messages that could not be processed, with the raw bytes."),
        (BRONZE_LIVE_CANDLES, "Sealed candles of the live aggregator, for the live-vs-batch agreement check."),
        (BRONZE_LATE_TRADE_EVENTS, "Late trades as the live aggregator reported them, with the intervals missed."),
    )
]
