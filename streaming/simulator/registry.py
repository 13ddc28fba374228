"""The simulated venues, by venue id (each venue's simulator lives in its own module)."""

from __future__ import annotations

from streaming.simulator.binance import BinanceSim
from streaming.simulator.coinbase import CoinbaseSim
from streaming.simulator.kalshi import KalshiSim
from streaming.simulator.kraken import KrakenSim
from streaming.simulator.krakenfutures import KrakenFuturesSim
from streaming.simulator.polymarket import PolymarketSim
from streaming.simulator.venue import VenueSim

SIMULATORS: dict[str, type[VenueSim]] = {
    BinanceSim.venue: BinanceSim,
    KalshiSim.venue: KalshiSim,
    CoinbaseSim.venue: CoinbaseSim,
    KrakenSim.venue: KrakenSim,
    KrakenFuturesSim.venue: KrakenFuturesSim,
    PolymarketSim.venue: PolymarketSim,
}
"""Venue id -> simulator class."""
