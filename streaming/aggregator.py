"""Live event-time OHLCV candles from the trades stream, with the batch build's exact semantics.

:class:`CandleAggregator` is pure and deterministic: no I/O and no clock, time comes only from the
trades' ``ts_event``. :class:`LiveCandleService` is the thin runner around it that reads the trades
topic and publishes candles and late trades (all I/O lives there).

Semantics (ARCHITECTURE.md §5, the same as ``orchestration/defs/silver/candles.py``):

* **Windows** are by event time: ``window_start = ts_event // length * length`` (UTC epoch ns), end
  exclusive, keyed by ``(venue, instrument, interval, window_start)``.
* **Values** follow the batch build exactly: open/close are the first/last trade by
  ``(ts_event, len(trade_id), trade_id)`` (numeric ids in numeric order), never by arrival; high, low,
  volume, buy and sell volume are exact :class:`~decimal.Decimal` sums; ``quote_volume`` is the sum of
  ``float(price) * float(size)`` and ``vwap = quote_volume / float(volume)``. The quote sum is
  accumulated *exactly* (as a binary fixed-point integer) and rounded once, so it equals
  ``math.fsum`` of the products and does not depend on arrival order: any arrival order within
  grace gives bit-identical candles.
* **Watermark** is kept per stream ``(venue, instrument)``: ``max ts_event seen - allowed_lateness``.
  Per-stream, because instruments are independent clocks (a busy instrument must not make a quiet
  one's trades late) and because one instrument's trades are keyed by instrument and so stay in one
  topic partition, in order. The price: a quiet instrument's last window seals only when its next
  trade (or :meth:`CandleAggregator.flush`) arrives.
* **Sealing**: a window is sealed when ``watermark >= window_end + grace[interval]``; it is emitted
  exactly once in :attr:`AggregatorOutput.sealed` and then dropped (memory stays bounded).
* **Late is per interval**: a trade is late *for an interval* when its window of that interval is
  already sealed when the trade arrives. It then never changes that sealed candle, but still counts in
  the intervals whose windows are open (a trade may be late for ``1m`` and on time for ``1h``). It is
  reported once in :attr:`AggregatorOutput.late` with the intervals it missed; the batch recompute
  includes it (the revision). A trade merely older than the watermark but whose windows are still
  within grace is *not* late.
* **Duplicates**: identity is ``(venue, symbol, trade_id)``. An identity already seen is ignored
  while any of its windows is open (ids are kept only that long, then dropped with the windows).
  The first arrival wins (the batch keeps the earliest ``ts_recv``; replays carry the same values).
  A re-sent trade whose windows are all sealed is reported as late again (silver deduplicates).
"""

from __future__ import annotations

import dataclasses
import decimal
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, Message, TopicPartition

from contracts.records import DeadLetter, Trade
from contracts.schemas import ContractError, decode, encode
from contracts.tables import CANDLE_INTERVALS
from streaming.bus import ensure_topics, make_consumer, make_producer, partitions_of
from streaming.errors import BrokerError
from ticklake.settings import Settings, get_settings
from ticklake.timeutil import NS_PER_SECOND, now_ns

log = logging.getLogger(__name__)

DEFAULT_GRACE: dict[str, int] = {"1m": 10 * NS_PER_SECOND, "5m": 30 * NS_PER_SECOND, "1h": 60 * NS_PER_SECOND}
"""Grace per interval (ns) after a window's end before it is sealed (ARCHITECTURE.md §5)."""

_EXACT = decimal.Context(
    prec=100,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Overflow, decimal.DivisionByZero],
)
"""Decimal context of the sums: wide enough for any sum of ``decimal(38, 18)`` values; never rounds."""

_NO_WATERMARK = -(1 << 80)
_NEVER = 1 << 80


