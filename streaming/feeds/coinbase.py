"""The Coinbase feeds, Advanced Trade (trades, books, tickers) or Exchange (trades); gaps repaired from REST.

``settings.coinbase_feed`` picks the feed: ``"advanced"`` (default) or ``"exchange"``.

Advanced Trade:

* **URL.** Advanced Trade serves its market data at the root of ``wss://advanced-trade-ws.coinbase.com``,
  so the feed connects to ``settings.ws_url("coinbase")`` as is (the simulator's ``ws://<sim>/coinbase``).
* **Subscriptions.** On every connection, for the configured instruments: ``market_trades``, ``level2``
  (order books; its frames are ``l2_data``) and ``ticker``, then ``heartbeats`` (one frame a second, which
  keeps a quiet connection open and the stale-connection watchdog fed). Coinbase takes one channel per
  request and acknowledges each with a ``subscriptions`` frame; ``market_trades`` also sends a snapshot of
  recent trades (the collector's identity deduplication makes it harmless), ``level2`` a snapshot of each
  book, ``ticker`` one of each ticker.
* **Trade gaps: trade ids per product.** A product's trade ids are consecutive (the matching engine's
  per-product series, shared with the Exchange feed; see :mod:`streaming.venues.coinbase`), so a jump in
  ``"trades:<product>"`` is exactly the set of missing trades, which :func:`repairer` fetches by id. They
  do not restart on reconnect (``sequences_per_connection=False``): what a disconnect lost is a gap too,
  revealed by the resubscription snapshot or the next trade, so no ``catch_up`` is needed. The trades of
  one frame are read in ascending id order, because a snapshot lists them newest first and a batch is one
  delivery: their order within the frame reveals no loss.
* **Book gaps: ``sequence_num``.** Level2 has no per-book sequence and no checksum; what reveals a lost
  book update is the envelope's ``sequence_num``, which counts every frame of a connection across all its
  channels (acks, heartbeats, snapshots included) from 0. :func:`parse` keeps it (:class:`NumberedFrame`)
  and the reader yields it as the stream :data:`FRAMES_STREAM`, which restarts on every connection
  (``connection_streams``; its first frame, the first subscription's ack, is the baseline). A jump says
  frames were lost, not which: it may have been any product's book update, so ``book_gaps``
  (:func:`book_gapper`) names every configured product, and the collector records a
  ``book:<product>`` gap for each book that was in sync and resynchronises them all. Such a stream is
  never "repaired" from REST (a lost trade frame shows, and is repaired, as a trade-id gap anyway; a lost
  heartbeat, ack or ticker cannot be fetched again).
* **Book resync: resubscribe.** Coinbase's REST order books (Advanced Trade ``product_book``, the
  Exchange's ``/products/{id}/book``) carry nothing that places them in the level2 stream, while a level2
  subscription starts with a snapshot of the book, so :func:`resubscribe_book` sends ``unsubscribe`` then
  ``subscribe`` of ``level2`` for the one product; the new snapshot arrives on the stream after every
  update the venue sent before it.
* **Repair.** The Exchange's public ``GET /products/{product_id}/trades`` pages by trade id, newest first
  (``after=<id>``: trades below it), which fetches an exact id range; the Advanced Trade ``.../ticker``
  endpoint only takes a time window and returns the latest ``limit`` trades in it, so it cannot
  guarantee a range. ``settings.rest_url("coinbase")`` is the Exchange REST base URL
  (``https://api.exchange.coinbase.com`` live; the simulator serves it under ``/coinbase``).

Exchange (``wss://ws-feed.exchange.coinbase.com``; https://docs.cdp.coinbase.com/exchange/websocket-feed/channels):

* **URL.** The Exchange feed has its own host, served at its root. With a ``ws_urls`` entry for ``coinbase``
  (live: ``wss://ws-feed.exchange.coinbase.com``) the feed connects to it as is; without one, to the
  simulator's Exchange path, ``ws://<sim>/coinbase`` + :data:`EXCHANGE_PATH`.
* **Subscriptions.** One request on every connection: ``{"type": "subscribe", "product_ids": [...],
  "channels": ["matches", "heartbeat"]}``. ``matches`` sends one ``last_match`` per product (its latest
  trade), then a ``match`` per trade; ``heartbeat`` one frame per product a second, with the product's
  ``last_trade_id``. No books: ``level2`` on the Exchange needs authentication (``book_resubscribe`` is
  ``None``), no ticker (Advanced Trade has it).
* **Trade gaps: trade ids per product** (``"trades:<product>"``), as on Advanced Trade, across reconnects
  (the resubscription's ``last_match`` reveals what a disconnect lost). The Exchange ``sequence`` is not
  used: it is shared with the full order feed, so it jumps between matches anyway.
* **Heartbeats reveal lost trades.** A heartbeat whose ``last_trade_id`` is past the last trade id seen
  says the trades after it up to ``last_trade_id`` exist but did not arrive: :func:`heartbeat_horizons`
  gives it to the collector as the stream's horizon (``VenueFeed.horizons``), which records the gap
  ``last seen + 1 .. last_trade_id`` at once and has it repaired; matches are read by
  :func:`exchange_trade_ids`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable

from websockets.asyncio.client import ClientConnection

from contracts.records import Gap, Trade
from streaming import rest
from streaming.feeds.base import VenueFeed
from streaming.venues import coinbase
from streaming.venues.base import ParsedFrame
from ticklake.settings import Settings
from ticklake.timeutil import now_ns

STREAM_PREFIX = "trades:"
"""Gap streams are ``"trades:<product id>"``."""

FRAMES_STREAM = "frames"
"""The gap stream of a connection's ``sequence_num`` (every frame, all channels)."""

