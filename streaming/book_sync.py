"""Keeping a venue's order books in sync with REST snapshots: a pure state machine per instrument.

The collector feeds every :class:`~contracts.records.BookUpdate` its parser finds to :class:`BookSync`
and carries out the :class:`SyncActions` it answers: publish these updates to the book topic, record
this gap, fetch a REST snapshot of this instrument (off the event loop) and hand it to
:meth:`BookSync.snapshot`. No I/O and no clock here.

The procedure is Binance's "How to manage a local order book correctly"
(https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#how-to-manage-a-local-order-book-correctly),
in terms any venue with a REST snapshot and sequenced diffs fits:

1. While an instrument's book is not synchronised, its diffs are **buffered** and a snapshot is
   requested (once; again after a failure, on the next diff).
2. When the snapshot (``sequence`` = Binance ``lastUpdateId``) arrives: if even the first buffered
   diff starts after ``lastUpdateId + 1`` the snapshot is older than the buffer and another one is
   requested (Binance's step 4). Otherwise the snapshot is applied, then the buffered diffs in order:
   those with ``u <= lastUpdateId`` are stale and change nothing, the first applied one has
   ``U <= lastUpdateId + 1 <= u`` and each later one ``U = previous u + 1`` — the tests of
   :class:`~streaming.book.OrderBook`.
3. A diff that does not continue the book is a **gap**: the missing update ids
   ``expected..U - 1`` are reported (stream ``book:<symbol>``), the book is unsynchronised, the diff
   buffered, and a new snapshot requested.

Every diff and every snapshot is published exactly once, unchanged. Diffs that arrive while a book
is unsynchronised are **held back** and published right after the snapshot that resynchronises it
(the snapshot first), so that a consumer replaying the book topic in offset order with the same
reducer sees: diffs it cannot apply yet (before the first snapshot), then snapshot, stale diffs,
continuing diffs — and ends with the collector's book. The hold-back is bounded
(``max_buffer`` diffs per instrument); beyond it the oldest held diff is published at once (it is
older than any snapshot still to come, so a consumer ignores it).

A venue that resynchronises by **resubscribing** (Kraken, Kraken Futures, Coinbase, Kalshi,
Polymarket: the snapshot arrives on the stream) fits too, with one difference: a ``snapshot`` from
the wire comes after every diff held back (the stream is ordered), so those diffs are older than it.
They are published *before* it, unchanged, and not applied on top of it; the snapshot resynchronises
the book on its own, and the diffs after it continue it.

Besides sequence gaps, a book is resynchronised when the venue's **checksum** disagrees with it
(Kraken's CRC32) or an increment takes a level below zero: a :class:`BookGap` with ``reason``
``checksum``/``negative`` is reported (no update ids are known to be missing: ``missing`` is 0). A
venue whose sequence spans several books (Coinbase ``sequence_num``, a Kalshi subscription) reports
a loss with :meth:`BookSync.desync`: reason ``frames``, the lost range of that sequence.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Literal

from contracts.records import BookUpdate
from streaming.book import Checksum, OrderBook

State = Literal["unsynced", "fetching", "synced"]
GapReason = Literal["sequence", "checksum", "negative", "frames"]

MAX_BUFFER = 10_000
"""Diffs held back per unsynchronised instrument, at most."""


@dataclasses.dataclass(frozen=True, slots=True)
class BookGap:
    """Why an instrument's book can no longer be trusted: update ids its diffs skipped (inclusive), or another sign.

    Attributes:
        instrument: The canonical instrument.
        symbol: The venue symbol.
        first_missing: The first update id missing (``sequence``, ``frames``: of the sequence that skipped);
            for ``checksum`` and ``negative``, the update's sequence if it has one, else 0.
        last_missing: The last update id missing (like ``first_missing``).
        reason: ``sequence`` (the book's own update ids skipped), ``frames`` (a sequence spanning several
            books skipped), ``checksum`` (the venue's checksum disagrees), ``negative`` (an increment went
            below zero).
    """

    instrument: str
    symbol: str
    first_missing: int
    last_missing: int
    reason: GapReason = "sequence"

    @property
    def stream(self) -> str:
        """The gap's stream name: ``book:<symbol>``."""
        return f"book:{self.symbol}"

    @property
    def missing(self) -> int:
        """How many update ids are missing (0 when unknown: checksum, negative)."""
        if self.reason in ("checksum", "negative"):
            return 0
        return self.last_missing - self.first_missing + 1


