"""The live candle aggregator against the independent reference, the batch build, and the real broker.

Semantics under test (streaming/aggregator.py): windows by event time, watermark per (venue,
instrument) = max ts_event - allowed lateness, a window sealed once when watermark >= end + grace,
late per interval (a trade missing a sealed window still counts in the open ones), duplicates ignored
while their windows are open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from testkit import reference_candles, wait_until

from contracts.records import Trade
from contracts.schemas import decode, encode
from contracts.tables import BRONZE_TRADES, CANDLE_INTERVALS
from orchestration.defs.silver.candles import build_candles
from streaming.aggregator import (
    CANDLE_STATE_HEADER,
    DEFAULT_GRACE,
    LATE_INTERVALS_HEADER,
    AggregatorOutput,
    CandleAggregator,
    LiveCandle,
    LiveCandleService,
)
from streaming.bus import client_config, ensure_topics, make_producer, partitions_of
from ticklake.settings import load_settings
from ticklake.timeutil import NS_PER_SECOND, date_to_ns, ns_to_date

DAY = dt.date(2026, 3, 2)
MS = 1_000_000
INTERVAL_ORDER = tuple(CANDLE_INTERVALS)


def make_trades(
    count: int,
    seed: int,
    start: int = date_to_ns(DAY) + 3600 * NS_PER_SECOND,
    steps: tuple[int, ...] = (0, 0, 1 * MS, 250 * MS, 900 * MS, 2_000 * MS, 5_000 * MS, 10_000 * MS),
    sides: tuple[str, ...] = ("buy", "sell"),
) -> list[Trade]:
    """Trades of two instruments in event-time order, many tied on ts_event, with numeric ids of mixed length."""
    rng = random.Random(seed)
    prices = {"BTC-USDT": Decimal("65000.00"), "ETH-USDT": Decimal("0.00001234")}
    ticks = {"BTC-USDT": Decimal("0.01"), "ETH-USDT": Decimal("0.00000001")}
    used = {0}
    ts = start
    trades = []
    for _ in range(count):
        instrument = rng.choice(sorted(prices))
        prices[instrument] = max(ticks[instrument], prices[instrument] + rng.randint(-30, 30) * ticks[instrument])
        ts += rng.choice(steps)
        number = 0
        while number in used:  # unique numeric ids of 1 to 9 digits, unrelated to time: ties mix lengths
            number = rng.randrange(1, 10 ** rng.randint(1, 9))
        used.add(number)
        trades.append(
            Trade(
                venue="binance",
                instrument=instrument,
                symbol=instrument.replace("-", ""),
                trade_id=str(number),
                price=prices[instrument],
                size=Decimal(rng.randint(1, 50_000_000)) / Decimal(100_000),
                side=rng.choice(sides),  # type: ignore[arg-type]
                ts_event=ts,
                ts_recv=ts + 3 * MS,
            )
        )
    return trades


def jittered(trades: list[Trade], max_delay: int, seed: int) -> list[Trade]:
    """An arrival order where each trade is delayed by less than ``max_delay`` ns of event time.

    When trade x arrives, every trade y seen so far has ts_y + d_y <= ts_x + d_x, so the watermark is
    below ts_x + max_delay: with max_delay <= the smallest grace, no window of x is sealed yet.
    """
    rng = random.Random(seed)
    keyed = [(t.ts_event + rng.randrange(max_delay), index, t) for index, t in enumerate(trades)]
    return [t for _, _, t in sorted(keyed, key=lambda item: (item[0], item[1]))]


def as_dict(trade: Trade) -> dict[str, Any]:
    return dataclasses.asdict(trade)


def feed(aggregator: CandleAggregator, arrivals: Iterable[Trade]) -> list[AggregatorOutput]:
    return [aggregator.add(trade) for trade in arrivals]


def sealed_of(outputs: list[AggregatorOutput], flushed: list[LiveCandle]) -> list[LiveCandle]:
    return [candle for output in outputs for candle in output.sealed] + flushed


def by_interval(candles: Iterable[LiveCandle]) -> dict[str, dict[tuple[str, str, int], LiveCandle]]:
    out: dict[str, dict[tuple[str, str, int], LiveCandle]] = {name: {} for name in CANDLE_INTERVALS}
    for candle in candles:
        key = (candle.venue, candle.instrument, candle.window_start)
        assert key not in out[candle.interval], f"{candle.interval} {key} sealed twice"
        out[candle.interval][key] = candle
    return out


def assert_equals_reference(live: dict[tuple[str, str, int], LiveCandle], trades: list[Trade], length: int) -> None:
    expected = reference_candles([as_dict(t) for t in trades], DAY, length)
    assert set(live) == set(expected)
    for key, ref in expected.items():
        candle = live[key]
        for name in ("open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "trade_count"):
            assert getattr(candle, name) == ref[name], (key, name)
        assert candle.first_trade_id == ref["first_trade_id"] and candle.last_trade_id == ref["last_trade_id"], key
        assert candle.quote_volume == ref["quote_volume"], key  # exact sum, rounded once: fsum's result
        assert math.isclose(candle.vwap, ref["quote_volume"] / float(ref["volume"]), rel_tol=1e-12), key
        assert candle.window_end == key[2] + length and candle.sealed


def batch_candles(trades: list[Trade], interval: str) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The batch build (DuckDB) over ``trades`` laid out as bronze.trades rows."""
    rows = []
    for offset, trade in enumerate(trades):
        row = trade.to_record(trade.ts_recv + MS)
        row.update(event_date=ns_to_date(trade.ts_event), kafka_partition=0, kafka_offset=offset)
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=BRONZE_TRADES.schema().as_arrow())
    return {(r["venue"], r["instrument"], r["window_start"]): r for r in build_candles(table, interval).to_pylist()}


