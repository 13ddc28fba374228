"""The bronze sink: the single writer of the bronze tables, exactly once.

One process consumes the ``raw``, ``trades`` and ``dlq`` topics with explicit partition assignment
(no consumer group), cuts batches by size and by time, and appends each batch to its Iceberg table.
Every commit carries, in its snapshot summary, the next offset of every partition of the table's
topic (``ticklake.offsets.<topic>.<partition>``), written in the same atomic commit as the rows.
On start the sink seeks to those offsets, so a crash at any point neither loses nor repeats a row.

Messages that cannot be decoded become dead letters (stage ``decode``) in the same cycle, before the
commit that moves past them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pyarrow.compute as pc
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from contracts.avro_reader import record_reader
from contracts.records import DeadLetter
from contracts.schemas import ContractError, RecordName, encode
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
    CLUSTER_ID_KEY,
    EVENT_DATES_KEY,
    OFFSETS_PREFIX,
    TableDef,
)
from streaming.aggregator import CANDLE_STATE_HEADER, LATE_INTERVALS_HEADER
from streaming.bronze_arrow import columns_to_table
from streaming.bus import cluster_id, ensure_topics, make_consumer, partitions_of
from streaming.errors import BrokerError
from ticklake.lake import ensure_table, sink_summary, snapshot_offsets
from ticklake.settings import Settings
from ticklake.timeutil import now_ns

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 5
PROBE_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class CommitReport:
    """What one Iceberg commit of the sink wrote."""

    table: str
    snapshot_id: int
    rows: int
    offsets: dict[str, int]
    event_dates: tuple[str, ...]
    seconds: float


@dataclasses.dataclass(frozen=True)
class Route:
    """A topic and the bronze table it lands in."""

    kind: str
    record: RecordName
    table: TableDef
    time_column: str
    only_if: tuple[str, bytes] | None = None
    """``(header, value)``: land only the messages with this header value; the others are skipped."""
    header_columns: tuple[tuple[str, str], ...] = ()
    """``(header, column)`` pairs: the header's UTF-8 value is stored in the column (null when absent)."""


def _header(message: Message, name: str) -> bytes | None:
    """The value of a message header (consumed headers are a list of ``(key, bytes)``)."""
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    for key, value in pairs:
        if key == name:
            return value.encode() if isinstance(value, str) else value
    return None


ROUTES = (
    Route("dlq", "dead_letter", BRONZE_DEAD_LETTERS, "ts_recv"),
    Route("raw", "raw_message", BRONZE_RAW, "ts_recv"),
    Route("trades", "trade", BRONZE_TRADES, "ts_event"),
    Route("book", "book_update", BRONZE_BOOK, "ts_event"),
    Route("ticker", "ticker", BRONZE_TICKERS, "ts_event"),
    Route("lifecycle", "lifecycle", BRONZE_LIFECYCLE, "ts_event"),
    Route("gaps", "gap", BRONZE_GAPS, "ts_recv"),
    Route("candles", "candle", BRONZE_LIVE_CANDLES, "window_start", only_if=(CANDLE_STATE_HEADER, b"sealed")),
    Route(
        "late_trades",
        "trade",
        BRONZE_LATE_TRADE_EVENTS,
        "ts_event",
        header_columns=((LATE_INTERVALS_HEADER, "late_intervals"),),
    ),
)
"""In commit order: dead letters first, so a decode reject lands before the offsets move past it."""


class _Batch:
    """Rows and next offsets accumulated for one table since its last commit.

    Rows are held as columns: the record's fields as :meth:`~contracts.avro_reader.RecordReader.into`
    appends them, then the Kafka partition and offset and the route's header columns, which the sink
    appends itself.
    """

    def __init__(self, route: Route, topic: str, positions: dict[int, int]) -> None:
        self.route = route
        self.topic = topic
        self.positions = positions  # partition -> next offset, for every assigned partition
        reader = record_reader(route.record)
        names = (*reader.fields, "kafka_partition", "kafka_offset", *(column for _, column in route.header_columns))
        self.columns: dict[str, list[Any]] = {name: [] for name in names}
        self.read_into = reader.into(self.columns)
        self.partitions = self.columns["kafka_partition"].append
        self.offsets = self.columns["kafka_offset"].append
        self.headers = tuple((header, self.columns[column].append) for header, column in route.header_columns)
        self.dirty = False

    @property
    def rows(self) -> int:
        """Rows held since the last commit."""
        return len(self.columns["kafka_offset"])

    def land(self, partition: int, offset: int) -> None:
        """Append the sink's own columns of the record just read."""
        self.partitions(partition)
        self.offsets(offset)

    def advance(self, partition: int, offset: int) -> None:
        self.positions[partition] = offset + 1
        self.dirty = True