@dataclasses.dataclass(frozen=True, slots=True)
class SyncActions:
    """What the collector must do after one update or snapshot.

    Attributes:
        publish: Updates to publish to the book topic, in this order.
        gap: A gap to record, if one was found.
        snapshot_wanted: Fetch a REST snapshot of the instrument and pass it to :meth:`BookSync.snapshot`.
        resynced: A snapshot resynchronised a book that had been in sync before and lost it (a resync: not the
            first sync, nor a snapshot a venue sends while the book is in sync, as Polymarket does after trades).
    """

    publish: tuple[BookUpdate, ...] = ()
    gap: BookGap | None = None
    snapshot_wanted: bool = False
    resynced: bool = False


class InstrumentSync:
    """The book of one instrument and its synchronisation state.

    Args:
        venue: The venue id.
        instrument: The canonical instrument.
        max_buffer: Diffs held back at most while unsynchronised.
        depth: Levels per side the venue's book keeps (see :class:`~streaming.book.OrderBook`).
        checksum: The venue's book checksum (see :class:`~streaming.book.OrderBook`).
    """

    def __init__(
        self,
        venue: str,
        instrument: str,
        max_buffer: int = MAX_BUFFER,
        depth: int | None = None,
        checksum: Checksum | None = None,
    ) -> None:
        self.book = OrderBook(venue, instrument, depth, checksum)
        self.symbol = ""
        self.state: State = "unsynced"
        self.buffer: deque[BookUpdate] = deque()
        self.max_buffer = max_buffer
        self.was_synced = False

    def update(self, update: BookUpdate) -> SyncActions:
        """Take one update from the stream (a ``snapshot`` from the wire: see the module docstring)."""
        self.symbol = update.symbol
        if update.kind == "snapshot":
            older = tuple(self.buffer)
            self.buffer.clear()
            actions = self._apply_snapshot(update)
            return dataclasses.replace(actions, publish=older + actions.publish)
        if self.state == "synced":
            result = self.book.apply(update)
            if result.status != "gap":
                if result.needs_snapshot:  # checksum or negative size: applied, but the book is wrong now
                    self.state = "fetching"
                    at = update.sequence or 0
                    reason: GapReason = "negative" if result.status == "negative" else "checksum"
                    gap = BookGap(self.book.instrument, update.symbol, at, at, reason)
                    return SyncActions(publish=(update,), gap=gap, snapshot_wanted=True)
                return SyncActions(publish=(update,))
            assert result.expected is not None and result.received is not None
            gap = BookGap(self.book.instrument, update.symbol, result.expected, result.received - 1)
            self.state = "fetching"
            self.buffer.append(update)
            return SyncActions(gap=gap, snapshot_wanted=True)
        self.buffer.append(update)
        overflow = self._overflow()
        if self.state == "unsynced":
            self.state = "fetching"
            return SyncActions(publish=overflow, snapshot_wanted=True)
        return SyncActions(publish=overflow)

    def snapshot(self, snapshot: BookUpdate) -> SyncActions:
        """Take a snapshot fetched from REST (Binance ``lastUpdateId`` is its ``sequence``)."""
        if self.buffer and snapshot.sequence is not None:
            first = self.buffer[0]
            start = first.first_sequence if first.first_sequence is not None else first.sequence
            if start is not None and start > snapshot.sequence + 1:
                # Older than every buffered diff: nothing to bridge them with; ask again (Binance step 4).
                self.state = "fetching"
                return SyncActions(snapshot_wanted=True)
        return self._apply_snapshot(snapshot)

    def snapshot_failed(self) -> SyncActions:
        """The snapshot could not be fetched: ask again with the next update."""
        if self.state == "fetching":
            self.state = "unsynced"
        return SyncActions()

    def desync(self, first_missing: int, last_missing: int) -> SyncActions:
        """Frames of a sequence spanning several books were lost: this book may have missed updates.

        A synchronised book reports a ``frames`` gap; whatever the state, a snapshot is wanted (the lost
        frames may have held the very snapshot being waited for).
        """
        gap = None
        if self.state == "synced":
            gap = BookGap(self.book.instrument, self.symbol, first_missing, last_missing, "frames")
        self.book.synced = False
        self.state = "fetching"
        return SyncActions(gap=gap, snapshot_wanted=True)

    def _apply_snapshot(self, snapshot: BookUpdate) -> SyncActions:
        self.symbol = snapshot.symbol
        resynced = self.was_synced and self.state != "synced"  # not a venue's routine snapshot (Polymarket's)
        self.book.apply(snapshot)
        self.was_synced = True
        self.state = "synced"
        published = [snapshot]
        while self.buffer:
            update = self.buffer[0]
            result = self.book.apply(update)
            if result.status == "gap":
                assert result.expected is not None and result.received is not None
                gap = BookGap(self.book.instrument, update.symbol, result.expected, result.received - 1)
                self.state = "fetching"
                return SyncActions(publish=tuple(published), gap=gap, snapshot_wanted=True, resynced=resynced)
            published.append(self.buffer.popleft())
        return SyncActions(publish=tuple(published), resynced=resynced)

    def _overflow(self) -> tuple[BookUpdate, ...]:
        released = []
        while len(self.buffer) > self.max_buffer:
            released.append(self.buffer.popleft())
        return tuple(released)


