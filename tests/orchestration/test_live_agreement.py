"""Live vs batch candles on the real broker: the live aggregator and the sink run, then silver and its check."""

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from dagster import AssetCheckSeverity, instance_for_test, materialize
from silver_fixtures import MS, SECOND, arrival_stream, as_reference, bronze_row, on_the_bus
from testkit import reference_candles, wait_until

from contracts.records import Trade
from contracts.schemas import encode
from contracts.tables import CANDLE_INTERVALS, SILVER_TRADES
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.agreement import compare_live_with_batch, on_time_candles
from orchestration.defs.silver.assets import SILVER_ASSETS, grace_ns, lateness_ns
from orchestration.defs.silver.checks import MAX_UNEXPLAINED_FRACTION, live_candles_agree
from streaming.aggregator import CandleAggregator, LiveCandle, LiveCandleService, aggregator_from_settings
from streaming.bus import ensure_topics, make_producer
from streaming.sink import BronzeSink
from ticklake.lake import on_day, open_catalog
from ticklake.settings import Settings, load_settings
from ticklake.timeutil import date_to_ns

pytestmark = pytest.mark.timeout(240)

DAY = dt.date(2026, 11, 21)
NOON = date_to_ns(DAY) + 12 * 3600 * SECOND
VALUES = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "trade_count",
    "first_trade_id",
    "last_trade_id",
)


def stream_of_the_day() -> list[Trade]:
    """Trades around noon with late ones, then per instrument a trade at 22:00 that seals every window."""
    arrivals = arrival_stream(NOON, 1500, seed=8, late_every=29)
    last_recv = arrivals[-1].ts_recv
    for number, instrument in enumerate(("BTC-USDT", "ETH-USDT")):
        last = next(t for t in reversed(arrivals) if t.instrument == instrument)
        ts = date_to_ns(DAY) + 22 * 3600 * SECOND
        arrivals.append(dataclasses.replace(last, trade_id=str(90_000_000 + number), ts_event=ts, ts_recv=last_recv))
    return arrivals


def live_view(arrivals: list[Trade], settings: Settings) -> tuple[list[LiveCandle], list[Any]]:
    """What the live aggregator seals, and its late reports."""
    aggregator = CandleAggregator(grace=grace_ns(settings), allowed_lateness=lateness_ns(settings))
    outputs = [aggregator.add(trade) for trade in arrivals]
    return [c for o in outputs for c in o.sealed], [x for o in outputs for x in o.late]


def expected_differences(sealed: list[LiveCandle], batch_trades: list[Trade], settings: Settings) -> tuple[int, int]:
    """(differing, unexplained) of the sealed live candles against a batch over ``batch_trades``.

    Differing: the batch candle (all trades) is not the live one. Unexplained: nor is the candle of the
    window's on-time trades (the batch's late set, i.e. the aggregator's on the same arrivals).
    """
    late = {(x.trade.symbol, x.trade.trade_id, i) for x in live_view(batch_trades, settings)[1] for i in x.intervals}
    every = [as_reference(t) for t in batch_trades]
    differing = unexplained = 0
    for interval, length in CANDLE_INTERVALS.items():
        batch = reference_candles(every, DAY, length)
        kept = [t for t in every if (t["symbol"], t["trade_id"], interval) not in late]
        on_time = reference_candles(kept, DAY, length)
        for candle in (c for c in sealed if c.interval == interval):
            key = (candle.venue, candle.instrument, candle.window_start)
            if key not in batch or any(getattr(candle, c) != batch[key][c] for c in VALUES):
                differing += 1
                unexplained += key not in on_time or any(getattr(candle, c) != on_time[key][c] for c in VALUES)
    return differing, unexplained


def run_in_thread(name: str, work: Callable[[threading.Event], Any]) -> tuple[threading.Event, threading.Thread, list]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work(stop)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target, name=name)
    thread.start()
    return stop, thread, errors