class BronzeSink:
    """Consume the bus and commit bronze tables exactly once.

    Args:
        settings: Platform settings (bus, batch sizes).
        catalog: The Iceberg catalog holding the bronze tables.
        on_commit: Called after each successful commit (e.g. to report a Dagster materialization).
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        on_commit: Callable[[CommitReport], None] | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.on_commit = on_commit
        self.tables: dict[str, Table] = {}
        self.batches: dict[str, _Batch] = {}
        self.cluster = ""
        self.committed_rows = 0
        self.commits = 0

    # --- start-up ------------------------------------------------------------------------------
    def _offset_exists(self, consumer: Consumer, topic: str, partition: int, offset: int) -> bool:
        """Whether the broker still holds the message at ``offset`` (a bounded probe read)."""
        consumer.assign([TopicPartition(topic, partition, offset)])
        try:
            deadline = time.monotonic() + PROBE_SECONDS
            while time.monotonic() < deadline:
                for message in consumer.consume(num_messages=1, timeout=0.2):
                    if message.error() is None:
                        return message.offset() == offset
            return False
        finally:
            consumer.unassign()

    def _start_positions(self, consumer: Consumer, topic: str, table: Table, cluster: str) -> dict[int, int]:
        """Where to resume each partition: the offsets committed with the data, validated against the log."""
        summary = sink_summary(table)
        stored = snapshot_offsets(summary)
        stored_cluster = summary.get(CLUSTER_ID_KEY)
        positions: dict[int, int] = {}
        for partition in partitions_of(self.settings, topic):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=15)
            start = stored.get((topic, partition))
            if start is None:
                start = low
            elif stored_cluster is not None and stored_cluster != cluster:
                log.warning(
                    "%s[%d]: the stored offsets refer to Kafka cluster %s, the broker is %s: a new broker log "
                    "(the embedded broker keeps its log in memory); consuming it from the earliest offset %d",
                    topic,
                    partition,
                    stored_cluster,
                    cluster,
                    low,
                )
                start = low
            elif start > high and not self._offset_exists(consumer, topic, partition, start - 1):
                # some brokers under-report the end of the log; the probe tells truth from a reset
                log.warning(
                    "%s[%d]: stored next offset %d is past the broker's end %d: the broker log was reset; "
                    "consuming from the earliest offset %d",
                    topic,
                    partition,
                    start,
                    high,
                    low,
                )
                start = low
            elif start < low:
                log.error(
                    "%s[%d]: stored next offset %d is before the earliest retained offset %d: messages "
                    "%d..%d were deleted by retention before they reached bronze",
                    topic,
                    partition,
                    start,
                    low,
                    start,
                    low - 1,
                )
                start = low
            positions[partition] = start
        return positions

    def _assign(self, consumer: Consumer) -> None:
        ensure_topics(self.settings)
        self.cluster = cluster_id(self.settings)
        assignments: list[TopicPartition] = []
        for route in ROUTES:
            topic = self.settings.topic(route.kind)
            table = ensure_table(self.catalog, route.table)
            self.tables[topic] = table
            positions = self._start_positions(consumer, topic, table, self.cluster)
            self.batches[topic] = _Batch(route, topic, positions)
            assignments.extend(
                TopicPartition(topic, partition, offset if offset >= 0 else OFFSET_BEGINNING)
                for partition, offset in positions.items()
            )
            log.info("sink: %s -> %s from offsets %s", topic, route.table.identifier, positions)
        consumer.assign(assignments)

    # --- the loop ------------------------------------------------------------------------------
    def _handle(self, message: Message) -> None:
        topic = message.topic()
        partition = message.partition()
        offset = message.offset()
        assert topic is not None and partition is not None and offset is not None
        batch = self.batches[topic]
        value = message.value() or b""
        only_if = batch.route.only_if
        if only_if is not None and _header(message, only_if[0]) != only_if[1]:
            batch.advance(partition, offset)  # e.g. a forming candle: not landed
            return
        try:
            batch.read_into(value)
        except ContractError as error:
            letter = DeadLetter(
                venue="unknown",
                stage="decode",
                error=str(error),
                ts_recv=now_ns(),
                payload=value,
                source=f"{topic}/{partition}/{offset}",
            )
            dlq = self.batches[self.settings.topic("dlq")]
            dlq.read_into(encode("dead_letter", letter.to_record(now_ns())))
            dlq.land(partition, offset)
            dlq.dirty = True
            log.warning("sink: dead letter from %s/%d/%d: %s", topic, partition, offset, error)
        else:
            batch.land(partition, offset)
            for header, append in batch.headers:
                found = _header(message, header)
                append(None if found is None else found.decode("utf-8", "replace"))
        batch.advance(partition, offset)

    def _commit(self, batch: _Batch) -> None:
        started = time.monotonic()
        schema = self.tables[batch.topic].schema().as_arrow()
        data = columns_to_table(batch.columns, schema, batch.route.time_column) if batch.rows else schema.empty_table()
        if data.num_rows:
            data = data.sort_by([(name, "ascending") for name in batch.route.table.sort_by])
        dates = sorted({day.isoformat() for day in pc.unique(data["event_date"]).to_pylist()})
        properties = {f"{OFFSETS_PREFIX}{batch.topic}.{p}": str(o) for p, o in sorted(batch.positions.items())}
        properties[EVENT_DATES_KEY] = ",".join(dates)
        properties[CLUSTER_ID_KEY] = self.cluster
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            table = self.tables[batch.topic]
            try:
                table.append(data, snapshot_properties=properties)
                break
            except CommitFailedException as error:
                if attempt == COMMIT_ATTEMPTS:
                    raise
                log.warning("sink: commit to %s conflicted (%s); retrying", batch.route.table.identifier, error)
                self.tables[batch.topic] = self.catalog.load_table(batch.route.table.identifier)
        snapshot = self.tables[batch.topic].current_snapshot()
        assert snapshot is not None
        report = CommitReport(
            table=batch.route.table.identifier,
            snapshot_id=snapshot.snapshot_id,
            rows=data.num_rows,
            offsets={f"{batch.topic}.{p}": o for p, o in sorted(batch.positions.items())},
            event_dates=tuple(dates),
            seconds=time.monotonic() - started,
        )
        for column in batch.columns.values():
            column.clear()
        batch.dirty = False
        self.committed_rows += report.rows
        self.commits += 1
        log.info(
            "sink: committed %d rows to %s (snapshot %d) in %.2f s",
            report.rows,
            report.table,
            report.snapshot_id,
            report.seconds,
        )
        if self.on_commit is not None:
            self.on_commit(report)

    def flush(self) -> None:
        """Commit every table that has consumed something since its last commit."""
        for batch in self.batches.values():  # ROUTES order: dead letters first
            if batch.dirty or batch.rows:
                self._commit(batch)

    def run(self, stop: threading.Event | None = None, idle_exit: float | None = None) -> None:
        """Consume and commit until ``stop`` is set (or, when given, after ``idle_exit`` quiet seconds).

        Raises:
            BrokerError: The broker cannot be reached or reports a fatal error.
        """
        stop = stop or threading.Event()
        consumer = make_consumer(self.settings, "bronze-sink")
        try:
            self._assign(consumer)
            last_flush = time.monotonic()
            last_message = time.monotonic()
            while not stop.is_set():
                messages = consumer.consume(num_messages=10_000, timeout=0.2)
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            continue
                        if error.fatal():
                            raise BrokerError(f"fatal Kafka error: {error}")
                        log.warning("sink: Kafka error: %s", error)
                        continue
                    self._handle(message)
                if messages:
                    last_message = time.monotonic()
                pending = max(b.rows for b in self.batches.values())
                if pending >= self.settings.sink_batch_rows or (
                    time.monotonic() - last_flush >= self.settings.sink_batch_seconds
                ):
                    self.flush()
                    last_flush = time.monotonic()
                if idle_exit is not None and time.monotonic() - last_message >= idle_exit:
                    break
            self.flush()
        finally:
            consumer.close()
