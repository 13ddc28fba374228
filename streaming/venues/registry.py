"""The venues ticklake speaks, by id: their parsers (feeds and simulators are wired per venue)."""

from __future__ import annotations

from collections.abc import Callable

from streaming.venues import binance, coinbase, kalshi, kraken, krakenfutures, polymarket
from streaming.venues.base import ParsedFrame

PARSERS: dict[str, Callable[[bytes, int], ParsedFrame]] = {
    binance.VENUE: binance.parse,
    coinbase.VENUE: coinbase.parse,
    kraken.VENUE: kraken.parse,
    krakenfutures.VENUE: krakenfutures.parse,
    kalshi.VENUE: kalshi.parse,
    polymarket.VENUE: polymarket.parse,
}
"""Venue id -> pure frame parser."""
