"""The Binance spot feed: combined trade streams, trade-id gaps, repair from ``historicalTrades``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from contracts.records import Gap, Trade
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


def feed(settings: Settings) -> VenueFeed:
    """The Binance combined-stream feed of the configured instruments."""
    streams = binance.stream_names(settings.instruments_of(binance.VENUE), settings.binance_trade_channel)
    return VenueFeed(
        venue=binance.VENUE,
        url=binance.combined_stream_url(settings.ws_url(binance.VENUE), streams),
        parse=binance.parse,
        sequences=trade_ids,
        sequences_per_connection=False,
        repair=repairer(settings),
    )
