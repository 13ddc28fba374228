"""The Kraken Futures feed: trade, book and ticker feeds, ``seq`` gaps repaired over REST, books resubscribed.

Conventions relied on (see :mod:`streaming.venues.krakenfutures`, which cites the venue's documentation and
captures):

* **Connection.** ``<ws base>/ws/v1`` (``wss://futures.kraken.com/ws/v1`` on the venue); every new connection
  subscribes to the ``trade``, ``book`` and ``ticker`` feeds of the configured products and to the ``heartbeat``
  feed (so that a quiet market still shows a live connection to the stale watchdog).
* **Books.** A ``book`` subscription starts with a ``book_snapshot`` (``seq`` of its latest change), then one
  ``book`` message per changed level with the next ``seq`` of that product's book feed. The venue has no book
  checksum and sends the whole book (no depth to truncate to), so ``book_depth`` and ``book_checksum`` stay
  unset. A missing ``seq`` is found by the collector's book reducer (:class:`~streaming.book.OrderBook`, per
  product: the parser sets ``prev_sequence = seq - 1``), recorded as a ``book:<product_id>`` gap, and repaired
  by :func:`book_resubscriber`: ``unsubscribe`` then ``subscribe`` the ``book`` feed of that one product on the
  live connection, which makes the venue send a fresh ``book_snapshot``. The REST order book
  (``GET /derivatives/api/v3/orderbook``) is documented without a ``seq``, so it cannot be bridged with the
  stream; a subscription's snapshot can, and it is what the venue sends on every (re)connection anyway.
  The book ``seq`` is a separate counter from the trade ``seq`` and is not read by
  :meth:`KrakenFuturesReader.sequences` (so ``book_gaps`` is not needed).
* **Tickers** (``ticker`` feed, one message per product per second) carry no sequence: they are published as
  they come.
* **Sequences.** A trade's ``seq`` is a per-product counter of the trade feed: consecutive trades of a product
  carry consecutive values, whatever the connection (the ``trade_snapshot`` sent on every subscription keeps
  each trade's number). The parser validates ``seq`` but does not keep it (a
  :class:`~contracts.records.Trade` has no sequence field), so this feed's :meth:`KrakenFuturesReader.parse`
  wraps the parser and returns a :class:`SequencedFrame` that also carries the ``("trade:<product_id>", seq)``
  pairs of its trades, in ``seq`` order. Numbering does not restart with a connection
  (``sequences_per_connection=False``): what a disconnect lost shows up as a gap at the first trade after the
  reconnect -- the resubscription's snapshot or the next live trade -- and is repaired, so no time-based
  ``catch_up`` is needed.
* **Repair.** The REST history (``GET /api/history/v3/market/{product_id}/executions``) has no ``seq``; it
  lists executions by time, and its execution ``uid`` is the socket's trade ``uid``. So the reader keeps, per
  product, the ``uid`` and time of the recent trades by ``seq`` (:class:`SeqAnchors`), and a gap
  ``first..last`` is repaired by listing the history from the time of trade ``first - 1`` (the last one
  before the gap), page by page (the next page starts at the last listed trade's time; repeats are dropped by
  ``uid``), until trade ``last + 1`` (the one that revealed the gap) appears: the gap's trades are exactly
  those listed between the two. Without the earlier anchor, the ``missing`` trades just before the later
  one are taken (listing from :data:`FALLBACK_LOOKBACK_MS` before it); without the later one (a history that
  lags the socket), the ``missing`` trades just after the earlier one.
* **Limits.** The venue's counter restarts with its trading engine: a lower ``seq`` then reads as a repeat to
  the collector's tracker, and gaps go unseen until the numbers pass the old ones. Paging by time stalls
  when more than one page of trades shares a millisecond; the repair then returns what it found and the gap
  is recorded as not (fully) repaired.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from websockets.asyncio.client import ClientConnection

from contracts.records import Gap, Trade
from streaming import rest
from streaming.errors import StreamingError
from streaming.feeds.base import VenueFeed
from streaming.venues import krakenfutures
from streaming.venues.base import ParsedFrame
from streaming.venues.wire import NS_PER_MILLISECOND
from ticklake.settings import Settings
from ticklake.timeutil import now_ns

log = logging.getLogger(__name__)

WS_PATH = "/ws/v1"
"""The venue's WebSocket path below its base URL."""

ANCHORS_PER_STREAM = 20_000
"""Recent trades per product whose ``seq`` -> (``uid``, time) the reader remembers for repairs."""