class BookSync:
    """The books of one venue's instruments.

    Args:
        venue: The venue id.
        max_buffer: Diffs held back per unsynchronised instrument, at most.
        depth: Levels per side the venue's book keeps (see :class:`~streaming.book.OrderBook`).
        checksum: The venue's book checksum (see :class:`~streaming.book.OrderBook`).
    """

    def __init__(
        self, venue: str, max_buffer: int = MAX_BUFFER, depth: int | None = None, checksum: Checksum | None = None
    ) -> None:
        self.venue = venue
        self.max_buffer = max_buffer
        self.depth = depth
        self.checksum = checksum
        self.instruments: dict[str, InstrumentSync] = {}

    def _of(self, instrument: str) -> InstrumentSync:
        sync = self.instruments.get(instrument)
        if sync is None:
            sync = InstrumentSync(self.venue, instrument, self.max_buffer, self.depth, self.checksum)
            self.instruments[instrument] = sync
        return sync

    def update(self, update: BookUpdate) -> SyncActions:
        """Take one update from the stream (see :meth:`InstrumentSync.update`)."""
        return self._of(update.instrument).update(update)

    def snapshot(self, snapshot: BookUpdate) -> SyncActions:
        """Take a REST snapshot (see :meth:`InstrumentSync.snapshot`)."""
        return self._of(snapshot.instrument).snapshot(snapshot)

    def snapshot_failed(self, instrument: str) -> SyncActions:
        """A snapshot of ``instrument`` could not be fetched (see :meth:`InstrumentSync.snapshot_failed`)."""
        return self._of(instrument).snapshot_failed()

    def desync(self, instrument: str, first_missing: int, last_missing: int) -> SyncActions:
        """Frames that may have held updates of ``instrument`` were lost (see :meth:`InstrumentSync.desync`)."""
        return self._of(instrument).desync(first_missing, last_missing)

    def book(self, instrument: str) -> OrderBook:
        """The current book of an instrument."""
        return self._of(instrument).book
