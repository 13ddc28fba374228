"""The Binance spot feed: trade and book streams, trade-id gaps repaired from REST, books synced from REST.

Per configured instrument the feed subscribes the trade channel (``settings.binance_trade_channel``),
the diff-depth channel ``binance_book_channel`` (``depth@100ms`` by default; ``None`` captures no books)
and, with ``binance_book_ticker``, ``bookTicker``. With books on, the collector synchronises every book
from ``GET /api/v3/depth`` (:func:`snapshotter`) and resnapshots on a break in the diffs' ``U``/``u``
(see :mod:`streaming.book_sync`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from contracts.records import BookUpdate, Gap, Trade
from streaming import rest
from streaming.feeds.base import VenueFeed
from streaming.venues import binance
from streaming.venues.base import ParsedFrame
from ticklake.settings import Settings
from ticklake.timeutil import now_ns


def trade_ids(parsed: ParsedFrame) -> Iterable[tuple[str, int]]:
    """Binance ``trade`` ids are consecutive per symbol (``aggTrade`` ids are not checked)."""
    if parsed.channel.endswith("@trade"):
        for record in parsed.records:
            if isinstance(record, Trade):
                yield f"trades:{record.symbol}", int(record.trade_id)


def repairer(settings: Settings) -> Callable[[Gap], list[Trade]]:
    """Repair a Binance trade-id gap from ``historicalTrades``, page by page."""
    base = settings.rest_url(binance.VENUE)

    def repair(gap: Gap) -> list[Trade]:
        instrument = binance.to_instrument(gap.stream.removeprefix("trades:"))
        found: list[Trade] = []
        next_id = gap.first_missing
        while next_id <= gap.last_missing:
            path, params = binance.rest_trades_request(instrument, next_id, min(1000, gap.last_missing - next_id + 1))
            page = binance.parse_rest_trades(rest.get(base, path, params), now_ns(), instrument)
            found += [t for t in page if gap.first_missing <= int(t.trade_id) <= gap.last_missing]
            if not page:
                break
            next_id = int(page[-1].trade_id) + 1
        return found

    return repair


def snapshotter(settings: Settings, limit: int = binance.REST_DEPTH_LIMIT) -> Callable[[str], BookUpdate]:
    """Fetch an instrument's book from ``GET /api/v3/depth`` (``limit`` levels per side)."""
    base = settings.rest_url(binance.VENUE)

    def snapshot(instrument: str) -> BookUpdate:
        path, params = binance.rest_depth_request(instrument, limit)
        body = rest.get(base, path, params)
        return binance.parse_rest_depth(body, now_ns(), instrument)

    return snapshot


def feed(settings: Settings) -> VenueFeed:
    """The Binance combined-stream feed of the configured instruments (books per ``binance_book_channel``)."""
    instruments = settings.instruments_of(binance.VENUE)
    channel = settings.binance_book_channel
    streams = binance.stream_names(instruments, settings.binance_trade_channel)
    if channel is not None:
        streams += binance.stream_names(instruments, channel)
    if settings.binance_book_ticker:
        streams += binance.stream_names(instruments, "bookTicker")
    return VenueFeed(
        venue=binance.VENUE,
        url=binance.combined_stream_url(settings.ws_url(binance.VENUE), streams),
        parse=binance.parse,
        sequences=trade_ids,
        sequences_per_connection=False,
        repair=repairer(settings),
        book_snapshot=snapshotter(settings) if channel is not None else None,
    )