TRADES_CHANNEL = "market_trades"
LEVEL2_CHANNEL = "level2"
TICKER_CHANNEL = "ticker"
HEARTBEATS_CHANNEL = "heartbeats"

EXCHANGE_PATH = "/exchange"
"""Appended to the simulator's ``/coinbase`` URL for the Exchange feed (live, the feed's host root)."""

EXCHANGE_MATCHES_CHANNEL = "matches"
EXCHANGE_HEARTBEAT_CHANNEL = "heartbeat"


@dataclasses.dataclass(frozen=True, slots=True)
class NumberedFrame(ParsedFrame):
    """A parsed Advanced Trade frame with its envelope's ``sequence_num``, which the sequence reader needs.

    Attributes:
        sequence_num: The frame's number on its connection.
    """

    sequence_num: int = 0


def parse(raw: bytes | str, received_at: int) -> ParsedFrame:
    """:func:`streaming.venues.coinbase.parse`, keeping the frame's ``sequence_num`` for the reader.

    Args:
        raw: The frame exactly as received.
        received_at: When it arrived, epoch ns.

    Returns:
        A :class:`NumberedFrame` for every Advanced Trade frame with a ``sequence_num``; the parser's
        :class:`~streaming.venues.base.ParsedFrame` for frames without one (errors).

    Raises:
        ParseError: As :func:`streaming.venues.coinbase.parse`.
    """
    parsed = coinbase.parse(raw, received_at)
    if parsed.control == "error":
        return parsed
    position = coinbase.sequence_of(raw)
    if position is None or position.scope != "connection":
        return parsed  # an Exchange-feed frame: numbered per product, not per connection
    return NumberedFrame(parsed.channel, parsed.records, parsed.control, sequence_num=position.sequence)


@dataclasses.dataclass(frozen=True, slots=True)
class ExchangeHeartbeat(ParsedFrame):
    """A parsed Exchange ``heartbeat`` with what the trade-id reader needs from it.

    Attributes:
        product: The product id.
        last_trade_id: The product's latest trade id.
    """

    product: str = ""
    last_trade_id: int = 0


def parse_exchange(raw: bytes | str, received_at: int) -> ParsedFrame:
    """:func:`streaming.venues.coinbase.parse`, keeping a heartbeat's product and ``last_trade_id``.

    Args:
        raw: The frame exactly as received.
        received_at: When it arrived, epoch ns.

    Returns:
        An :class:`ExchangeHeartbeat` for an Exchange ``heartbeat``, the parser's frame otherwise.

    Raises:
        ParseError: As :func:`streaming.venues.coinbase.parse`.
    """
    parsed = coinbase.parse(raw, received_at)
    if parsed.control != "heartbeat":
        return parsed
    position = coinbase.sequence_of(raw)
    if position is None or position.scope == "connection" or position.trade_id is None:
        return parsed  # an Advanced Trade heartbeat: nothing about trades
    return ExchangeHeartbeat(
        parsed.channel, parsed.records, parsed.control, product=position.scope, last_trade_id=position.trade_id
    )


