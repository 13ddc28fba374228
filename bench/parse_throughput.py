"""Venue parser throughput on one core: frames per second, per venue.

Each venue's parser runs over the captured frames of its fixtures (`tests/fixtures/<venue>/`),
keeping the ones that carry records (trades, book updates, tickers, lifecycle events), repeated to
a fixed count; the best of several rounds is reported. Binance also runs over simulator frames.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from streaming.errors import ParseError
from streaming.simulator import binance_wire
from streaming.simulator.market import Market
from streaming.venues import binance
from streaming.venues.base import ParsedFrame
from streaming.venues.registry import PARSERS

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def fixture_frames(venue: str, parse: Callable[[bytes, int], ParsedFrame]) -> list[bytes]:
    """The fixture frames of a venue that parse into at least one record."""
    frames = []
    for line in (FIXTURES / venue / "frames.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)["raw"].encode()
        try:
            if parse(raw, 1).records:
                frames.append(raw)
        except ParseError:
            continue
    return frames


def best_rate(parse: Callable[[bytes, int], ParsedFrame], frames: list[bytes], count: int, rounds: int) -> float:
    batch = (frames * (count // len(frames) + 1))[:count]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for frame in batch:
            parse(frame, 1)
        best = min(best, time.perf_counter() - started)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    market = Market(seed=1, instruments=["BTC-USDT", "ETH-USDT"])
    simulated = [
        binance_wire.combined_frame(
            market.next_trade(market.instruments[i % 2], 1_790_000_000_000 + i), "trade"
        ).encode()
        for i in range(1000)
    ]
    rate = best_rate(binance.parse, simulated, args.frames, args.rounds)
    print(f"{'binance (simulator trade frames)':<40} {rate:>12,.0f} frames/s")
    for venue, parse in PARSERS.items():
        frames = fixture_frames(venue, parse)
        rate = best_rate(parse, frames, args.frames, args.rounds)
        print(f"{venue + f' ({len(frames)} fixture frames)':<40} {rate:>12,.0f} frames/s")


if __name__ == "__main__":
    main()