@pytest.fixture
def live_pipeline(broker: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The live aggregator (from the start of the trades topic) and the bronze sink, running."""
    monkeypatch.setenv("TICKLAKE_SINK_BATCH_SECONDS", "0.5")
    settings = load_settings()
    ensure_topics(settings)
    service = LiveCandleService(
        settings, from_beginning=True, emit_forming=True, aggregator_factory=aggregator_from_settings(settings)
    )
    running = [
        run_in_thread("live-candles", service.run),
        run_in_thread("bronze-sink", lambda stop: BronzeSink(settings, open_catalog(settings)).run(stop)),
    ]
    assert service.ready.wait(20), "the live aggregator did not start"
    try:
        yield settings
    finally:
        for stop, _, _ in running:
            stop.set()
        for _, thread, errors in running:
            thread.join(30)
            assert not thread.is_alive(), f"{thread.name} did not stop"
            assert not errors, errors


def produce(settings: Settings, arrivals: list[Trade]) -> None:
    producer = make_producer(settings, "test-trades")
    for trade in arrivals:
        value = encode("trade", trade.to_record(trade.ts_recv + MS))
        producer.produce(settings.topic("trades"), key=trade.instrument, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def count(settings: Settings, table: str) -> int:
    catalog = open_catalog(settings)
    if not catalog.table_exists(table):
        return 0
    return catalog.load_table(table).scan(row_filter=on_day(DAY), selected_fields=("venue",)).to_arrow().num_rows


def build_and_check(instance: Any) -> Any:
    result = materialize(
        [*SILVER_ASSETS, live_candles_agree],
        partition_key=DAY.isoformat(),
        resources={"lake": LakeResource()},
        instance=instance,
    )
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_live_and_batch_agree_and_a_different_trade_set_is_counted_exactly(live_pipeline: Settings) -> None:
    settings = live_pipeline
    arrivals = stream_of_the_day()
    sealed, late = live_view(arrivals, settings)
    assert len(sealed) > 30 and late

    produce(settings, arrivals)
    wait_until(lambda: count(settings, "bronze.trades") == len(arrivals), 60, "bronze.trades to hold every trade")
    wait_until(lambda: count(settings, "bronze.live_candles") == len(sealed), 60, "the sealed live candles to land")
    wait_until(lambda: count(settings, "bronze.late_trade_events") == len(late), 60, "the late trades to land")

    # the sink landed exactly the sealed candles (no forming ones) and the late trades with their intervals
    catalog = open_catalog(settings)
    events = catalog.load_table("bronze.late_trade_events").scan().to_arrow().to_pylist()
    assert sorted((e["trade_id"], e["late_intervals"]) for e in events) == sorted(
        (x.trade.trade_id, ",".join(x.intervals)) for x in late
    )
    live_rows = catalog.load_table("bronze.live_candles").scan().to_arrow().to_pylist()
    assert sorted((r["interval"], r["instrument"], r["window_start"]) for r in live_rows) == sorted(
        (c.interval, c.instrument, c.window_start) for c in sealed
    )

    with instance_for_test() as instance:
        # the same trades: the batch differs from the live candles exactly where late trades went, and
        # the on-time trades of those windows give the live candles back
        first = build_and_check(instance)
        differing, unexplained = expected_differences(sealed, arrivals, settings)
        assert differing > 0 and unexplained == 0
        metadata = {k: getattr(v, "value", v) for k, v in first.metadata.items()}
        assert (metadata["compared"], metadata["differing"], metadata["explained_by_late_trades"]) == (
            len(sealed),
            differing,
            differing,
        )
        assert metadata["unexplained"] == 0 and first.passed

        # a deliberately different trade set in bronze: on-time trades the live aggregator never saw
        extra = [
            dataclasses.replace(t, trade_id=str(80_000_000 + n), price=t.price + Decimal(7), ts_recv=t.ts_event + MS)
            for n, t in enumerate(arrivals[100:1400:90])
        ]
        modified = sorted([*arrivals, *extra], key=lambda t: t.ts_recv)
        table = catalog.load_table("bronze.trades")
        rows = [bronze_row(a) for a in on_the_bus(modified)]
        table.overwrite(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()), overwrite_filter=on_day(DAY))
        second = build_and_check(instance)

    differing, unexplained = expected_differences(sealed, modified, settings)
    metadata = {k: getattr(v, "value", v) for k, v in second.metadata.items()}
    assert (metadata["differing"], metadata["unexplained"]) == (differing, unexplained)
    assert metadata["explained_by_late_trades"] == differing - unexplained
    assert unexplained >= len(extra)  # each extra trade changes at least its 1m candle
    assert metadata["unexplained_fraction"] == round(unexplained / len(sealed), 6) > MAX_UNEXPLAINED_FRACTION
    assert not second.passed and second.severity == AssetCheckSeverity.WARN
    assert len(metadata["unexplained_sample"].splitlines()) == min(10, unexplained)


def test_comparing_nothing_is_an_agreement() -> None:
    empty = pa.table({})
    assert on_time_candles(SILVER_TRADES.schema().as_arrow().empty_table(), empty).num_rows == 0
    agreement = compare_live_with_batch(empty, empty, empty)
    assert (agreement.compared, agreement.differing, agreement.unexplained_fraction) == (0, 0, 0.0)
