"""The Kraken spot feed (WebSocket v2): trades with trade-id gaps repaired from ``/0/public/Trades``, books, tickers.

Venue conventions relied on (see :mod:`streaming.venues.kraken`, which cites the Kraken references):

* The endpoint is ``<ws base>/v2`` (``wss://ws.kraken.com/v2``); on every connection the feed sends one
  ``subscribe`` to the ``trade`` channel for every configured pair, with ``snapshot: true``: the snapshot (the
  pair's last 50 trades) re-delivers trades after a reconnect, which the collector deduplicates on
  ``(symbol, trade_id)``, and fills a short disconnect by itself.
* ``trade_id`` is "a sequence number, unique per book": consecutive per pair and independent of the connection,
  so the stream ``trades:<symbol>`` is checked across reconnects (``sequences_per_connection=False``): a range
  skipped while disconnected shows as a gap when the next snapshot or update arrives, which is why no
  ``catch_up`` is needed. Kraken puts no other sequence number on trades.
* Repair reads the REST history ``GET /0/public/Trades?pair=&since=&count=``, whose ``since`` is a time in
  nanoseconds and exclusive, and whose ``last`` is the next page's cursor. A gap is known by trade ids, not
  times, so the feed remembers, for every jump in a pair's trade ids, the event time of the trade before it
  (:class:`GapAnchors`), and starts the history 1 ns before that time (trades stamped at the same time as that
  trade are included, the ones already held deduplicate). Pages start 1 ns before the previous page's
  ``last`` for the same reason, until the gap's ids are covered.
* Books and tickers: on every connection the feed also subscribes the ``book`` channel of every pair with
  ``depth`` 10 (:data:`BOOK_DEPTH`, Kraken's default) and ``snapshot: true``, and the ``ticker`` channel with
  Kraken's default ``event_trigger`` (``trades``). A book frame carries no sequence number, only ``checksum``: the
  CRC32 of the venue's top 10 levels a side after the frame (checksum guide,
  https://docs.kraken.com/api/docs/guides/spot-ws-book-v2). The collector therefore keeps each pair's book with
  ``book_depth`` 10 (the subscriber truncates to its depth after every update, Kraken sending no removal for a level
  that falls out of scope) and ``book_checksum`` :func:`streaming.venues.kraken.book_checksum` over the parsed
  decimals (the wire prints the engine's full text, so no pair precisions are needed). A mismatch is the only gap
  signal Kraken books have (a lost update shows up as the next update's checksum); it is recorded as a
  ``book:<symbol>`` gap and repaired by :func:`book_resubscriber`: ``unsubscribe`` then ``subscribe`` of that one
  pair's book, after which Kraken sends a fresh snapshot (there is no REST snapshot of the WebSocket book). No
  ``book_gaps``: no sequence is shared by several books.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator

from websockets.asyncio.client import ClientConnection

from contracts.records import Gap, Trade
from streaming import rest
from streaming.feeds.base import VenueFeed
from streaming.venues import kraken
from streaming.venues.base import ParsedFrame
from ticklake.settings import Settings
from ticklake.timeutil import now_ns

WS_PATH = "/v2"
"""The public WebSocket v2 path under the venue's base URL."""

STREAM_PREFIX = "trades:"
"""Gap streams are ``trades:<v2 symbol>``."""

BOOK_DEPTH = 10
"""The subscribed book depth: Kraken's default, and the depth its checksum covers."""

ANCHORS_KEPT = 10_000
"""Gap anchors remembered (the oldest are forgotten first)."""

FALLBACK_LOOKBACK_NS = 60 * 1_000_000_000
"""When no anchor is known for a gap, the history is read from this long before the gap was detected."""

MAX_PAGES = 100
"""At most this many REST pages per repair."""


def stream_of(symbol: str) -> str:
    """The gap stream of a v2 symbol (``"trades:BTC/USD"``)."""
    return f"{STREAM_PREFIX}{symbol}"


def trade_ids(parsed: ParsedFrame) -> Iterable[tuple[str, int]]:
    """The trade ids of a ``trade`` frame (snapshot or update), per pair: ``("trades:BTC/USD", 97184416)``."""
    if parsed.channel == "trade":
        for record in parsed.records:
            if isinstance(record, Trade):
                yield stream_of(record.symbol), int(record.trade_id)


class GapAnchors:
    """The event time of the newest trade before each jump in a pair's trade ids: where a repair starts.

    It follows the trade ids exactly as the collector's sequence tracker does (the first id is the baseline,
    older or repeated ids are ignored), so the anchor of a gap ``first_missing..last_missing`` is found under
    ``(stream, first_missing)``. Written on the event loop, read by repairs in worker threads.

    Args:
        capacity: How many anchors to remember.
    """

    def __init__(self, capacity: int = ANCHORS_KEPT) -> None:
        self._capacity = capacity
        self._newest: dict[str, tuple[int, int]] = {}
        self._anchors: collections.OrderedDict[tuple[str, int], int] = collections.OrderedDict()
        self._lock = threading.Lock()

    def observe(self, stream: str, trade_id: int, ts_event: int) -> None:
        """Note one trade of a stream, in the order the collector sees it."""
        newest = self._newest.get(stream)
        if newest is not None and trade_id <= newest[0]:
            return
        self._newest[stream] = (trade_id, ts_event)
        if newest is not None and trade_id > newest[0] + 1:
            with self._lock:
                self._anchors[(stream, newest[0] + 1)] = newest[1]
                while len(self._anchors) > self._capacity:
                    self._anchors.popitem(last=False)

    def since(self, stream: str, first_missing: int) -> int | None:
        """The event time (epoch ns) of the trade just before a gap, if it was seen."""
        with self._lock:
            return self._anchors.get((stream, first_missing))