def exchange_trade_ids(parsed: ParsedFrame) -> Iterable[tuple[str, int]]:
    """The ``("trades:<product>", trade id)`` pairs of an Exchange ``match``/``last_match`` frame.

    Args:
        parsed: A frame from :func:`parse_exchange`.

    Returns:
        The pairs (non-numeric trade ids, which the parser allows, are left out).
    """
    return [
        (f"{STREAM_PREFIX}{record.symbol}", int(record.trade_id))
        for record in parsed.records
        if isinstance(record, Trade) and record.trade_id.isascii() and record.trade_id.isdigit()
    ]


def heartbeat_horizons(parsed: ParsedFrame) -> Iterable[tuple[str, int]]:
    """A heartbeat's ``("trades:<product>", last_trade_id)``: how far the product's trades have got.

    Args:
        parsed: A frame from :func:`parse_exchange`.

    Returns:
        One pair for an :class:`ExchangeHeartbeat`, none otherwise.
    """
    if isinstance(parsed, ExchangeHeartbeat):
        return [(f"{STREAM_PREFIX}{parsed.product}", parsed.last_trade_id)]
    return []


def trade_ids(parsed: ParsedFrame) -> Iterable[tuple[str, int]]:
    """The ``("trades:<product>", trade id)`` pairs of a ``market_trades`` frame, ascending per product.

    Args:
        parsed: A parsed frame (other channels and control frames carry none).

    Yields:
        The pairs, sorted by product then id. Non-numeric trade ids (never seen on the WebSocket, but
        allowed by the parser) are left out.
    """
    if parsed.channel != TRADES_CHANNEL:
        return
    pairs = sorted(
        (record.symbol, int(record.trade_id))
        for record in parsed.records
        if isinstance(record, Trade) and record.trade_id.isascii() and record.trade_id.isdigit()
    )
    for symbol, trade_id in pairs:
        yield f"{STREAM_PREFIX}{symbol}", trade_id


def sequences(parsed: ParsedFrame) -> Iterable[tuple[str, int]]:
    """Everything a frame's numbers say: its trade ids (:func:`trade_ids`), then its ``sequence_num``.

    Args:
        parsed: A frame from :func:`parse`.

    Yields:
        The ``("trades:<product>", trade id)`` pairs, then ``(FRAMES_STREAM, sequence_num)`` for a
        :class:`NumberedFrame`.
    """
    yield from trade_ids(parsed)
    if isinstance(parsed, NumberedFrame):
        yield FRAMES_STREAM, parsed.sequence_num


def book_gapper(instruments: Iterable[str]) -> Callable[[str], tuple[str, ...]]:
    """The books a gap leaves unknown: every configured product's for a ``sequence_num`` jump, none otherwise.

    Args:
        instruments: The configured instruments.

    Returns:
        ``book_gaps(stream)``.
    """
    books = tuple(instruments)

    def book_gaps(stream: str) -> tuple[str, ...]:
        return books if stream == FRAMES_STREAM else ()

    return book_gaps


async def resubscribe_book(connection: ClientConnection, instrument: str) -> None:
    """Ask for a fresh snapshot of one product's book: unsubscribe, then subscribe ``level2`` again.

    Args:
        connection: The live connection.
        instrument: The canonical instrument.
    """
    await connection.send(coinbase.unsubscribe_message([instrument], LEVEL2_CHANNEL))
    await connection.send(coinbase.subscribe_message([instrument], LEVEL2_CHANNEL))


