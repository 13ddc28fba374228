"""The Polymarket feed: the CLOB market channel (trades, books, market events), and a catch-up after every reconnect.

Conventions (see :mod:`streaming.venues.polymarket`, which cites the Polymarket documentation):

* **Connection.** ``settings.ws_url("polymarket")`` + ``/ws/market`` (the real base is
  ``wss://ws-subscriptions-clob.polymarket.com``); on every connection the feed sends
  :func:`~streaming.venues.polymarket.subscribe_message` for the configured assets (at most 500) and
  the text ``PING`` every 10 s (``app_ping``), which the venue answers ``PONG``.
* **No sequence.** The market channel numbers nothing, and a trade's id is its transaction hash, so
  neither a lost frame nor a lost connection shows on the wire: :attr:`VenueFeed.sequences` is ``None``
  and there is no gap repair.
* **Books.** The subscription carries every asset's book: ``book`` messages are full snapshots (one
  opens every subscription and the venue sends another after every trade that affects the book),
  ``price_change`` messages are deltas (each entry the new aggregate size of a level). The collector
  keeps the books with :class:`~streaming.book_sync.BookSync` (``book_resubscribe`` is set). Integrity:
  the ``hash`` of a ``book`` and of a ``price_change`` entry cannot be verified (a SHA-1 of fields the
  message does not carry, 160 bits that do not fit ``BookUpdate.checksum``; see
  :mod:`streaming.venues.polymarket`), but every ``price_change`` entry carries the venue's own
  ``best_bid``/``best_ask`` after it, which the parser returns as a :class:`~contracts.records.Ticker`
  right after the asset's delta, with that top of book as the delta's ``checksum``
  (:func:`streaming.venues.polymarket.top_of_book_checksum`, a CRC32 of the two prices); ``book_checksum`` checks
  the collector's book against it: a ``price_change`` lost on the way shows as a mismatch as soon as a
  later one reports a top the collector's book does not have, which is recorded as a ``book:<asset>``
  gap and followed by :func:`resubscribe`. A lost change that never reaches the top is not seen; the next
  ``book`` (the next trade) heals it. The checksum is the parser's, so reprocessing
  ``bronze.raw_messages`` reproduces it.
* **Resubscribe** (:func:`resubscribe`): ``{"assets_ids": [asset], "operation": "subscribe"}`` for an
  asset the connection already has. Assumption: the venue answers every subscribe with the ``book`` of
  its assets (the documentation says a ``book`` is sent "when first subscribed"; the AsyncAPI reference's
  ``initial_dump``, default true, is the option that sends it). No unsubscribe first: trades and books
  share the subscription, so one would lose the asset's trades in between.
  ``best_bid_ask``, ``tick_size_change``, ``new_market`` and ``market_resolved`` (the last three need
  ``custom_feature_enabled``, which the subscription sets) become tickers and lifecycle records.
* **Catch-up** (:meth:`PolymarketFeed.catch_up`). After a reconnect the collector asks for the trades
  since its last event time per instrument. The feed fetches the public Data API ``GET /trades`` of each
  instrument's market (``settings.rest_url("polymarket")`` + ``/trades``, the request of
  :func:`~streaming.venues.polymarket.rest_trades_request`: newest first, ``limit``/``offset`` paging,
  ``takerOnly=true``), pages back until the rows are older than the window (or the API's offset limit
  of 10000: what lies beyond is out of reach for good, logged as an error, and the connection counts
  as reconciled so later catch-ups do not page back to it again), and keeps the instrument's rows in the window with
  :func:`~streaming.venues.polymarket.parse_rest_trades`. The ids are the transaction hashes, the same
  as the stream's, so the collector's deduplication on (symbol, trade id) drops what it already has.
* **Window.** Since nothing on the wire reveals what a connection lost while it was open (a frame the
  venue never sent, a silence that ended by itself), the window of an instrument starts at the earlier
  of the collector's last event time and the start of the oldest connection not yet reconciled (the
  previous one, normally), less :data:`CLOCK_MARGIN_NS` for the venue's clock. The Data API has
  second resolution, so the window starts on a whole second; the catch-up therefore re-reads the
  previous connection's trades and the last second before it, which the collector deduplicates.
  Only a catch-up that reached every instrument's market marks those connections reconciled.
* **Markets.** The Data API filters by market (condition id), which no record carries; every market-channel
  message has it in ``market``, so the feed learns it from the frames it parses
  (:func:`~streaming.venues.polymarket.asset_markets`; the ``book`` snapshots that open every
  connection name every subscribed asset's market). Instruments of one market share its requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence

import orjson
from websockets.asyncio.client import ClientConnection

from contracts.records import Trade
from streaming import rest
from streaming.feeds.base import VenueFeed
from streaming.venues import polymarket
from streaming.venues.base import ParsedFrame
from ticklake.settings import Settings
from ticklake.timeutil import NS_PER_SECOND, now_ns

log = logging.getLogger(__name__)

WS_PATH = "/ws/market"
"""The market channel's path under the venue's WebSocket base URL."""

PAGE_ROWS = 500
"""Rows per Data API page (the older documentation's maximum)."""

MAX_OFFSET = 10_000
"""The Data API's largest ``offset``: older rows cannot be paged to."""

CLOCK_MARGIN_NS = 2 * NS_PER_SECOND
"""How much earlier than our clock's connection start a catch-up window opens (venue clock skew)."""


async def resubscribe(websocket: ClientConnection, instrument: str) -> None:
    """Ask for a fresh ``book`` of one asset on the live connection: subscribe to it again.

    The venue answers a ``subscribe`` operation with the ``book`` of its assets, also of one the
    connection already has (no unsubscribe first: that would lose the asset's trades in between).

    Args:
        websocket: The live market-channel connection.
        instrument: ``"POLYMARKET:<asset_id>"``.
    """
    message = polymarket.update_subscription_message([polymarket.to_symbol(instrument)], "subscribe")
    await websocket.send(message)


def catch_up_windows(
    instruments: Iterable[str], since: Mapping[str, int], unreconciled_from: int | None
) -> dict[str, int]:
    """The start of each instrument's catch-up window, epoch ns, on a whole second.

    Args:
        instruments: The instruments captured.
        since: The collector's last event time per instrument (epoch ns); may lack some.
        unreconciled_from: When the oldest connection not yet reconciled started (epoch ns), or ``None``.

    Returns:
        Instrument -> the whole second (in ns) from which its trades are fetched: the earlier of its
        last event and ``unreconciled_from`` less :data:`CLOCK_MARGIN_NS`. An instrument with neither
        is left out.
    """
    windows: dict[str, int] = {}
    for instrument in instruments:
        starts = [since[instrument]] if instrument in since else []
        if unreconciled_from is not None:
            starts.append(unreconciled_from - CLOCK_MARGIN_NS)
        if starts:
            start = max(0, min(starts))
            windows[instrument] = start - start % NS_PER_SECOND
    return windows


def page_extent(body: bytes) -> tuple[int, int | None]:
    """The number of rows of a Data API ``/trades`` page and its oldest ``timestamp`` (seconds).

    Args:
        body: A page :func:`~streaming.venues.polymarket.parse_rest_trades` accepted.

    Returns:
        ``(rows, oldest)``; ``oldest`` is ``None`` for an empty page.
    """
    rows = orjson.loads(body)
    times = [row["timestamp"] for row in rows if isinstance(row, dict) and isinstance(row.get("timestamp"), int)]
    return len(rows), (min(times) if times else None)


class PolymarketFeed:
    """The state of one Polymarket capture: learned markets, connection starts, the catch-up.

    Args:
        settings: ``instruments_of("polymarket")``, ``ws_url`` and ``rest_url`` are used.

    Raises:
        ValueError: No instruments, more than 500, or one that is not a Polymarket instrument.
    """

    def __init__(self, settings: Settings) -> None:
        self.instruments: tuple[str, ...] = tuple(settings.instruments_of(polymarket.VENUE))
        self.assets = [polymarket.to_symbol(instrument) for instrument in self.instruments]
        self.subscription = polymarket.subscribe_message(self.assets)
        self.url = settings.ws_url(polymarket.VENUE).rstrip("/") + WS_PATH
        self.rest_url = settings.rest_url(polymarket.VENUE)
        self.markets: dict[str, str] = {}
        """Asset id -> condition id, as learned from the frames."""
        self._lock = threading.Lock()
        self._unknown_markets = set(self.assets)
        self._unreconciled_from: int | None = None
        self._latest_start: int | None = None

    def parse(self, raw: bytes, received_at: int) -> ParsedFrame:
        """Parse a frame with :func:`streaming.venues.polymarket.parse`, learning the markets it names."""
        parsed = polymarket.parse(raw, received_at)
        if self._unknown_markets and parsed.records:
            learned = polymarket.asset_markets(raw)
            with self._lock:
                self.markets.update(learned)
                self._unknown_markets.difference_update(learned)
        return parsed

    async def on_connect(self, websocket: ClientConnection) -> None:
        """Note the connection's start and send the subscription."""
        started = now_ns()
        with self._lock:
            self._latest_start = started
            if self._unreconciled_from is None:
                self._unreconciled_from = started
        await websocket.send(self.subscription)

    def catch_up(self, since: dict[str, int]) -> list[Trade]:
        """Fetch the trades of every instrument's catch-up window from the Data API (blocking).

        Args:
            since: The collector's last event time per instrument, epoch ns.

        Returns:
            The trades found, oldest first per instrument, each identity once.

        Raises:
            StreamingError: A request failed (nothing is marked reconciled).
            ParseError: A page is not a well-formed ``/trades`` response.
        """
        with self._lock:
            unreconciled_from, current = self._unreconciled_from, self._latest_start
            markets = dict(self.markets)
        windows = catch_up_windows(self.instruments, since, unreconciled_from)
        by_market: dict[str, list[str]] = {}
        complete = len(windows) == len(self.instruments)
        for instrument in windows:
            market = markets.get(polymarket.to_symbol(instrument))
            if market is None:
                log.warning("polymarket catch-up: the market of %s is unknown yet; cannot fetch its trades", instrument)
                complete = False
                continue
            by_market.setdefault(market, []).append(instrument)
        found: dict[tuple[str, str], Trade] = {}
        for market, instruments in by_market.items():
            complete &= self._fetch_market(market, instruments, windows, found)
        if complete and current is not None:
            with self._lock:
                if self._unreconciled_from is None or self._unreconciled_from < current:
                    self._unreconciled_from = current
        trades = sorted(found.values(), key=lambda trade: (trade.instrument, trade.ts_event))
        log.info(
            "polymarket catch-up: %d trades of %d instruments since %s s%s",
            len(trades),
            len(windows),
            min(windows.values(), default=0) // NS_PER_SECOND,
            "" if complete else " (incomplete: these connections stay unreconciled)",
        )
        return trades

    def _fetch_market(
        self, market: str, instruments: Sequence[str], windows: Mapping[str, int], found: dict[tuple[str, str], Trade]
    ) -> bool:
        """Page one market's trades back to its instruments' earliest window start.

        Returns:
            Whether nothing more can be fetched: the window start was reached, or the Data API's offset
            limit was (older trades are out of its reach for good, so asking again would not help: the
            loss is logged as an error, and the connections count as reconciled).
        """
        earliest = min(windows[instrument] for instrument in instruments)
        offset = 0
        while True:
            path, params = polymarket.rest_trades_request(
                instruments[0], market, limit=PAGE_ROWS, offset=offset, base_url=""
            )
            body = rest.get(self.rest_url, path, params)
            received = now_ns()
            for instrument in instruments:
                for trade in reversed(polymarket.parse_rest_trades(body, received, instrument)):
                    if trade.ts_event >= windows[instrument]:
                        found.setdefault((trade.symbol, trade.trade_id), trade)
            rows, oldest = page_extent(body)
            if rows < PAGE_ROWS or oldest is None or oldest * NS_PER_SECOND < earliest:
                return True
            offset += PAGE_ROWS
            if offset > MAX_OFFSET:
                log.error(
                    "polymarket catch-up: market %s has more than %d trades since %d s: the ones before %d s are "
                    "out of the Data API's reach and may be lost",
                    market,
                    MAX_OFFSET,
                    earliest // NS_PER_SECOND,
                    oldest,
                )
                return True


def feed(settings: Settings) -> VenueFeed:
    """The Polymarket market-channel feed of the configured instruments: catch-up, books kept by resubscribing."""
    state = PolymarketFeed(settings)
    return VenueFeed(
        venue=polymarket.VENUE,
        url=state.url,
        parse=state.parse,
        on_connect=state.on_connect,
        app_ping=(polymarket.PING_MESSAGE, polymarket.PING_INTERVAL_SECONDS),
        catch_up=state.catch_up,
        book_resubscribe=resubscribe,
        book_checksum=polymarket.top_of_book_checksum,
    )