@dataclasses.dataclass(frozen=True, slots=True)
class LiveCandle:
    """One candle as the live aggregator sees it; fields are those of ``contracts/avro/candle.avsc``.

    ``vwap`` is NaN in the degenerate window whose sizes are all zero (the batch build divides by zero).

    Attributes:
        sealed: ``False`` for a forming candle (it may still change), ``True`` for the final one.
    """

    venue: str
    instrument: str
    interval: str
    window_start: int
    window_end: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    buy_volume: Decimal
    sell_volume: Decimal
    quote_volume: float
    vwap: float
    trade_count: int
    first_trade_id: str
    last_trade_id: str
    sealed: bool

    @property
    def key(self) -> tuple[str, str, str, int]:
        """The candle's identity ``(venue, instrument, interval, window_start)``."""
        return (self.venue, self.instrument, self.interval, self.window_start)

    def to_record(self) -> dict[str, Any]:
        """The Avro ``candle`` record (every field but ``sealed``), ready for ``encode("candle", ...)``.

        A live candle is sealed once and never revised: its revision is 1 (the batch recompute of a
        partition is what revises candles, e.g. for late trades).
        """
        record = {name: getattr(self, name) for name in _CANDLE_FIELDS}
        record["revision"] = 1
        return record


_CANDLE_FIELDS = tuple(field.name for field in dataclasses.fields(LiveCandle) if field.name != "sealed")


@dataclasses.dataclass(frozen=True, slots=True)
class LateTrade:
    """A trade that arrived after its window of one or more intervals was sealed.

    Attributes:
        trade: The trade, unchanged.
        intervals: The intervals whose (sealed) candles it missed, in the aggregator's interval order.
        watermark: The stream's watermark when it arrived (ns).
    """

    trade: Trade
    intervals: tuple[str, ...]
    watermark: int


@dataclasses.dataclass(frozen=True, slots=True)
class AggregatorOutput:
    """What one :meth:`CandleAggregator.add` (or :meth:`~CandleAggregator.add_all`) produced.

    Attributes:
        updated: Forming candles changed by the input, in their latest state (for pushing to clients).
        sealed: Candles sealed by the input's watermark advance, each exactly once, final.
        late: Trades late for at least one interval (see the module docstring).
        duplicates: How many inputs were ignored as already-seen identities.
    """

    updated: tuple[LiveCandle, ...] = ()
    sealed: tuple[LiveCandle, ...] = ()
    late: tuple[LateTrade, ...] = ()
    duplicates: int = 0


class _Window:
    """The running state of one open window."""

    __slots__ = (
        "buy",
        "close_id",
        "close_key",
        "close_price",
        "count",
        "high",
        "interval",
        "length",
        "low",
        "open_id",
        "open_key",
        "open_price",
        "q_num",
        "q_shift",
        "seal_at",
        "sealed",
        "sell",
        "start",
        "volume",
    )

    open_key: tuple[int, int, str]
    close_key: tuple[int, int, str]
    open_price: Decimal
    close_price: Decimal
    open_id: str
    close_id: str
    high: Decimal
    low: Decimal
    volume: Decimal

    def __init__(self, interval: str, start: int, length: int, seal_at: int) -> None:
        self.interval = interval
        self.start = start
        self.length = length
        self.seal_at = seal_at
        self.sealed = False
        self.count = 0
        self.buy = Decimal(0)
        self.sell = Decimal(0)
        self.q_num = 0
        self.q_shift = 0

    def candle(self, venue: str, instrument: str, sealed: bool) -> LiveCandle:
        """A snapshot of the window as a candle."""
        quote = self.q_num / (1 << self.q_shift)  # int / int is correctly rounded: fsum of the products
        volume = float(self.volume)
        return LiveCandle(
            venue=venue,
            instrument=instrument,
            interval=self.interval,
            window_start=self.start,
            window_end=self.start + self.length,
            open=self.open_price,
            high=self.high,
            low=self.low,
            close=self.close_price,
            volume=self.volume,
            buy_volume=self.buy,
            sell_volume=self.sell,
            quote_volume=quote,
            vwap=quote / volume if volume else math.nan,
            trade_count=self.count,
            first_trade_id=self.open_id,
            last_trade_id=self.close_id,
            sealed=sealed,
        )


class _Stream:
    """The open windows, watermark and recent identities of one ``(venue, instrument)``."""

    __slots__ = ("instrument", "max_ts", "next_seal", "seen", "venue", "watermark", "windows")

    def __init__(self, venue: str, instrument: str, intervals: int) -> None:
        self.venue = venue
        self.instrument = instrument
        self.max_ts = _NO_WATERMARK
        self.watermark = _NO_WATERMARK
        self.next_seal = _NEVER  # the smallest seal_at of the open windows: no scan before it
        self.windows: list[dict[int, _Window]] = [{} for _ in range(intervals)]
        # identities by the time their last window seals (the max seal_at over the intervals)
        self.seen: dict[int, set[tuple[str, str]]] = {}


