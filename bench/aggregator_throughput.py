"""Live candle aggregator throughput on one core: trades/s through add() and add_all() (3 intervals)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal

from contracts.records import Side, Trade
from streaming.aggregator import CandleAggregator

N = 200_000


def make_trades() -> list[Trade]:
    rng = random.Random(1)
    ts = 1_735_689_600 * 10**9
    prices = {"BTC-USDT": Decimal("65000.00"), "ETH-USDT": Decimal("3000.00")}
    trades = []
    for i in range(N):
        instrument = rng.choice(("BTC-USDT", "ETH-USDT"))
        prices[instrument] += Decimal(rng.randint(-300, 300)) / 100
        ts += rng.choice((0, 1_000_000, 50_000_000))
        size = Decimal(rng.randint(1, 500_000)) / 100_000
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        trades.append(
            Trade(
                "binance",
                instrument,
                instrument.replace("-", ""),
                str(i + 1),
                prices[instrument],
                size,
                side,
                ts,
                ts + 1,
            )
        )
    return trades


def main() -> None:
    trades = make_trades()

    def one_by_one(aggregator: CandleAggregator) -> None:
        for trade in trades:
            aggregator.add(trade)

    def in_batches(aggregator: CandleAggregator) -> None:
        for start in range(0, N, 1000):
            aggregator.add_all(trades[start : start + 1000])

    runs: list[tuple[str, Callable[[CandleAggregator], None]]] = [("add", one_by_one), ("add_all(1000)", in_batches)]
    for label, run in runs:
        best = float("inf")
        for _ in range(3):
            aggregator = CandleAggregator()
            started = time.perf_counter()
            run(aggregator)
            best = min(best, time.perf_counter() - started)
        print(f"aggregator {label:<14} {N / best:>10,.0f} trades/s (1m/5m/1h, 2 instruments, {N:,} trades)")


if __name__ == "__main__":
    main()