def repairer(settings: Settings) -> Callable[[Gap], list[Trade]]:
    """Repair a trade-id gap from the Exchange REST trades, paging down from the gap's end.

    Args:
        settings: ``rest_url("coinbase")`` is used.

    Returns:
        ``repair(gap)``: the gap's trades found in the venue's history, ascending by id, each once.
        It raises :class:`~streaming.errors.StreamingError` (REST failed) or
        :class:`~streaming.errors.ParseError` (a bad body or stream name).
    """
    base = settings.rest_url(coinbase.VENUE)

    def repair(gap: Gap) -> list[Trade]:
        instrument = coinbase.to_instrument(gap.stream.removeprefix(STREAM_PREFIX))
        found: dict[int, Trade] = {}
        cursor = gap.last_missing + 1  # ask for the trades older than this id
        while cursor > gap.first_missing:
            limit = min(coinbase.REST_PAGE_LIMIT, cursor - gap.first_missing)
            path, params = coinbase.rest_trades_request(instrument, older_than=cursor, limit=limit)
            page = coinbase.parse_rest_trades(rest.get(base, path, params), now_ns(), instrument)
            ids = [int(trade.trade_id) for trade in page]
            for trade_id, trade in zip(ids, page, strict=True):
                if gap.first_missing <= trade_id <= gap.last_missing:
                    found.setdefault(trade_id, trade)
            if not ids or min(ids) >= cursor:
                break  # the history has nothing older (or the venue ignored the cursor)
            cursor = min(ids)
        return [found[trade_id] for trade_id in sorted(found)]

    return repair


def subscriber(instruments: list[str]) -> Callable[[ClientConnection], Awaitable[None]]:
    """Send the ``market_trades``, ``level2``, ``ticker`` and ``heartbeats`` subscriptions on a new connection."""
    requests = [
        *(
            coinbase.subscribe_message(instruments, channel)
            for channel in (TRADES_CHANNEL, LEVEL2_CHANNEL, TICKER_CHANNEL)
        ),
        coinbase.subscribe_message([], HEARTBEATS_CHANNEL),
    ]

    async def on_connect(connection: ClientConnection) -> None:
        for request in requests:
            await connection.send(request)

    return on_connect


def exchange_subscriber(instruments: list[str]) -> Callable[[ClientConnection], Awaitable[None]]:
    """Send the Exchange ``matches`` + ``heartbeat`` subscription on a new connection."""
    request = json.dumps(
        {
            "type": "subscribe",
            "product_ids": [coinbase.to_symbol(instrument) for instrument in instruments],
            "channels": [EXCHANGE_MATCHES_CHANNEL, EXCHANGE_HEARTBEAT_CHANNEL],
        },
        separators=(",", ":"),
    )

    async def on_connect(connection: ClientConnection) -> None:
        await connection.send(request)

    return on_connect


def exchange_url(settings: Settings) -> str:
    """The Exchange feed URL: the ``ws_urls`` entry as is (live host root), else the simulator's Exchange path."""
    configured = settings.ws_urls.get(coinbase.VENUE)
    return configured or f"{settings.ws_url(coinbase.VENUE)}{EXCHANGE_PATH}"


def exchange_feed(settings: Settings) -> VenueFeed:
    """The Coinbase Exchange feed of the configured instruments: trades (``matches``) and ``heartbeat``."""
    instruments = settings.instruments_of(coinbase.VENUE)
    return VenueFeed(
        venue=coinbase.VENUE,
        url=exchange_url(settings),
        parse=parse_exchange,
        on_connect=exchange_subscriber(instruments),
        sequences=exchange_trade_ids,
        horizons=heartbeat_horizons,
        sequences_per_connection=False,
        repair=repairer(settings),
    )


def feed(settings: Settings) -> VenueFeed:
    """The configured Coinbase feed: Advanced Trade (trades, books, tickers), or the Exchange feed.

    With ``settings.coinbase_feed == "exchange"``: :func:`exchange_feed`.
    """
    if settings.coinbase_feed == "exchange":
        return exchange_feed(settings)
    instruments = settings.instruments_of(coinbase.VENUE)
    return VenueFeed(
        venue=coinbase.VENUE,
        url=settings.ws_url(coinbase.VENUE),
        parse=parse,
        on_connect=subscriber(instruments),
        sequences=sequences,
        sequences_per_connection=False,
        connection_streams=frozenset({FRAMES_STREAM}),
        repair=repairer(settings),
        book_resubscribe=resubscribe_book,
        book_gaps=book_gapper(instruments),
    )