class CandleAggregator:
    """Event-time candles of every ``(venue, instrument)`` over several intervals, live.

    Pure and deterministic; see the module docstring for the exact semantics. Cost per trade is O(1)
    amortized per interval: two float conversions per trade, then per interval a few Decimal
    comparisons and additions; windows are scanned for sealing only when the watermark reaches the
    earliest seal time of the stream.

    Args:
        intervals: Interval name → window length (ns). Defaults to ``CANDLE_INTERVALS``.
        grace: Interval name → grace (ns) after the window end before it seals. Defaults to
            :data:`DEFAULT_GRACE`; must cover every interval.
        allowed_lateness: Subtracted from the max event time seen to form the watermark (ns).

    Raises:
        ValueError: A non-positive length, a negative grace or lateness, or an interval without grace.
    """

    def __init__(
        self,
        intervals: Mapping[str, int] | None = None,
        grace: Mapping[str, int] | None = None,
        allowed_lateness: int = 0,
    ) -> None:
        lengths = dict(CANDLE_INTERVALS if intervals is None else intervals)
        graces = dict(DEFAULT_GRACE if grace is None else grace)
        if not lengths:
            raise ValueError("at least one interval is needed")
        for name, length in lengths.items():
            if length <= 0:
                raise ValueError(f"interval {name!r} has a non-positive length {length}")
            if name not in graces:
                raise ValueError(f"no grace for interval {name!r}")
            if graces[name] < 0:
                raise ValueError(f"interval {name!r} has a negative grace {graces[name]}")
        if allowed_lateness < 0:
            raise ValueError(f"negative allowed lateness {allowed_lateness}")
        self.intervals: dict[str, int] = lengths
        self.grace: dict[str, int] = {name: graces[name] for name in lengths}
        self.allowed_lateness = allowed_lateness
        self._names = tuple(lengths)
        self._lengths = tuple(lengths.values())
        self._delays = tuple(lengths[name] + graces[name] for name in lengths)  # window start → seal time
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._closed = False
        self.trades = 0
        self.duplicates = 0
        self.late = 0
        self.sealed = 0

    def add(self, trade: Trade) -> AggregatorOutput:
        """Feed one trade.

        Returns:
            The forming candles it changed, the candles its watermark advance sealed, and itself if late.

        Raises:
            RuntimeError: After :meth:`flush`.
        """
        return self.add_all((trade,))

    def add_all(self, trades: Iterable[Trade]) -> AggregatorOutput:
        """Feed trades in arrival order; the same result as adding them one by one, coalesced.

        ``updated`` holds each changed window once, in its latest state, and only if still forming.

        Returns:
            The combined output of the trades.

        Raises:
            RuntimeError: After :meth:`flush`.
        """
        if self._closed:
            raise RuntimeError("the aggregator was flushed (end of stream); make a new one")
        touched: dict[int, tuple[_Stream, _Window]] = {}
        sealed: list[LiveCandle] = []
        late: list[LateTrade] = []
        duplicates = 0
        with decimal.localcontext(_EXACT):
            for trade in trades:
                duplicates += self._ingest(trade, touched, sealed, late)
        updated = tuple(
            window.candle(stream.venue, stream.instrument, False)
            for stream, window in touched.values()
            if not window.sealed
        )
        return AggregatorOutput(updated, tuple(sealed), tuple(late), duplicates)

    def _ingest(
        self,
        trade: Trade,
        touched: dict[int, tuple[_Stream, _Window]],
        sealed: list[LiveCandle],
        late: list[LateTrade],
    ) -> int:
        """Apply one trade; return 1 if it was a duplicate, else 0."""
        self.trades += 1
        stream = self._streams.get((trade.venue, trade.instrument))
        if stream is None:
            stream = self._streams[(trade.venue, trade.instrument)] = _Stream(
                trade.venue, trade.instrument, len(self._lengths)
            )
        ts = trade.ts_event
        watermark = stream.watermark
        starts = [ts - ts % length for length in self._lengths]
        seal_ats = [start + delay for start, delay in zip(starts, self._delays, strict=True)]
        expiry = max(seal_ats)
        if expiry <= watermark:  # every window already sealed (its identity is forgotten too)
            self.late += 1
            late.append(LateTrade(trade, self._names, watermark))
            return 0
        identity = (trade.symbol, trade.trade_id)
        bucket = stream.seen.get(expiry)
        if bucket is None:
            stream.seen[expiry] = {identity}
        elif identity in bucket:
            self.duplicates += 1
            return 1
        else:
            bucket.add(identity)

        price = trade.price
        size = trade.size
        trade_id = trade.trade_id
        side = trade.side
        order = (ts, len(trade_id), trade_id)
        q_num, q_den = (float(price) * float(size)).as_integer_ratio()
        q_shift = q_den.bit_length() - 1
        missed: list[str] | None = None
        for index, windows in enumerate(stream.windows):
            seal_at = seal_ats[index]
            if seal_at <= watermark:
                if missed is None:
                    missed = []
                missed.append(self._names[index])
                continue
            start = starts[index]
            window = windows.get(start)
            if window is None:
                window = windows[start] = _Window(self._names[index], start, self._lengths[index], seal_at)
                if seal_at < stream.next_seal:
                    stream.next_seal = seal_at
                window.open_key = window.close_key = order
                window.open_price = window.close_price = window.high = window.low = price
                window.open_id = window.close_id = trade_id
                window.volume = size
                window.q_num = q_num
                window.q_shift = q_shift
            else:
                if order < window.open_key:
                    window.open_key = order
                    window.open_price = price
                    window.open_id = trade_id
                elif order > window.close_key:
                    window.close_key = order
                    window.close_price = price
                    window.close_id = trade_id
                if price > window.high:
                    window.high = price
                elif price < window.low:
                    window.low = price
                window.volume += size
                if q_shift > window.q_shift:
                    window.q_num = (window.q_num << (q_shift - window.q_shift)) + q_num
                    window.q_shift = q_shift
                else:
                    window.q_num += q_num << (window.q_shift - q_shift)
            window.count += 1
            if side == "buy":
                window.buy += size
            elif side == "sell":
                window.sell += size
            touched[id(window)] = (stream, window)
        if missed is not None:
            self.late += 1
            late.append(LateTrade(trade, tuple(missed), watermark))

        if ts > stream.max_ts:
            stream.max_ts = ts
            stream.watermark = ts - self.allowed_lateness
            if stream.watermark >= stream.next_seal:
                self._seal(stream, sealed)
        return 0

    def _seal(self, stream: _Stream, sealed: list[LiveCandle], everything: bool = False) -> None:
        """Seal the stream's windows the watermark passed (or all); drop them and their identities."""
        watermark = _NEVER if everything else stream.watermark
        ready: list[tuple[int, int, _Window]] = []
        next_seal = _NEVER
        for index, windows in enumerate(stream.windows):
            for start in [start for start, window in windows.items() if window.seal_at <= watermark]:
                window = windows.pop(start)
                window.sealed = True
                ready.append((window.start + window.length, index, window))
            for window in windows.values():
                next_seal = min(next_seal, window.seal_at)
        stream.next_seal = next_seal
        for expiry in [expiry for expiry in stream.seen if expiry <= watermark]:
            del stream.seen[expiry]
        ready.sort(key=lambda item: (item[0], item[1]))
        sealed.extend(window.candle(stream.venue, stream.instrument, True) for _, _, window in ready)
        self.sealed += len(ready)

    def flush(self) -> list[LiveCandle]:
        """Seal every window still open (end of stream); the aggregator accepts no trades after it.

        Returns:
            The sealed candles, by stream, then window end, then interval order.
        """
        sealed: list[LiveCandle] = []
        if not self._closed:
            for key in sorted(self._streams):
                self._seal(self._streams[key], sealed, everything=True)
            self._streams.clear()
            self._closed = True
        return sealed

    def watermark(self, venue: str, instrument: str) -> int | None:
        """The stream's watermark (ns), or ``None`` before its first trade."""
        stream = self._streams.get((venue, instrument))
        return None if stream is None or stream.watermark == _NO_WATERMARK else stream.watermark

    def open_windows(self) -> int:
        """How many windows are open over all streams and intervals (memory is proportional to it)."""
        return sum(len(windows) for stream in self._streams.values() for windows in stream.windows)

    def remembered_ids(self) -> int:
        """How many trade identities are kept for deduplication (only those of open windows)."""
        return sum(len(bucket) for stream in self._streams.values() for bucket in stream.seen.values())

    def forming(self) -> list[LiveCandle]:
        """Snapshots of every open window (for a client that connects mid-window)."""
        return [
            window.candle(stream.venue, stream.instrument, False)
            for key in sorted(self._streams)
            for stream in (self._streams[key],)
            for windows in stream.windows
            for window in windows.values()
        ]


