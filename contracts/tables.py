"""The lake's tables: identifiers, schemas (derived from the contracts), partitioning and sort order."""

from __future__ import annotations

import dataclasses

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DateType, IntegerType, LongType, StringType

from contracts.schemas import RecordName, iceberg_schema

OFFSETS_PREFIX = "ticklake.offsets."
"""Snapshot-summary key prefix of the next Kafka offset per topic partition: ``<prefix><topic>.<p>``."""

CLUSTER_ID_KEY = "ticklake.kafka.cluster_id"
"""Snapshot-summary key of the Kafka cluster id the offsets refer to (a new embedded broker has a new id)."""

EVENT_DATES_KEY = "ticklake.event_dates"
"""Snapshot-summary key listing the UTC event dates (``YYYY-MM-DD,...``) a commit touched."""

_BUS_COLUMNS = (
    ("event_date", DateType(), True),
    ("kafka_partition", IntegerType(), True),
    ("kafka_offset", LongType(), True),
)


@dataclasses.dataclass(frozen=True)
class TableDef:
    """How one Iceberg table is laid out."""

    identifier: str
    record: RecordName
    extra: tuple[tuple[str, object, bool], ...]
    partition_by: tuple[str, ...]
    sort_by: tuple[str, ...]

    @property
    def namespace(self) -> str:
        """The table's namespace (layer)."""
        return self.identifier.split(".")[0]

    def schema(self) -> Schema:
        """The table schema, derived from the record's contract."""
        return iceberg_schema(self.record, self.extra)  # type: ignore[arg-type]

    def partition_spec(self) -> PartitionSpec:
        """Identity partitions on ``partition_by`` (day columns are already dates)."""
        schema = self.schema()
        return PartitionSpec(
            *(
                PartitionField(
                    source_id=schema.find_field(column).field_id,
                    field_id=1000 + index,
                    transform=IdentityTransform(),
                    name=column,
                )
                for index, column in enumerate(self.partition_by)
            )
        )

    def sort_order(self) -> SortOrder:
        """The table's sort order."""
        schema = self.schema()
        return SortOrder(
            *(SortField(source_id=schema.find_field(c).field_id, transform=IdentityTransform()) for c in self.sort_by)
        )


BRONZE_TRADES = TableDef("bronze.trades", "trade", _BUS_COLUMNS, ("event_date",), ("instrument", "ts_event"))
BRONZE_RAW = TableDef("bronze.raw_messages", "raw_message", _BUS_COLUMNS, ("event_date",), ("connection_id", "seq"))
BRONZE_DEAD_LETTERS = TableDef(
    "bronze.dead_letters", "dead_letter", _BUS_COLUMNS, ("event_date",), ("venue", "ts_recv")
)
BRONZE_BOOK = TableDef("bronze.book_updates", "book_update", _BUS_COLUMNS, ("event_date",), ("instrument", "ts_event"))
BRONZE_TICKERS = TableDef("bronze.tickers", "ticker", _BUS_COLUMNS, ("event_date",), ("instrument", "ts_event"))
BRONZE_LIFECYCLE = TableDef("bronze.lifecycle", "lifecycle", _BUS_COLUMNS, ("event_date",), ("instrument", "ts_event"))
BRONZE_GAPS = TableDef("bronze.gaps", "gap", _BUS_COLUMNS, ("event_date",), ("venue", "ts_recv"))
BRONZE_LIVE_CANDLES = TableDef(
    "bronze.live_candles", "candle", _BUS_COLUMNS, ("event_date",), ("venue", "instrument", "interval", "window_start")
)
"""Sealed candles of the live aggregator (topic ``candles``, header ``sealed``), for the live-vs-batch check."""
BRONZE_LATE_TRADE_EVENTS = TableDef(
    "bronze.late_trade_events",
    "trade",
    (("late_intervals", StringType(), False), *_BUS_COLUMNS),
    ("event_date",),
    ("instrument", "ts_event"),
)
"""Late trades as the live aggregator reported them (topic ``late_trades``), with the intervals they missed."""
SILVER_CANDLES = TableDef(
    "silver.candles",
    "candle",
    (("event_date", DateType(), True),),
    ("event_date",),
    ("venue", "instrument", "interval", "window_start"),
)
SILVER_TRADES = TableDef("silver.trades", "trade", _BUS_COLUMNS, ("event_date",), ("instrument", "ts_event"))
"""bronze.trades deduplicated on (venue, symbol, trade_id): the first arrival (ts_recv, Kafka position) wins."""
SILVER_LATE_TRADES = TableDef(
    "silver.late_trades",
    "trade",
    (
        ("interval", StringType(), True),
        ("window_start", LongType(), True),
        ("window_end", LongType(), True),
        ("watermark_at_arrival", LongType(), True),
        *_BUS_COLUMNS,
    ),
    ("event_date",),
    ("venue", "instrument", "interval", "window_start"),
)
"""One row per (trade, interval) the trade arrived too late for: its window was sealed on arrival."""

ALL_TABLES: tuple[TableDef, ...] = (
    BRONZE_RAW,
    BRONZE_TRADES,
    BRONZE_BOOK,
    BRONZE_TICKERS,
    BRONZE_LIFECYCLE,
    BRONZE_DEAD_LETTERS,
    BRONZE_GAPS,
    BRONZE_LIVE_CANDLES,
    BRONZE_LATE_TRADE_EVENTS,
    SILVER_CANDLES,
    SILVER_TRADES,
    SILVER_LATE_TRADES,
)

CANDLE_INTERVALS: dict[str, int] = {"1m": 60 * 1_000_000_000, "5m": 300 * 1_000_000_000, "1h": 3600 * 1_000_000_000}
"""The candle intervals the platform builds, with their length in nanoseconds."""
