"""The Coinbase Advanced Trade feed: ``market_trades`` + ``heartbeats``, trade-id gaps, repair from Exchange REST.

* **URL.** Advanced Trade serves its market data at the root of ``wss://advanced-trade-ws.coinbase.com``,
  so the feed connects to ``settings.ws_url("coinbase")`` as is (the simulator's ``ws://<sim>/coinbase``).
* **Subscriptions.** On every connection: ``market_trades`` for the configured instruments, then
  ``heartbeats`` (one frame a second, which keeps a quiet connection open and the stale-connection
  watchdog fed). Each is acknowledged by a ``subscriptions`` frame; ``market_trades`` also sends a snapshot
  of recent trades, which the collector's identity deduplication makes harmless.
* **Gap detection: trade ids per product.** A product's trade ids are consecutive (the matching engine's
  per-product series, shared with the Exchange feed; see :mod:`streaming.venues.coinbase`), so a jump in
  ``"trades:<product>"`` is exactly the set of missing trades, which :func:`repairer` fetches by id. They
  do not restart on reconnect (``sequences_per_connection=False``): what a disconnect lost is a gap too,
  revealed by the resubscription snapshot or the next trade, so no ``catch_up`` is needed. The trades of
  one frame are read in ascending id order, because a snapshot lists them newest first and a batch is one
  delivery: their order within the frame reveals no loss.
* **Not tracked: ``sequence_num``.** It counts every frame of a connection (acks, heartbeats, snapshots),
  so a jump can mean a lost heartbeat or ack, which no REST call can restore, and a lost trade frame
  shows anyway as a trade-id gap. The collector repairs every gap the reader yields, so yielding
  connection-sequence jumps would report unrepairable gaps as repairable ones; the feed does not.
* **Repair.** The Exchange's public ``GET /products/{product_id}/trades`` pages by trade id, newest first
  (``after=<id>``: trades below it), which fetches an exact id range; the Advanced Trade ``.../ticker``
  endpoint only takes a time window and returns the latest ``limit`` trades in it, so it cannot
  guarantee a range. ``settings.rest_url("coinbase")`` is the Exchange REST base URL
  (``https://api.exchange.coinbase.com`` live; the simulator serves it under ``/coinbase``).
"""

from __future__ import annotations

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

TRADES_CHANNEL = "market_trades"
HEARTBEATS_CHANNEL = "heartbeats"


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
    """Send the ``market_trades`` and ``heartbeats`` subscriptions on a new connection."""
    requests = [
        coinbase.subscribe_message(instruments, TRADES_CHANNEL),
        coinbase.subscribe_message([], HEARTBEATS_CHANNEL),
    ]

    async def on_connect(connection: ClientConnection) -> None:
        for request in requests:
            await connection.send(request)

    return on_connect


def feed(settings: Settings) -> VenueFeed:
    """The Coinbase Advanced Trade feed of the configured instruments."""
    return VenueFeed(
        venue=coinbase.VENUE,
        url=settings.ws_url(coinbase.VENUE),
        parse=coinbase.parse,
        on_connect=subscriber(settings.instruments_of(coinbase.VENUE)),
        sequences=trade_ids,
        sequences_per_connection=False,
        repair=repairer(settings),
    )
