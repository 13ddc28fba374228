"""Collectors: venue WebSocket frames in, raw frames + normalized records + dead letters out to Kafka.

A collector publishes every frame it receives to the ``raw`` topic (the source of truth for
reprocessing), the records the venue parser finds to their topic (``trades``, ``book``, ``ticker``,
``lifecycle``; keyed by instrument, so an instrument's order is kept), and frames the parser
rejects to ``dlq`` with the error and raw bytes.

Trades are deduplicated on their identity (symbol, trade id) over the last :data:`RECENT_TRADES`:
a venue's snapshot on resubscribe, a duplicated frame, or a repair that overlaps a late arrival is
published once. Sequence gaps are published to ``gaps`` and repaired from the venue's REST history;
after a reconnect, a feed with ``catch_up`` fetches what was traded while disconnected.

Order books: for a feed with ``book_snapshot`` (Binance), every book update goes through
:class:`~streaming.book_sync.BookSync`: diffs are held back until the instrument's book is
synchronised from a REST snapshot (fetched off the event loop), a break in the diffs' sequence is
published to ``gaps`` (stream ``book:<symbol>``, the missing update ids) and followed by a new
snapshot. Every diff and snapshot is published to ``book`` once and unchanged (the snapshot before the
diffs held back for it), so the book can be rebuilt from bronze in offset order. A feed with
``book_resubscribe`` instead (the other venues) asks the venue for a new snapshot on the live
connection; it arrives on the stream. A checksum mismatch (Kraken) and, for a sequence spanning
several books (``book_gaps``: Coinbase ``sequence_num``), a lost frame resynchronise books too.
Nothing stops the stream: a bad frame is a dead letter, a lost connection is a reconnect.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Coroutine, Hashable
from typing import Any

from confluent_kafka import KafkaError, Message
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from contracts.avro_writer import AttributeEncoder, ValuesEncoder, record_encoder
from contracts.records import BookUpdate, DeadLetter, Gap, Lifecycle, Ticker, Trade
from contracts.schemas import RecordName
from streaming.book_sync import BookSync, SyncActions
from streaming.bus import ensure_topics, make_producer
from streaming.errors import BrokerError, ParseError, StreamingError
from streaming.feeds.base import VenueFeed
from streaming.gaps import Observation, SequenceTracker
from streaming.transport import Backoff, Frame, stream_frames
from streaming.venues.base import ParsedFrame
from ticklake.settings import Settings
from ticklake.timeutil import now_ns

log = logging.getLogger(__name__)


RECENT_TRADES = 200_000
"""Trade identities a collector remembers to drop re-deliveries (snapshots on resubscribe, repairs)."""

BusRecord = DeadLetter | Gap | Trade | BookUpdate | Ticker | Lifecycle
"""Every record a collector publishes but the raw copy of a frame (encoded from the frame's values, no record built)."""

ROUTES: dict[type[BusRecord], tuple[str, RecordName]] = {
    DeadLetter: ("dlq", "dead_letter"),
    Gap: ("gaps", "gap"),
    Trade: ("trades", "trade"),
    BookUpdate: ("book", "book_update"),
    Ticker: ("ticker", "ticker"),
    Lifecycle: ("lifecycle", "lifecycle"),
}
"""The topic kind and the Avro record type of every record a collector publishes."""


def _attribute_encoder(name: RecordName) -> AttributeEncoder:
    """The Avro encoder of a record object stamped with its ingest time (no dict built on the way)."""
    encoder = record_encoder(name).attributes
    assert encoder is not None, f"{name}: the schema of a bus record has a generated encoder and a ts_ingest"
    return encoder


class RecentKeys:
    """A bounded set of the most recently added keys (the oldest are forgotten first).

    An ``OrderedDict`` evicts its oldest key in O(1); a plain dict would not: deleting from its front
    leaves a growing run of dead slots that ``next(iter(...))`` walks on every eviction.

    Args:
        capacity: How many keys to remember.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: collections.OrderedDict[Hashable, None] = collections.OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; whether it was new."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._keys)


@dataclasses.dataclass
class CollectorStats:
    """Running counts of one collector."""

    frames: int = 0
    trades: int = 0
    other_records: int = 0
    controls: int = 0
    rejects: int = 0
    delivery_errors: int = 0
    gaps: int = 0
    missing: int = 0
    repaired: int = 0
    repair_failures: int = 0
    duplicates: int = 0
    caught_up: int = 0
    book_gaps: int = 0
    book_missing: int = 0
    book_snapshots: int = 0
    books_resynced: int = 0
    book_snapshot_failures: int = 0
    book_resubscribes: int = 0


class Collector:
    """Capture one venue feed into Kafka.

    Args:
        settings: Platform settings.
        feed: The venue feed to capture.
    """

    def __init__(self, settings: Settings, feed: VenueFeed) -> None:
        self.settings = settings
        self.feed = feed
        self.producer = make_producer(settings, f"collector-{feed.venue}", on_delivery_error=self._on_delivery_error)
        self._produce_now = self.producer.produce
        self.stats = CollectorStats()
        self._routes: dict[type[BusRecord], tuple[str, AttributeEncoder]] = {
            kind_of: (settings.topic(kind), _attribute_encoder(name)) for kind_of, (kind, name) in ROUTES.items()
        }
        self._trades_topic, self._encode_trade = self._routes[Trade]
        self._raw_topic = settings.topic("raw")
        encode_raw = record_encoder("raw_message").values
        assert encode_raw is not None, "raw_message: the schema has a generated encoder"
        self._encode_raw: ValuesEncoder = encode_raw
        self._delivery_error: KafkaError | None = None
        self._tracker = SequenceTracker()
        self._gaps_found: list[Gap] = []
        self._repairs: set[asyncio.Task[None]] = set()
        self._seen = RecentKeys(RECENT_TRADES)
        self._last_event: dict[str, int] = {}
        self._connections_seen = 0
        self.books: BookSync | None = None
        if feed.keeps_books:
            self.books = BookSync(feed.venue, depth=feed.book_depth, checksum=feed.book_checksum)
        self._websocket: ClientConnection | None = None
        self._snapshots_wanted: list[str] = []
        self._snapshots_running: set[str] = set()
        self._connection_id = ""

    def _on_delivery_error(self, error: KafkaError, message: Message) -> None:
        """The producer could not deliver a message (its only delivery reports): :meth:`handle` raises."""
        self.stats.delivery_errors += 1
        self._delivery_error = error
        log.error("delivery to %s failed: %s", message.topic(), error)

    def _produce(self, topic: str, key: str, value: bytes) -> None:
        """Produce a message, waiting while the producer's queue is full."""
        while True:
            try:
                self._produce_now(topic, value, key)
                return
            except BufferError:
                self.producer.poll(0.05)

    def _publish(self, record: BusRecord, key: str, ts_ingest: int) -> None:
        """Produce a record, stamped with ``ts_ingest``, to its topic."""
        topic, encode = self._routes[type(record)]
        self._produce(topic, key, encode(record, ts_ingest))

    def handle(self, frame: Frame) -> None:
        """Publish one frame: raw copy, parsed records, or a dead letter.

        Raises:
            BrokerError: The producer reported a failed delivery (a message would be lost).
        """
        ts_ingest = now_ns()
        feed = self.feed
        if frame.seq == 0 and feed.sequences is not None:  # a new connection
            if feed.sequences_per_connection:
                self._tracker.reset()
            for stream in feed.connection_streams:
                self._tracker.reset(stream)
        try:
            parsed: ParsedFrame | None = feed.parse(frame.data, frame.ts_recv)
        except ParseError as error:
            parsed = None
            self.stats.rejects += 1
            letter = DeadLetter(
                venue=feed.venue,
                stage="parse",
                error=str(error),
                ts_recv=frame.ts_recv,
                payload=frame.data,
                connection_id=frame.connection_id,
                seq=frame.seq,
            )
            self._publish(letter, feed.venue, ts_ingest)
        raw = self._encode_raw(
            venue=feed.venue,
            channel=parsed.channel if parsed is not None else "",
            connection_id=frame.connection_id,
            seq=frame.seq,
            ts_recv=frame.ts_recv,
            ts_ingest=ts_ingest,
            payload=frame.data,
        )
        self._produce(self._raw_topic, frame.connection_id, raw)
        if parsed is not None:
            if feed.sequences is not None:
                self._check_sequences(frame, parsed, ts_ingest)
            if parsed.control is not None:
                self.stats.controls += 1
            for record in parsed.records:
                if type(record) is Trade:
                    self._publish_trade(record, ts_ingest)
                elif type(record) is BookUpdate and self.books is not None:
                    self._connection_id = frame.connection_id
                    self._act(self.books.update(record), record.instrument, frame.ts_recv, ts_ingest)
                else:
                    self._publish(record, record.instrument, ts_ingest)
                    self.stats.other_records += 1
        self.stats.frames += 1
        self.producer.poll(0)
        if self._delivery_error is not None:
            raise BrokerError(f"Kafka delivery failed: {self._delivery_error}")

    def _publish_trade(self, trade: Trade, ts_ingest: int) -> bool:
        """Publish a trade unless this collector already published its identity; whether it did."""
        if not self._seen.add((trade.symbol, trade.trade_id)):
            self.stats.duplicates += 1
            return False
        self._produce(self._trades_topic, trade.instrument, self._encode_trade(trade, ts_ingest))
        self.stats.trades += 1
        last = self._last_event.get(trade.instrument)
        if last is None or trade.ts_event > last:
            self._last_event[trade.instrument] = trade.ts_event
        return True

    def _check_sequences(self, frame: Frame, parsed: ParsedFrame, ts_ingest: int) -> None:
        """Record every skipped range of sequence numbers as a gap, or as book gaps (``feed.book_gaps``).

        The frame's numbers come first, then its horizons (``feed.horizons``: how far a stream has got).
        """
        assert self.feed.sequences is not None
        for stream, number in self.feed.sequences(parsed):
            seen = self._tracker.observe(stream, number)
            if seen.outcome == "gap":
                self._record_gap(frame, stream, seen, ts_ingest)
        if self.feed.horizons is not None:
            for stream, last in self.feed.horizons(parsed):
                seen = self._tracker.reveal(stream, last)
                if seen.outcome == "gap":
                    self._record_gap(frame, stream, seen, ts_ingest)

    def _record_gap(self, frame: Frame, stream: str, seen: Observation, ts_ingest: int) -> None:
        """Publish a gap; repair its trades, or resynchronise the books a shared sequence covers."""
        assert seen.missing_from is not None and seen.missing_to is not None
        gap = Gap(
            venue=self.feed.venue,
            stream=stream,
            connection_id=frame.connection_id,
            first_missing=seen.missing_from,
            last_missing=seen.missing_to,
            missing=seen.missing,
            ts_recv=frame.ts_recv,
        )
        self.stats.gaps += 1
        self.stats.missing += seen.missing
        log.warning(
            "collector %s: gap in %s: %d..%d missing", self.feed.venue, stream, gap.first_missing, gap.last_missing
        )
        self._publish(gap, stream, ts_ingest)
        books = list(self.feed.book_gaps(stream)) if self.feed.book_gaps is not None else []
        if books and self.books is not None:
            # Lost frames, not trades to fetch: the books they may have touched resynchronise.
            self._connection_id = frame.connection_id
            for instrument in books:
                actions = self.books.desync(instrument, gap.first_missing, gap.last_missing)
                self._act(actions, instrument, frame.ts_recv, ts_ingest)
        elif self.feed.repair is not None:
            self._gaps_found.append(gap)

    def _act(self, actions: SyncActions, instrument: str, ts_recv: int, ts_ingest: int) -> None:
        """Carry out what the book sync asked for: publish updates, record a gap, want a snapshot."""
        for update in actions.publish:
            self._publish(update, update.instrument, ts_ingest)
            self.stats.other_records += 1
            if update.kind == "snapshot":
                self.stats.book_snapshots += 1
        if actions.resynced:
            self.stats.books_resynced += 1
        if actions.gap is not None:
            gap = Gap(
                venue=self.feed.venue,
                stream=actions.gap.stream,
                connection_id=self._connection_id,
                first_missing=actions.gap.first_missing,
                last_missing=actions.gap.last_missing,
                missing=actions.gap.missing,
                ts_recv=ts_recv,
            )
            self.stats.book_gaps += 1
            self.stats.book_missing += gap.missing
            log.warning(
                "collector %s: %s gap in %s: %d..%d; resnapshotting",
                self.feed.venue,
                actions.gap.reason,
                gap.stream,
                gap.first_missing,
                gap.last_missing,
            )
            self._publish(gap, gap.stream, ts_ingest)
        if actions.snapshot_wanted and instrument not in self._snapshots_running:
            self._snapshots_running.add(instrument)
            self._snapshots_wanted.append(instrument)

    async def _resnapshot(self, instrument: str) -> None:
        """Fetch a REST snapshot of an instrument's book (off the event loop) and hand it to the book sync."""
        if self.feed.book_snapshot is None:
            await self._resubscribe(instrument)
            return
        assert self.books is not None
        try:
            snapshot = await asyncio.to_thread(self.feed.book_snapshot, instrument)
        except (StreamingError, ParseError) as error:
            self._snapshots_running.discard(instrument)
            self.stats.book_snapshot_failures += 1
            log.error("collector %s: snapshot of the %s book failed: %s", self.feed.venue, instrument, error)
            self.books.snapshot_failed(instrument)
            return
        self._snapshots_running.discard(instrument)
        self._act(self.books.snapshot(snapshot), instrument, snapshot.ts_recv, now_ns())

    async def _resubscribe(self, instrument: str) -> None:
        """Ask the venue for a new snapshot of an instrument's book on the live connection (``book_resubscribe``).

        The snapshot arrives on the stream. If the connection is gone, the reconnect subscribes afresh and
        the venue sends snapshots anyway; the book asks again with its next update.
        """
        assert self.feed.book_resubscribe is not None and self.books is not None
        websocket = self._websocket
        try:
            if websocket is None:
                raise StreamingError("not connected")
            await self.feed.book_resubscribe(websocket, instrument)
        except (StreamingError, WebSocketException) as error:
            self.stats.book_snapshot_failures += 1
            log.error("collector %s: resubscribing the %s book failed: %s", self.feed.venue, instrument, error)
            self.books.snapshot_failed(instrument)
        else:
            self.stats.book_resubscribes += 1
            log.info("collector %s: resubscribed the %s book for a new snapshot", self.feed.venue, instrument)
        finally:
            self._snapshots_running.discard(instrument)

    def start_snapshots(self) -> None:
        """Start a background snapshot fetch for every book that wants one since the last call."""
        while self._snapshots_wanted:
            self._start(self._resnapshot(self._snapshots_wanted.pop(0)))

    async def _repair(self, gap: Gap) -> None:
        """Fetch a gap's trades from the venue's REST history and publish them, then the repaired gap."""
        assert self.feed.repair is not None
        try:
            trades = await asyncio.to_thread(self.feed.repair, gap)
        except (StreamingError, ParseError) as error:
            self.stats.repair_failures += 1
            log.error(
                "collector %s: repair of %s %d..%d failed: %s",
                self.feed.venue,
                gap.stream,
                gap.first_missing,
                gap.last_missing,
                error,
            )
            return
        ts_ingest = now_ns()
        published = sum(self._publish_trade(trade, ts_ingest) for trade in trades)
        complete = len(trades) == gap.missing
        repaired = dataclasses.replace(gap, repaired=complete)
        self._publish(repaired, gap.stream, ts_ingest)
        self.stats.repaired += published
        log.info(
            "collector %s: repaired %d of %d missing in %s (%d new)",
            self.feed.venue,
            len(trades),
            gap.missing,
            gap.stream,
            published,
        )

    async def _catch_up(self) -> None:
        """After a reconnect, fetch the trades since the last one seen of each instrument (``feed.catch_up``)."""
        assert self.feed.catch_up is not None
        since = dict(self._last_event)
        try:
            trades = await asyncio.to_thread(self.feed.catch_up, since)
        except (StreamingError, ParseError) as error:
            self.stats.repair_failures += 1
            log.error("collector %s: catch-up after reconnect failed: %s", self.feed.venue, error)
            return
        ts_ingest = now_ns()
        published = sum(self._publish_trade(trade, ts_ingest) for trade in trades)
        self.stats.caught_up += published
        log.info(
            "collector %s: caught up %d trades after a reconnect (%d new)", self.feed.venue, len(trades), published
        )

    def start_repairs(self) -> None:
        """Start a background repair for every gap found since the last call."""
        while self._gaps_found:
            self._start(self._repair(self._gaps_found.pop(0)))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)

    async def _on_connect(self, websocket: ClientConnection) -> None:
        """Subscribe; on a reconnect, also catch up on what the disconnect lost.

        This runs before any frame arrives: a venue with nothing new would never send the frame that reveals it.
        """
        self._websocket = websocket
        if self.feed.on_connect is not None:
            await self.feed.on_connect(websocket)
        if self.feed.catch_up is not None and self._connections_seen:
            self._start(self._catch_up())
        self._connections_seen += 1

    async def _capture(self, stop: asyncio.Event, report_every: float) -> None:
        backoff = Backoff(self.settings.ws_backoff_initial, self.settings.ws_backoff_max)
        last_report = time.monotonic()
        async for frame in stream_frames(
            self.feed.url,
            backoff=backoff,
            ping_interval=self.settings.ws_ping_interval,
            ping_timeout=self.settings.ws_ping_timeout,
            on_connect=self._on_connect,
            headers=self.feed.headers,
            app_ping=self.feed.app_ping,
            stale_after=self.settings.ws_stale_seconds,
            compression=self.settings.ws_compression,
            stop=stop,
        ):
            self.handle(frame)
            if self._gaps_found:
                self.start_repairs()
            if self._snapshots_wanted:
                self.start_snapshots()
            if time.monotonic() - last_report >= report_every:
                last_report = time.monotonic()
                log.info("collector %s: %s", self.feed.venue, self.stats)

    async def run(self, stop: asyncio.Event | None = None, report_every: float = 10.0) -> CollectorStats:
        """Capture until ``stop`` is set or the task is cancelled; flush the producer on the way out.

        Raises:
            BrokerError: Kafka cannot be reached or a delivery failed.
            StreamingError: The feed URL is invalid.
        """
        stop = stop or asyncio.Event()
        ensure_topics(self.settings)
        log.info("collector %s: capturing %s", self.feed.venue, self.feed.url)
        capture = asyncio.create_task(self._capture(stop, report_every))
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({capture, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not capture.done():
                capture.cancel()
            await asyncio.gather(capture, stopped, return_exceptions=True)
            if self._repairs:
                await asyncio.wait(self._repairs, timeout=30)
            remaining = self.producer.flush(30)
            if remaining:
                log.error("collector %s: %d messages not delivered at shutdown", self.feed.venue, remaining)
        if not capture.cancelled() and capture.exception() is not None:
            raise capture.exception()  # type: ignore[misc]
        log.info("collector %s stopped: %s", self.feed.venue, self.stats)
        return self.stats


async def run_collectors(
    settings: Settings, venues: list[str], stop: asyncio.Event | None = None
) -> dict[str, CollectorStats]:
    """Capture several venues in one event loop, a collector each, until ``stop`` is set or cancelled.

    If one collector fails (e.g. Kafka delivery failed), the others are stopped and the error is raised,
    so a supervisor restarts them together.

    Args:
        settings: Platform settings.
        venues: Venue ids with a feed in :data:`streaming.feeds.registry.FEEDS`.
        stop: Ends every collector when set.

    Returns:
        Each venue's final counts.

    Raises:
        StreamingError: A venue has no feed, or its URL is invalid.
        BrokerError: Kafka cannot be reached or a delivery failed.
    """
    from streaming.feeds.registry import FEEDS

    unknown = [venue for venue in venues if venue not in FEEDS]
    if unknown:
        raise StreamingError(f"no feed for venues {unknown}; known: {', '.join(FEEDS)}")
    stop = stop or asyncio.Event()
    collectors = {venue: Collector(settings, FEEDS[venue](settings)) for venue in venues}
    async with asyncio.TaskGroup() as group:
        tasks = {venue: group.create_task(c.run(stop), name=f"collector-{venue}") for venue, c in collectors.items()}
    return {venue: task.result() for venue, task in tasks.items()}