def assert_equals_batch(live: dict[tuple[str, str, int], LiveCandle], batch: dict[tuple[str, str, int], Any]) -> None:
    assert set(live) == set(batch)
    for key, row in batch.items():
        candle = live[key]
        for name in ("window_end", "open", "high", "low", "close", "volume", "buy_volume", "sell_volume"):
            assert getattr(candle, name) == row[name], (key, name)
        for name in ("trade_count", "first_trade_id", "last_trade_id", "interval"):
            assert getattr(candle, name) == row[name], (key, name)
        assert math.isclose(candle.quote_volume, row["quote_volume"], rel_tol=1e-12), key
        assert math.isclose(candle.vwap, row["vwap"], rel_tol=1e-12), key


def assert_invariants(candle: LiveCandle, sides_known: bool = True) -> None:
    assert candle.low <= candle.open <= candle.high, candle
    assert candle.low <= candle.close <= candle.high, candle
    tolerance = 1e-12 * float(candle.high)
    assert float(candle.low) - tolerance <= candle.vwap <= float(candle.high) + tolerance, candle
    assert candle.trade_count >= 1 and candle.volume > 0
    assert candle.window_end - candle.window_start == CANDLE_INTERVALS[candle.interval]
    assert candle.window_start % CANDLE_INTERVALS[candle.interval] == 0
    if sides_known:
        assert candle.buy_volume + candle.sell_volume == candle.volume, candle
    else:
        assert candle.buy_volume + candle.sell_volume <= candle.volume, candle


# 1. the reference and the batch build ------------------------------------------------------------


def test_sealed_candles_equal_reference_and_batch_under_shuffled_arrival() -> None:
    trades = make_trades(5000, seed=11)
    assert trades[-1].ts_event - trades[0].ts_event > 2 * 3600 * NS_PER_SECOND, "a few hours of trades"
    assert len({t.ts_event for t in trades}) < len(trades) * 0.8, "many ties on event time"
    arrivals = jittered(trades, max_delay=DEFAULT_GRACE["1m"] - 1, seed=5)
    assert arrivals != trades

    aggregator = CandleAggregator()
    outputs = feed(aggregator, arrivals)
    assert not any(output.late for output in outputs), "every trade arrived within grace"
    sealed = by_interval(sealed_of(outputs, aggregator.flush()))
    for interval, length in CANDLE_INTERVALS.items():
        assert sealed[interval], interval
        assert_equals_reference(sealed[interval], trades, length)
        assert_equals_batch(sealed[interval], batch_candles(arrivals, interval))

    # the live candles map onto the candle contract
    for candle in sealed["5m"].values():
        record = candle.to_record()
        assert set(record) == ({f.name for f in dataclasses.fields(LiveCandle)} - {"sealed"}) | {"revision"}
        assert decode("candle", encode("candle", record)) == record


