"""The venue feeds, by venue id (each venue's feed lives in its own module)."""

from __future__ import annotations

from collections.abc import Callable

from streaming.feeds import binance
from streaming.feeds.base import VenueFeed
from streaming.feeds.coinbase import feed as coinbase_feed
from streaming.feeds.kalshi import feed as kalshi_feed
from streaming.feeds.kraken import feed as kraken_feed
from streaming.feeds.krakenfutures import feed as krakenfutures_feed
from streaming.feeds.polymarket import feed as polymarket_feed
from ticklake.settings import Settings

FEEDS: dict[str, Callable[[Settings], VenueFeed]] = {
    "binance": binance.feed,
    "coinbase": coinbase_feed,
    "kalshi": kalshi_feed,
    "kraken": kraken_feed,
    "krakenfutures": krakenfutures_feed,
    "polymarket": polymarket_feed,
}
"""Venue id -> feed factory."""
