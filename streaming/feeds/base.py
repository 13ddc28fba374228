"""What a collector needs to know about one venue connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable

from websockets.asyncio.client import ClientConnection

from contracts.records import BookUpdate, Gap, Trade
from streaming.book import Checksum
from streaming.venues.base import ParsedFrame

SequenceReader = Callable[[ParsedFrame], Iterable[tuple[str, int]]]
"""Reads the (stream, sequence number) pairs a parsed frame carries, for gap detection."""


@dataclasses.dataclass(frozen=True)
class VenueFeed:
    """One venue connection: where to connect, how to parse, subscribe, detect and repair gaps.

    Attributes:
        venue: Venue id.
        url: The WebSocket URL.
        parse: The venue's pure frame parser.
        on_connect: Sends the subscriptions on every new connection.
        headers: Computes extra handshake headers per connection attempt (Kalshi's signature).
        app_ping: ``(text, seconds)``: an application-level ping the venue wants (Polymarket ``PING``).
        sequences: Reads the sequence numbers a frame carries (``stream``, number).
        horizons: Reads how far a stream has got according to a frame that carries none of its numbers
            (``stream``, last number that exists: a Coinbase Exchange heartbeat's ``last_trade_id``);
            what was not seen up to it is a gap (:meth:`~streaming.gaps.SequenceTracker.reveal`).
            Needs ``sequences``.
        sequences_per_connection: Whether numbering restarts on every connection (Coinbase
            ``sequence_num``, Kalshi ``seq``): then a reconnect starts every stream afresh. When it
            is ``False`` (trade ids), a range skipped across a reconnect is a gap too, and repaired.
        connection_streams: Streams whose numbering restarts on every connection although the feed's
            others do not (a connection-wide frame counter such as Coinbase ``sequence_num``, read next
            to trade ids).
        repair: Fetches the trades of a gap from the venue's REST history (blocking; run off the
            event loop).
        catch_up: After a reconnect, fetches the trades since the given event time (epoch ns) of
            each instrument, from the venue's REST history (blocking; run off the event loop); for
            venues whose stream carries no sequence to reveal what a disconnect lost.
        book_snapshot: Fetches a REST snapshot of one instrument's order book (blocking; run off the
            event loop), as a ``snapshot`` :class:`~contracts.records.BookUpdate` whose ``sequence`` the
            stream's diffs continue (Binance ``lastUpdateId``). When set, the collector keeps every
            instrument's book in sync (:mod:`streaming.book_sync`): it buffers diffs until a snapshot,
            records gaps in their sequence and resnapshots.
        book_resubscribe: Asks the venue, on the live connection, for a fresh snapshot of one
            instrument's book (typically: unsubscribe and subscribe again); the snapshot then arrives on
            the stream. For venues without REST snapshots (Kraken, Kraken Futures, Coinbase, Kalshi,
            Polymarket). When set, the collector keeps the books in sync as with ``book_snapshot``.
        book_depth: Levels per side the venue's book keeps (Kraken's subscribed depth, which its
            checksum covers); ``None``: all.
        book_checksum: Verifies the venue's book checksum (Kraken's CRC32); a mismatch resyncs the book.
        book_gaps: For a gap the ``sequences`` reader found on a stream, the instruments whose books it
            leaves unknown, for venues whose sequence spans several books or channels (Coinbase
            ``sequence_num``, a Kalshi subscription). The stream's own gap row records the frames lost
            (never repaired: they cannot be fetched again); the books are resynchronised and a
            ``book:<symbol>`` gap recorded for each that was in sync. No ``repair`` for such a stream.
    """

    venue: str
    url: str
    parse: Callable[[bytes, int], ParsedFrame]
    on_connect: Callable[[ClientConnection], Awaitable[None]] | None = None
    headers: Callable[[], dict[str, str]] | None = None
    app_ping: tuple[str, float] | None = None
    sequences: SequenceReader | None = None
    horizons: SequenceReader | None = None
    sequences_per_connection: bool = True
    connection_streams: frozenset[str] = frozenset()
    repair: Callable[[Gap], list[Trade]] | None = None
    catch_up: Callable[[dict[str, int]], list[Trade]] | None = None
    book_snapshot: Callable[[str], BookUpdate] | None = None
    book_resubscribe: Callable[[ClientConnection, str], Awaitable[None]] | None = None
    book_depth: int | None = None
    book_checksum: Checksum | None = None
    book_gaps: Callable[[str], Iterable[str]] | None = None

    @property
    def keeps_books(self) -> bool:
        """Whether the collector keeps this venue's books in sync (it can resnapshot them)."""
        return self.book_snapshot is not None or self.book_resubscribe is not None