def test_add_all_is_add_one_by_one_coalesced() -> None:
    trades = jittered(make_trades(1500, seed=3), max_delay=9 * NS_PER_SECOND, seed=2)
    one = CandleAggregator()
    outputs = feed(one, trades)
    batched = CandleAggregator()
    chunks = [batched.add_all(trades[i : i + 97]) for i in range(0, len(trades), 97)]
    assert [c for o in chunks for c in o.sealed] == [c for o in outputs for c in o.sealed]
    # the last chunk's forming candles are the latest state of the windows it touched
    latest = {c.key: c for o in outputs for c in o.updated}
    for candle in chunks[-1].updated:
        assert latest[candle.key] == candle
    assert one.flush() == batched.flush()


@hypothesis_settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    jitter_seed=st.integers(0, 10_000),
    max_delay=st.integers(1, DEFAULT_GRACE["1m"]),
    lateness=st.sampled_from([0, 0, 5 * NS_PER_SECOND]),
)
def test_any_arrival_order_within_grace_gives_identical_candles(
    seed: int, jitter_seed: int, max_delay: int, lateness: int
) -> None:
    trades = make_trades(150, seed=seed, steps=(0, 0, 0, 1 * MS, 400 * MS, 3_000 * MS))
    in_order = CandleAggregator(allowed_lateness=lateness)
    expected = sealed_of(feed(in_order, trades), in_order.flush())
    shuffled = CandleAggregator(allowed_lateness=lateness)
    outputs = feed(shuffled, jittered(trades, max_delay, jitter_seed))
    assert not any(output.late for output in outputs)
    assert sorted(sealed_of(outputs, shuffled.flush()), key=lambda c: c.key) == sorted(expected, key=lambda c: c.key)


# 2. late trades ----------------------------------------------------------------------------------