# --------------------------------------------------------------------------------------------------
# The runner: trades topic in, candles and late trades out.

CANDLE_STATE_HEADER = "ticklake.candle_state"
"""Kafka header of a candle message: ``forming`` or ``sealed`` (the Avro record has no such field)."""

LATE_INTERVALS_HEADER = "ticklake.late_intervals"
"""Kafka header of a late-trade message: the intervals it missed, comma separated."""

_TRADE_FIELDS = tuple(field.name for field in dataclasses.fields(Trade))


@dataclasses.dataclass
class ServiceStats:
    """Counters of a :class:`LiveCandleService` run."""

    consumed: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    forming: int = 0
    sealed: int = 0
    late: int = 0
    delivery_errors: int = 0


class LiveCandleService:
    """Consume the trades topic, aggregate live, publish candles and late trades.

    One :class:`CandleAggregator` per trades partition, with explicit partition assignment (no consumer
    group, no committed offsets: the live view is rebuilt from where it starts). Watermarks are per
    ``(venue, instrument)`` inside each aggregator; an instrument's trades are keyed by instrument, so
    they stay in one partition and arrive in their produced order.

    By default it starts at the *end* of the trades topic (a live view: candles of the windows it sees
    from now on; the first windows may be partial, and the batch build stays the source of truth).
    With ``from_beginning`` it replays the whole retained log. The end is the broker's reported end;
    a broker that under-reports it (the embedded one reports one past the base offset of the last batch)
    makes it re-read the tail of that batch, which only seeds the first windows.

    Output: forming (unless ``emit_forming`` is off) and sealed candles to ``settings.topic("candles")``
    encoded with the ``candle`` schema, header :data:`CANDLE_STATE_HEADER`; late trades to
    ``settings.topic("late_trades")`` with the ``trade`` schema, header :data:`LATE_INTERVALS_HEADER`;
    undecodable trades to ``dlq`` as dead letters (stage ``aggregate``). Keys are the instrument, with an
    idempotent producer, so one instrument's candles stay in order. Open windows are *not* sealed on
    stop (more trades may come for them); they are lost with the process.

    Args:
        settings: The settings; defaults to the process-wide ones.
        from_beginning: Start at the beginning of the trades topic instead of its end.
        emit_forming: Publish forming candles after every consumed batch (else sealed candles only).
        client_id: Kafka client id.
        aggregator_factory: Makes the aggregator of each partition.
        batch_size: Maximum messages per consume call.
        poll_timeout: Seconds a consume call waits for messages.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        from_beginning: bool = False,
        emit_forming: bool = True,
        client_id: str = "candles",
        aggregator_factory: Callable[[], CandleAggregator] = CandleAggregator,
        batch_size: int = 10_000,
        poll_timeout: float = 0.2,
    ) -> None:
        self.settings = settings or get_settings()
        self.from_beginning = from_beginning
        self.emit_forming = emit_forming
        self.client_id = client_id
        self.aggregator_factory = aggregator_factory
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.aggregators: dict[int, CandleAggregator] = {}
        self.stats = ServiceStats()
        self.ready = threading.Event()
        """Set once the partitions are assigned at fixed start offsets: trades produced after it are seen."""
        self._delivery_error: KafkaError | None = None

    def run(self, stop: threading.Event) -> ServiceStats:
        """Consume until ``stop`` is set.

        Returns:
            The run's counters.

        Raises:
            BrokerError: The broker cannot be reached, or a message could not be delivered.
        """
        settings = self.settings
        ensure_topics(settings)
        topic = settings.topic("trades")
        consumer = make_consumer(settings, self.client_id)
        producer = make_producer(settings, self.client_id)
        try:
            assignments = []
            for partition in partitions_of(settings, topic):
                if self.from_beginning:
                    offset = OFFSET_BEGINNING
                else:
                    offset = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=15)[1]
                assignments.append(TopicPartition(topic, partition, offset))
                self.aggregators[partition] = self.aggregator_factory()
            consumer.assign(assignments)
            log.info("candles: %s from %s", topic, {tp.partition: tp.offset for tp in assignments})
            self.ready.set()
            while not stop.is_set():
                messages = consumer.consume(self.batch_size, self.poll_timeout)
                if messages:
                    self._handle(messages, producer)
                producer.poll(0)
                self._check_delivery()
        finally:
            remaining = producer.flush(15)
            consumer.close()
        self._check_delivery()
        if remaining:
            raise BrokerError(f"candles: {remaining} messages undelivered at stop")
        return self.stats

    def _handle(self, messages: list[Message], producer: Any) -> None:
        """Decode a consumed batch, aggregate per partition, publish the outputs."""
        by_partition: dict[int, list[Trade]] = {}
        for message in messages:
            failure = message.error()
            if failure is not None:
                if failure.code() != KafkaError._PARTITION_EOF:
                    log.warning("candles: consume error: %s", failure)
                continue
            partition = message.partition()
            assert partition is not None
            value = message.value() or b""
            try:
                record = decode("trade", value)
                trade = Trade(**{name: record[name] for name in _TRADE_FIELDS})
            except (ContractError, KeyError, TypeError) as error:
                self._dead_letter(producer, message, value, error)
                continue
            by_partition.setdefault(partition, []).append(trade)
            self.stats.consumed += 1
        for partition, trades in by_partition.items():
            output = self.aggregators[partition].add_all(trades)
            self._publish(producer, output)

    def _publish(self, producer: Any, output: AggregatorOutput) -> None:
        """Produce an aggregator output: sealed candles, forming candles, late trades."""
        candles_topic = self.settings.topic("candles")
        ts_ingest = now_ns()
        for candle in output.sealed:
            self._produce(producer, candles_topic, candle.instrument, encode("candle", candle.to_record()), b"sealed")
        self.stats.sealed += len(output.sealed)
        if self.emit_forming:
            for candle in output.updated:
                payload = encode("candle", candle.to_record())
                self._produce(producer, candles_topic, candle.instrument, payload, b"forming")
            self.stats.forming += len(output.updated)
        late_topic = self.settings.topic("late_trades")
        for late in output.late:
            payload = encode("trade", late.trade.to_record(ts_ingest))
            headers = [(LATE_INTERVALS_HEADER, ",".join(late.intervals).encode())]
            self._produce(producer, late_topic, late.trade.instrument, payload, None, headers)
        self.stats.late += len(output.late)
        self.stats.duplicates += output.duplicates

    def _produce(
        self,
        producer: Any,
        topic: str,
        key: str,
        value: bytes,
        state: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        if state is not None:
            headers = [(CANDLE_STATE_HEADER, state)]
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery)
                return
            except BufferError:
                producer.poll(0.05)

    def _dead_letter(self, producer: Any, message: Message, value: bytes, error: Exception) -> None:
        letter = DeadLetter(
            venue="unknown",
            stage="aggregate",
            error=str(error),
            ts_recv=now_ns(),
            payload=value,
            source=f"{message.topic()}/{message.partition()}/{message.offset()}",
        )
        self._produce(
            producer, self.settings.topic("dlq"), "unknown", encode("dead_letter", letter.to_record(now_ns())), None
        )
        self.stats.dead_letters += 1
        log.warning("candles: dead letter from %s: %s", letter.source, error)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.stats.delivery_errors += 1
            self._delivery_error = error
            log.error("candles: delivery to %s failed: %s", message.topic(), error)

    def _check_delivery(self) -> None:
        if self._delivery_error is not None:
            raise BrokerError(f"candles: a message could not be delivered: {self._delivery_error}")


def aggregator_from_settings(settings: Settings) -> Callable[[], CandleAggregator]:
    """A factory of aggregators with the grace and allowed lateness the settings give.

    Raises:
        ValueError: The settings give no grace for a built interval.
    """
    missing = [name for name in CANDLE_INTERVALS if name not in settings.candle_grace_seconds]
    if missing:
        raise ValueError(f"TICKLAKE_CANDLE_GRACE_SECONDS has no grace for {missing}")
    grace = {name: int(settings.candle_grace_seconds[name] * 1e9) for name in CANDLE_INTERVALS}
    lateness = int(settings.candle_allowed_lateness_seconds * 1e9)
    return lambda: CandleAggregator(grace=grace, allowed_lateness=lateness)
