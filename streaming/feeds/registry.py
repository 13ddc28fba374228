"""The venue feeds, by venue id (each venue's feed lives in its own module)."""

from __future__ import annotations

from collections.abc import Callable

from streaming.feeds import binance
from streaming.feeds.base import VenueFeed
from ticklake.settings import Settings

FEEDS: dict[str, Callable[[Settings], VenueFeed]] = {
    "binance": binance.feed,
}
"""Venue id -> feed factory."""