FALLBACK_LOOKBACK_MS = 10 * 60 * 1000
"""Without the trade before a gap, the history is listed from this long before the trade after it."""

MAX_PAGES = 1000
"""The most history pages one repair requests."""

_TRADE_CHANNEL = "trade:"
_DECODER = json.JSONDecoder(parse_float=Decimal)


@dataclasses.dataclass(frozen=True, slots=True)
class SequencedFrame(ParsedFrame):
    """A parsed frame with the trade sequence numbers it carries.

    Attributes:
        sequences: ``(stream, seq)`` pairs, ``stream`` being the frame's channel (``"trade:PF_XBTUSD"``), in
            ``seq`` order.
    """

    sequences: tuple[tuple[str, int], ...] = ()


class Anchor(NamedTuple):
    """A trade seen on the socket, as a repair needs it.

    Attributes:
        trade_id: Its ``uid``.
        ts_ms: Its ``time``, epoch milliseconds.
    """

    trade_id: str
    ts_ms: int


def trade_sequences(raw: bytes | str, parsed: ParsedFrame) -> list[tuple[int, Anchor]]:
    """The ``seq`` of each trade of a parsed ``trade`` or ``trade_snapshot`` frame.

    Args:
        raw: The frame as received (already accepted by :func:`streaming.venues.krakenfutures.parse`).
        parsed: What the parser made of it.

    Returns:
        ``(seq, anchor)`` per trade, in ``seq`` order (empty for any other frame).
    """
    if not parsed.channel.startswith(_TRADE_CHANNEL) or not parsed.records:
        return []
    message: dict[str, Any] = _DECODER.decode(raw.decode() if isinstance(raw, bytes | bytearray) else raw)
    items = message["trades"] if message.get("feed") == "trade_snapshot" else [message]
    seq_of_uid = {item["uid"]: item["seq"] for item in items}
    pairs = [
        (seq_of_uid[trade.trade_id], Anchor(trade.trade_id, trade.ts_event // NS_PER_MILLISECOND))
        for trade in parsed.records
        if isinstance(trade, Trade)
    ]
    pairs.sort(key=lambda pair: pair[0])
    return pairs


class SeqAnchors:
    """Per stream, the most recent trades seen by ``seq`` (bounded; safe to read from a repair thread).

    Args:
        capacity: Trades remembered per stream.
    """

    def __init__(self, capacity: int = ANCHORS_PER_STREAM) -> None:
        self._capacity = capacity
        self._streams: dict[str, collections.OrderedDict[int, Anchor]] = {}
        self._lock = threading.Lock()

    def add(self, stream: str, seq: int, anchor: Anchor) -> None:
        """Remember that trade ``seq`` of ``stream`` is ``anchor``."""
        with self._lock:
            known = self._streams.setdefault(stream, collections.OrderedDict())
            known[seq] = anchor
            known.move_to_end(seq)
            if len(known) > self._capacity:
                known.popitem(last=False)

    def get(self, stream: str, seq: int) -> Anchor | None:
        """The trade ``seq`` of ``stream``, if still remembered."""
        with self._lock:
            known = self._streams.get(stream)
            return known.get(seq) if known is not None else None


class KrakenFuturesReader:
    """The feed's parser and sequence reader: the venue parser, plus each trade's ``seq``.

    Attributes:
        anchors: The recent trades by ``seq``, for :func:`repairer`.
    """

    def __init__(self, anchors: SeqAnchors | None = None) -> None:
        self.anchors = anchors or SeqAnchors()

    def parse(self, raw: bytes, received_at: int) -> ParsedFrame:
        """Parse a frame with :func:`streaming.venues.krakenfutures.parse`; trade frames carry their ``seq`` too.

        Raises:
            ParseError: The venue parser rejects the frame.
        """
        parsed = krakenfutures.parse(raw, received_at)
        pairs = trade_sequences(raw, parsed)
        if not pairs:
            return parsed
        for seq, anchor in pairs:
            self.anchors.add(parsed.channel, seq, anchor)
        return SequencedFrame(
            channel=parsed.channel,
            records=parsed.records,
            control=parsed.control,
            sequences=tuple((parsed.channel, seq) for seq, _ in pairs),
        )

    @staticmethod
    def sequences(parsed: ParsedFrame) -> Iterable[tuple[str, int]]:
        """The ``(stream, seq)`` pairs of a frame :meth:`parse` returned."""
        return parsed.sequences if isinstance(parsed, SequencedFrame) else ()


def gap_trades(listed: Sequence[Trade], before: str | None, after: str | None, missing: int) -> list[Trade]:
    """The trades of a gap among trades listed from the history.

    Args:
        listed: Trades listed from the history, oldest first, without repeats.
        before: The ``uid`` of the trade just before the gap (``None``: unknown).
        after: The ``uid`` of the trade just after the gap (``None``: unknown).
        missing: How many trades the gap lacks.

    Returns:
        The trades strictly between the two trades when both are listed; else the ``missing`` trades next to
        the one that is; else none.
    """
    ids = [trade.trade_id for trade in listed]
    start = ids.index(before) + 1 if before is not None and before in ids else None
    end = ids.index(after) if after is not None and after in ids else None
    if start is not None and end is not None:
        return list(listed[start:end])
    if end is not None:
        return list(listed[max(0, end - missing) : end])
    if start is not None:
        return list(listed[start : start + missing])
    return []


def repairer(settings: Settings, anchors: SeqAnchors) -> Callable[[Gap], list[Trade]]:
    """Repair a ``seq`` gap of a product from the public execution history (see the module docs).

    Args:
        settings: ``rest_url(krakenfutures)`` is used.
        anchors: The trades seen on the socket by ``seq`` (the reader's).

    Returns:
        The blocking repair function.
    """
    base = settings.rest_url(krakenfutures.VENUE)

    def repair(gap: Gap) -> list[Trade]:
        instrument = krakenfutures.to_instrument(gap.stream.removeprefix(_TRADE_CHANNEL))
        before = anchors.get(gap.stream, gap.first_missing - 1)
        after = anchors.get(gap.stream, gap.last_missing + 1)
        if before is not None:
            since = before.ts_ms
        elif after is not None:
            since = max(0, after.ts_ms - FALLBACK_LOOKBACK_MS)
        else:
            raise StreamingError(f"no trade seen next to {gap.stream} {gap.first_missing}..{gap.last_missing}")
        before_id = before.trade_id if before is not None else None
        after_id = after.trade_id if after is not None else None
        listed: dict[str, Trade] = {}
        for _ in range(MAX_PAGES):
            path, params = krakenfutures.rest_trades_request(instrument, since)
            page = krakenfutures.parse_rest_trades(rest.get(base, path, params), now_ns(), instrument)
            new = [trade for trade in page if trade.trade_id not in listed]
            listed.update((trade.trade_id, trade) for trade in new)
            if not new or (after_id is not None and after_id in listed):
                break
            if after_id is None and len(gap_trades(list(listed.values()), before_id, None, gap.missing)) >= gap.missing:
                break
            since = page[-1].ts_event // NS_PER_MILLISECOND
        found = gap_trades(list(listed.values()), before_id, after_id, gap.missing)
        if len(found) != gap.missing:
            log.warning(
                "krakenfutures repair of %s %d..%d: %d trades in the history for %d missing",
                gap.stream,
                gap.first_missing,
                gap.last_missing,
                len(found),
                gap.missing,
            )
        return found

    return repair


def book_resubscriber() -> Callable[[ClientConnection, str], Awaitable[None]]:
    """Ask the venue for a fresh ``book_snapshot`` of one instrument: unsubscribe, then subscribe its ``book`` feed.

    Returns:
        The coroutine function the collector calls with the live connection and a canonical instrument.
    """

    async def resubscribe(connection: ClientConnection, instrument: str) -> None:
        product_ids = [krakenfutures.to_symbol(instrument)]
        await connection.send(krakenfutures.unsubscribe_message("book", product_ids))
        await connection.send(krakenfutures.subscribe_message("book", product_ids))

    return resubscribe


def feed(settings: Settings) -> VenueFeed:
    """The Kraken Futures feed of the configured instruments (``trade``, ``book``, ``ticker`` and ``heartbeat``)."""
    product_ids = krakenfutures.product_ids(settings.instruments_of(krakenfutures.VENUE))
    requests = (
        krakenfutures.subscribe_message("trade", product_ids),
        krakenfutures.subscribe_message("book", product_ids),
        krakenfutures.subscribe_message("ticker", product_ids),
        krakenfutures.subscribe_message("heartbeat", []),
    )

    async def subscribe(connection: ClientConnection) -> None:
        for request in requests:
            await connection.send(request)

    reader = KrakenFuturesReader()
    return VenueFeed(
        venue=krakenfutures.VENUE,
        url=settings.ws_url(krakenfutures.VENUE).rstrip("/") + WS_PATH,
        parse=reader.parse,
        on_connect=subscribe,
        sequences=reader.sequences,
        sequences_per_connection=False,
        repair=repairer(settings, reader.anchors),
        book_resubscribe=book_resubscriber(),
    )
