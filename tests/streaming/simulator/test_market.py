"""The simulated market: a deterministic, realistic, venue-agnostic tape."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from streaming.simulator.market import Market, SimTrade, iter_trades, profile_of

INSTRUMENTS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]


# --- market --------------------------------------------------------------------------------------


def tape(market: Market, order: list[str], count: int) -> list[SimTrade]:
    return [market.next_trade(order[i % len(order)], 1_790_000_000_000 + i) for i in range(count)]


def essence(trades: list[SimTrade]) -> list[tuple[Any, ...]]:
    return [(t.instrument, t.trade_id, t.agg_id, t.price_text, t.size_text, t.side) for t in trades]


def test_same_seed_same_tape() -> None:
    first = tape(Market(42, INSTRUMENTS), INSTRUMENTS, 3000)
    second = tape(Market(42, INSTRUMENTS), INSTRUMENTS, 3000)
    assert essence(first) == essence(second)
    other_seed = tape(Market(43, INSTRUMENTS), INSTRUMENTS, 3000)
    assert essence(first) != essence(other_seed)


def test_instrument_tape_does_not_depend_on_interleaving_or_the_other_instruments() -> None:
    together = tape(Market(42, INSTRUMENTS), INSTRUMENTS, 900)
    alone = tape(Market(42, ["SOL-USDT", "BTC-USDT"]), ["BTC-USDT", "BTC-USDT", "SOL-USDT"], 900)
    for instrument in ("BTC-USDT", "SOL-USDT"):
        a = [t for t in together if t.instrument == instrument]
        b = [t for t in alone if t.instrument == instrument]
        n = min(len(a), len(b))
        assert n >= 300
        assert essence(a[:n]) == essence(b[:n])


def test_tape_is_realistic() -> None:
    times = range(1_790_000_000_000, 1_790_000_010_000)
    trades = list(iter_trades(1, [*INSTRUMENTS, "PEPE-USDT", "FOO-BAR"], times))
    by_instrument: dict[str, list[SimTrade]] = {}
    for trade in trades:
        by_instrument.setdefault(trade.instrument, []).append(trade)
    starts = {"BTC-USDT": 65000, "ETH-USDT": 3000, "SOL-USDT": 150, "PEPE-USDT": 0.00001234, "FOO-BAR": 1}
    for instrument, tape_ in by_instrument.items():
        profile = profile_of(instrument)
        tick = Decimal(profile.tick)
        ids = [t.trade_id for t in tape_]
        assert ids[0] >= 3_000_000_000
        assert all(b == a + 1 for a, b in itertools.pairwise(ids)), "ids strictly increasing"
        aggs = [t.agg_id for t in tape_]
        assert all(b > a for a, b in itertools.pairwise(aggs))
        assert {t.side for t in tape_} == {"buy", "sell"}
        for t in tape_:
            assert t.price > 0 and t.price % tick == 0
            assert t.size > 0 and t.size % Decimal(1).scaleb(-profile.size_decimals) == 0
            assert t.price_text.split(".")[1].__len__() == 8 and t.size_text.split(".")[1].__len__() == 8
        prices = [float(t.price) for t in tape_]
        assert 0.8 * starts[instrument] < min(prices) <= max(prices) < 1.2 * starts[instrument]
        assert len(set(prices)) > 10, "the price moves"


def test_event_times_never_go_back() -> None:
    market = Market(1, ["BTC-USDT"])
    times = [market.next_trade("BTC-USDT", ts).ts_ms for ts in (1000, 1005, 990, 1006)]
    assert times == [1000, 1005, 1005, 1006]


def test_market_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        Market(1, [])
    with pytest.raises(ValueError):
        Market(1, ["BTC-USDT", "BTC-USDT"])
    with pytest.raises(ValueError):
        Market(1, ["btcusdt"])
    with pytest.raises(KeyError):
        Market(1, ["BTC-USDT"]).next_trade("ETH-USDT", 1)
