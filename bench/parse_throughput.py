"""Venue parser throughput on one core: frames per second, per venue and channel.

Frames come from the simulator's wire renderers (the exact format the venues send), so the figure
is for realistic frames; each parser runs over the same list several times and the best round wins.
"""

from __future__ import annotations

import argparse
import time

from streaming.simulator import binance_wire
from streaming.simulator.market import Market
from streaming.venues import binance


def frames_for(channel: binance.Channel, count: int) -> list[bytes]:
    market = Market(seed=1, instruments=["BTC-USDT", "ETH-USDT"])
    out = []
    for index in range(count):
        trade = market.next_trade(market.instruments[index % 2], 1_790_000_000_000 + index)
        out.append(binance_wire.combined_frame(trade, channel).encode())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for channel in binance.CHANNELS:
        frames = frames_for(channel, args.frames)
        best = float("inf")
        for _ in range(args.rounds):
            started = time.perf_counter()
            for frame in frames:
                binance.parse(frame, 1)
            best = min(best, time.perf_counter() - started)
        print(f"binance {channel:<9} {args.frames / best:>12,.0f} frames/s  ({best / args.frames * 1e6:.2f} µs/frame)")


if __name__ == "__main__":
    main()
