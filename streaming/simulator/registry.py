"""The simulated venues, by venue id (each venue's simulator lives in its own module)."""

from __future__ import annotations

from streaming.simulator.binance import BinanceSim
from streaming.simulator.venue import VenueSim

SIMULATORS: dict[str, type[VenueSim]] = {
    BinanceSim.venue: BinanceSim,
}
"""Venue id -> simulator class."""