def expected_lateness(arrivals: list[Trade]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Independently: the intervals each trade misses, from the watermark before it arrives."""
    max_seen: dict[tuple[str, str], int] = {}
    late = {}
    for trade in arrivals:
        stream = (trade.venue, trade.instrument)
        missed = tuple(
            name
            for name, length in CANDLE_INTERVALS.items()
            if stream in max_seen
            and trade.ts_event // length * length + length + DEFAULT_GRACE[name] <= max_seen[stream]
        )
        if missed:
            late[(trade.symbol, trade.trade_id)] = missed
        max_seen[stream] = max(max_seen.get(stream, trade.ts_event), trade.ts_event)
    return late


def test_late_trades_are_reported_per_interval_and_left_to_the_batch_revision() -> None:
    trades = make_trades(4000, seed=21)
    rng = random.Random(4)
    delayed = {id(t): rng.choice([40, 70, 200, 400, 3000, 5000]) * NS_PER_SECOND for t in rng.sample(trades, 40)}
    keyed = [(t.ts_event + delayed.get(id(t), rng.randrange(5 * NS_PER_SECOND)), i, t) for i, t in enumerate(trades)]
    arrivals = [t for _, _, t in sorted(keyed, key=lambda item: (item[0], item[1]))]

    aggregator = CandleAggregator()
    outputs = feed(aggregator, arrivals)
    sealed = by_interval(sealed_of(outputs, aggregator.flush()))
    late = {(x.trade.symbol, x.trade.trade_id): x.intervals for output in outputs for x in output.late}
    expected = expected_lateness(arrivals)
    assert late == expected
    assert {interval for missed in late.values() for interval in missed} == set(CANDLE_INTERVALS)
    assert any(len(missed) < len(CANDLE_INTERVALS) for missed in late.values()), "some are late for 1m only"
    assert any(len(missed) == len(CANDLE_INTERVALS) for missed in late.values()), "some miss every interval"
    assert all(missed == INTERVAL_ORDER[: len(missed)] for missed in late.values()), "short intervals seal first"
    assert set(late) <= {(t.symbol, t.trade_id) for t in trades if id(t) in delayed}

    for interval, length in CANDLE_INTERVALS.items():
        missing = {key for key, missed in late.items() if interval in missed}
        on_time = [t for t in trades if (t.symbol, t.trade_id) not in missing]
        assert_equals_reference(sealed[interval], on_time, length)  # sealed candles exclude the late trades

        # the batch recompute over every trade revises exactly the windows the late trades fall in
        batch = batch_candles(arrivals, interval)
        revised = {
            (t.venue, t.instrument, t.ts_event // length * length) for t in trades if (t.symbol, t.trade_id) in missing
        }
        assert revised and revised <= set(batch)
        assert_equals_batch(
            {k: c for k, c in sealed[interval].items() if k not in revised},
            {k: row for k, row in batch.items() if k not in revised},
        )
        for key in revised:
            assert key not in sealed[interval] or sealed[interval][key].trade_count < batch[key]["trade_count"]
        assert_batch_equals_reference(batch, trades, length)


def assert_batch_equals_reference(batch: dict[tuple[str, str, int], Any], trades: list[Trade], length: int) -> None:
    expected = reference_candles([as_dict(t) for t in trades], DAY, length)
    assert set(batch) == set(expected)
    for key, ref in expected.items():
        for name, value in ref.items():
            if name == "quote_volume":
                assert math.isclose(batch[key][name], value, rel_tol=1e-12), key
            else:
                assert batch[key][name] == value, (key, name)


def test_a_late_trade_never_changes_a_sealed_candle() -> None:
    minute = CANDLE_INTERVALS["1m"]
    base = date_to_ns(DAY)
    first = make_trades(1, seed=1, start=base)[0]
    aggregator = CandleAggregator()
    aggregator.add(first)
    sealing = dataclasses.replace(first, trade_id="10000000001", ts_event=base + minute + DEFAULT_GRACE["1m"])
    output = aggregator.add(sealing)
    assert [c.interval for c in output.sealed] == ["1m"] and output.sealed[0].trade_count == 1
    assert aggregator.watermark("binance", first.instrument) == sealing.ts_event

    straggler = dataclasses.replace(first, trade_id="10000000005", ts_event=base + 1, price=first.price * 2)
    output = aggregator.add(straggler)
    assert [(x.trade, x.intervals) for x in output.late] == [(straggler, ("1m",))]
    assert {c.interval for c in output.updated} == {"5m", "1h"}, "it still counts where its window is open"
    assert all(c.trade_count == 3 and c.high == first.price * 2 for c in output.updated)
    assert not output.sealed
    assert not any(c.interval == "1m" and c.window_start == base for c in aggregator.flush())

    # a trade merely older than the watermark, its windows still within grace, is not late
    aggregator = CandleAggregator(allowed_lateness=2 * NS_PER_SECOND)
    aggregator.add(dataclasses.replace(first, ts_event=base + minute + 11 * NS_PER_SECOND))
    assert aggregator.watermark("binance", first.instrument) == base + minute + 9 * NS_PER_SECOND
    output = aggregator.add(dataclasses.replace(first, trade_id="10000000006", ts_event=base + minute - 1))
    assert not output.late and output.updated[0].window_start == base


# 3. duplicates, sealing once, bounded memory -----------------------------------------------------


def test_duplicates_count_once_and_each_window_seals_once() -> None:
    trades = make_trades(3000, seed=8)
    rng = random.Random(6)
    arrivals: list[Trade] = []
    resent = 0
    for trade in jittered(trades, max_delay=8 * NS_PER_SECOND, seed=1):
        arrivals.append(trade)
        if rng.random() < 0.1:  # a replay: same identity and values, received again later
            arrivals.append(dataclasses.replace(trade, ts_recv=trade.ts_recv + NS_PER_SECOND))
            resent += 1
    aggregator = CandleAggregator()
    outputs = feed(aggregator, arrivals)
    assert sum(output.duplicates for output in outputs) == resent == aggregator.duplicates
    all_sealed = sealed_of(outputs, aggregator.flush())
    sealed = by_interval(all_sealed)  # fails on a window sealed twice
    assert Counter(c.key for c in all_sealed).most_common(1)[0][1] == 1
    for interval, length in CANDLE_INTERVALS.items():
        assert_equals_reference(sealed[interval], trades, length)
    with pytest.raises(RuntimeError):
        aggregator.add(trades[0])

    # once every window of a trade is sealed its identity is forgotten: a replay then is a late trade
    aggregator = CandleAggregator()
    aggregator.add(trades[0])
    aggregator.add(
        dataclasses.replace(trades[0], trade_id="10000000007", ts_event=trades[0].ts_event + 2 * 3600 * NS_PER_SECOND)
    )
    output = aggregator.add(trades[0])
    assert output.duplicates == 0 and output.late[0].intervals == INTERVAL_ORDER


def test_memory_stays_bounded_on_a_long_stream() -> None:
    trades = make_trades(30_000, seed=5, steps=(0, 1_000 * MS, 2_000 * MS, 3_000 * MS))
    span_h = (trades[-1].ts_event - trades[0].ts_event) / (3600 * NS_PER_SECOND)
    assert span_h > 10
    aggregator = CandleAggregator()
    most_windows = most_ids = 0
    chunk = 250
    for i in range(0, len(trades), chunk):
        aggregator.add_all(jittered(trades[i : i + chunk], 5 * NS_PER_SECOND, seed=i))
        most_windows = max(most_windows, aggregator.open_windows())
        most_ids = max(most_ids, aggregator.remembered_ids())
    # per instrument and interval: the current window and at most the previous one, within its grace
    assert most_windows <= 2 * len(CANDLE_INTERVALS) * 2
    # ids are kept until their 1h window seals: about an hour of trades, not the whole stream
    per_hour = len(trades) / span_h
    assert most_ids <= 2.2 * per_hour < len(trades) / 4
    assert aggregator.sealed > 2 * 60 * 10


# 4. invariants -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sides", [("buy", "sell"), ("buy", "sell", "unknown")])
def test_every_candle_satisfies_the_invariants(sides: tuple[str, ...]) -> None:
    trades = make_trades(3000, seed=17, sides=sides)
    aggregator = CandleAggregator()
    outputs = feed(aggregator, jittered(trades, 9 * NS_PER_SECOND, seed=3))
    candles = [c for o in outputs for c in (*o.updated, *o.sealed)] + aggregator.flush()
    assert sum(c.sealed for c in candles) and sum(not c.sealed for c in candles)
    for candle in candles:
        assert_invariants(candle, sides_known="unknown" not in sides)


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="grace"):
        CandleAggregator(intervals={"2m": 120 * NS_PER_SECOND})
    with pytest.raises(ValueError):
        CandleAggregator(allowed_lateness=-1)
    with pytest.raises(ValueError):
        CandleAggregator(intervals={"0": 0}, grace={"0": 0})
    custom = CandleAggregator(intervals={"10s": 10 * NS_PER_SECOND}, grace={"10s": 0})
    out = custom.add(make_trades(1, seed=2)[0])
    assert [c.interval for c in out.updated] == ["10s"]


# 5. the service on the real broker ---------------------------------------------------------------


def read_topic(settings: Any, topic: str, enough: Callable[[list[Any]], bool], timeout: float = 20.0) -> list[Any]:
    """Messages of every partition of ``topic`` from the beginning: until ``enough`` holds and the topic is idle."""
    consumer = Consumer({**client_config(settings), "group.id": "test-reader", "enable.auto.commit": False})
    messages: list[Any] = []
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions_of(settings, topic)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = [m for m in consumer.consume(1000, 0.5) if m.error() is None]
            messages.extend(batch)
            if not batch and enough(messages):
                break
    finally:
        consumer.close()
    return messages


@pytest.fixture
def running_service(broker: str) -> Iterator[LiveCandleService]:
    settings = load_settings()
    ensure_topics(settings, kinds=("trades", "candles", "late_trades"))
    service = LiveCandleService(settings)
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            service.run(stop)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target, name="live-candles")
    thread.start()
    try:
        assert service.ready.wait(20), "the service did not start"
        yield service
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive(), "the service did not stop"
    assert not errors, errors


def test_service_publishes_the_aggregators_candles_and_late_trades(running_service: LiveCandleService) -> None:
    settings = running_service.settings
    trades = make_trades(600, seed=9)
    arrivals = jittered(trades, 8 * NS_PER_SECOND, seed=4)
    late = dataclasses.replace(trades[0], trade_id="10000000001", price=Decimal("1"))  # its 1m window will be sealed
    arrivals.insert(len(arrivals) // 2, late)
    # one trade per instrument far ahead seals every window before it
    ahead = trades[-1].ts_event + 3 * 3600 * NS_PER_SECOND
    for instrument in ("BTC-USDT", "ETH-USDT"):
        last = next(t for t in reversed(trades) if t.instrument == instrument)
        arrivals.append(dataclasses.replace(last, trade_id="99999999999", ts_event=ahead))

    expected_outputs = feed(CandleAggregator(), arrivals)
    expected_sealed = [c for o in expected_outputs for c in o.sealed]
    expected_late = [x for o in expected_outputs for x in o.late]
    assert len(expected_late) == 1 and expected_late[0].trade == late and len(expected_sealed) > 40

    producer = make_producer(settings, "test-trades")
    for trade in arrivals:
        producer.produce(
            settings.topic("trades"), value=encode("trade", trade.to_record(time.time_ns())), key=trade.instrument
        )
    producer.produce(settings.topic("trades"), value=b"not avro", key="BTC-USDT")
    assert producer.flush(15) == 0

    def sealed_of_messages(messages: list[Any]) -> list[Any]:
        return [m for m in messages if dict(m.headers())[CANDLE_STATE_HEADER] == b"sealed"]

    messages = read_topic(
        settings, settings.topic("candles"), lambda ms: len(sealed_of_messages(ms)) >= len(expected_sealed)
    )
    forming = [m for m in messages if dict(m.headers())[CANDLE_STATE_HEADER] == b"forming"]
    assert forming and len(forming) + len(sealed_of_messages(messages)) == len(messages)

    def order(record: dict[str, Any]) -> tuple[str, str, int]:
        return (record["instrument"], record["interval"], record["window_start"])

    published = sorted((decode("candle", m.value()) for m in sealed_of_messages(messages)), key=order)
    assert published == sorted((c.to_record() for c in expected_sealed), key=order)

    late_messages = read_topic(settings, settings.topic("late_trades"), lambda ms: len(ms) >= 1)
    assert len(late_messages) == 1
    assert dict(late_messages[0].headers())[LATE_INTERVALS_HEADER] == ",".join(expected_late[0].intervals).encode()
    record = decode("trade", late_messages[0].value())
    assert Trade(**{f.name: record[f.name] for f in dataclasses.fields(Trade)}) == late
    stats = running_service.stats
    wait_until(lambda: stats.consumed == len(arrivals) and stats.dead_letters == 1, 10, f"all consumed: {stats}")
    assert stats.sealed == len(expected_sealed) and stats.late == 1 and stats.forming == len(forming)


def test_grace_and_lateness_come_from_the_settings():
    from streaming.aggregator import aggregator_from_settings
    from ticklake.settings import load_settings

    aggregator = aggregator_from_settings(
        load_settings(candle_grace_seconds={"1m": 2, "5m": 3, "1h": 4}, candle_allowed_lateness_seconds=1.5)
    )()
    assert aggregator.grace == {"1m": 2 * 10**9, "5m": 3 * 10**9, "1h": 4 * 10**9}
    assert aggregator.allowed_lateness == 1_500_000_000
    with pytest.raises(ValueError, match="TICKLAKE_CANDLE_GRACE_SECONDS has no grace for"):
        aggregator_from_settings(load_settings(candle_grace_seconds={"1m": 2}))