def sequence_reader(anchors: GapAnchors) -> Callable[[ParsedFrame], Iterable[tuple[str, int]]]:
    """A sequence reader (:func:`trade_ids`) that also notes the gap anchors of the trades it reads."""

    def read(parsed: ParsedFrame) -> Iterable[tuple[str, int]]:
        numbers = list(trade_ids(parsed))
        for record in parsed.records:
            if isinstance(record, Trade):
                anchors.observe(stream_of(record.symbol), int(record.trade_id), record.ts_event)
        return numbers

    return read


def repairer(settings: Settings, anchors: GapAnchors) -> Callable[[Gap], list[Trade]]:
    """Repair a trade-id gap from ``/0/public/Trades``, page by page, returning exactly the gap's trades."""
    base = settings.rest_url(kraken.VENUE)

    def repair(gap: Gap) -> list[Trade]:
        instrument = kraken.to_instrument(gap.stream.removeprefix(STREAM_PREFIX))
        anchor = anchors.since(gap.stream, gap.first_missing)
        since = max(0, (anchor if anchor is not None else gap.ts_recv - FALLBACK_LOOKBACK_NS) - 1)
        found: dict[int, Trade] = {}
        for _ in range(MAX_PAGES):
            path, params = kraken.rest_trades_request(instrument, since)
            body = rest.get(base, path, params)
            page = kraken.parse_rest_trades(body, now_ns(), instrument)
            for trade in page:
                if gap.first_missing <= int(trade.trade_id) <= gap.last_missing:
                    found[int(trade.trade_id)] = trade
            if not page or len(found) == gap.missing or max(int(t.trade_id) for t in page) >= gap.last_missing:
                break
            last = kraken.rest_trades_next_since(body)
            following = last - 1 if last - 1 > since else last  # overlap by 1 ns unless that makes no progress
            if following <= since:
                break
            since = following
        return [found[trade_id] for trade_id in sorted(found)]

    return repair


def on_connect(symbols: list[str], req_ids: Iterator[int]) -> Callable[[ClientConnection], Awaitable[None]]:
    """Subscribe the trades, books and tickers of every pair on a new connection (a fresh ``req_id`` each).

    Trades are subscribed first: their snapshot starts the pairs' trade-id streams as before.

    Args:
        symbols: The v2 symbols of the configured pairs.
        req_ids: The feed's request ids (shared with :func:`book_resubscriber`).
    """

    async def subscribe(websocket: ClientConnection) -> None:
        await websocket.send(kraken.subscribe_message("trade", symbols, next(req_ids), snapshot=True))
        await websocket.send(kraken.subscribe_message("book", symbols, next(req_ids), depth=BOOK_DEPTH, snapshot=True))
        await websocket.send(kraken.subscribe_message("ticker", symbols, next(req_ids), snapshot=True))

    return subscribe


def book_resubscriber(req_ids: Iterator[int]) -> Callable[[ClientConnection, str], Awaitable[None]]:
    """Ask for a fresh snapshot of one pair's book: ``unsubscribe`` then ``subscribe`` its ``book`` channel.

    Kraken answers the unsubscribe, sends no more updates of that book, then answers the subscribe with an ack and
    a ``snapshot`` of the book, which the collector's book sync takes as the resynchronisation.

    Args:
        req_ids: The feed's request ids (shared with :func:`on_connect`).

    Returns:
        ``resubscribe(websocket, instrument)``, the feed's ``book_resubscribe``.
    """

    async def resubscribe(websocket: ClientConnection, instrument: str) -> None:
        symbols = [kraken.to_symbol(instrument)]
        await websocket.send(kraken.unsubscribe_message("book", symbols, next(req_ids), depth=BOOK_DEPTH))
        await websocket.send(kraken.subscribe_message("book", symbols, next(req_ids), depth=BOOK_DEPTH, snapshot=True))

    return resubscribe


def feed(settings: Settings) -> VenueFeed:
    """The Kraken spot v2 feed of the configured instruments: trades (gap-repaired), books and tickers."""
    symbols = [kraken.to_symbol(instrument) for instrument in settings.instruments_of(kraken.VENUE)]
    anchors = GapAnchors()
    req_ids = itertools.count(1)
    return VenueFeed(
        venue=kraken.VENUE,
        url=settings.ws_url(kraken.VENUE).rstrip("/") + WS_PATH,
        parse=kraken.parse,
        on_connect=on_connect(symbols, req_ids),
        sequences=sequence_reader(anchors),
        sequences_per_connection=False,
        repair=repairer(settings, anchors),
        book_resubscribe=book_resubscriber(req_ids),
        book_depth=BOOK_DEPTH,
        book_checksum=kraken.book_checksum,
    )
