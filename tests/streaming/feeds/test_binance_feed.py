"""The Binance feed: catch-up after a reconnect fetches every trade after the last id seen, the tail included."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from streaming.feeds.binance import LastIds, catcher
from streaming.simulator.server import open_simulator
from ticklake.settings import load_settings


def test_catch_up_fetches_every_trade_after_the_last_id_seen() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        base = load_settings(instruments={"binance": ["BTC-USDT"]}, sim_rate=2000.0, sim_max_trades=2500)
        async with open_simulator(base, port=0, venues=["binance"]) as sim:
            async with connect(f"{sim.url('binance')}/ws/btcusdt@trade", max_queue=None):
                await asyncio.wait_for(sim.tasks["binance"], 30)  # the whole tape is generated
            history = [t.trade_id for t in sim.venues["binance"].trades_from("BTC-USDT")]
            ids = LastIds()
            ids.last["BTCUSDT"] = history[100]  # as if the connection died after the 101st trade
            settings = load_settings(instruments={"binance": ["BTC-USDT"]}, sim_port=sim.port)
            caught = await asyncio.to_thread(catcher(settings, ids), {})
            return history, [int(t.trade_id) for t in caught]

    history, caught = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert len(history) == 2500
    assert caught == history[101:]  # every later trade, over several 1000-trade pages, once each
