"""The bronze sink on the real embedded broker and a real SQLite Iceberg catalog.

Exactly once: offsets live in the snapshot summaries, a rerun repeats nothing, undecodable bytes
become dead letters without stopping the stream, and a fresh broker log (the embedded broker keeps
it in memory) is detected and read from the start without losing or repeating a row.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from testkit import free_port

from contracts.records import Trade
from contracts.schemas import encode
from contracts.tables import EVENT_DATES_KEY, OFFSETS_PREFIX
from streaming.broker import start_broker
from streaming.bus import client_config, ensure_topics, make_producer
from streaming.sink import BronzeSink, CommitReport
from ticklake.lake import committed_offsets, open_catalog, snapshot_event_dates, snapshot_offsets
from ticklake.processes import stop_process
from ticklake.settings import Settings, get_settings, load_settings
from ticklake.timeutil import NS_PER_SECOND, date_to_ns

DAYS = (dt.date(2026, 1, 1), dt.date(2026, 1, 2))
PRICES = (Decimal("65000.12345678"), Decimal("0.00000123"), Decimal("3000.5"))
SIZES = (Decimal("0.00062"), Decimal("12000000000.5"), Decimal("1"))
SINK_TIMEOUT = 60.0


def sink_settings() -> Settings:
    return load_settings(sink_batch_rows=10, sink_batch_seconds=0.2)


def trade(number: int) -> Trade:
    """A distinct trade; numbers alternate between two event days."""
    ts_event = date_to_ns(DAYS[number % 2]) + (3600 + number) * NS_PER_SECOND
    return Trade(
        venue="binance",
        instrument="BTC-USDT",
        symbol="BTCUSDT",
        trade_id=str(1_000 + number),
        price=PRICES[number % 3],
        size=SIZES[number % 3],
        side="buy" if number % 2 else "sell",
        ts_event=ts_event,
        ts_recv=ts_event + 5_000,
    )


def produce(settings: Settings, messages: list[tuple[int, bytes]]) -> None:
    """Produce (partition, value) pairs to the trades topic and wait until all are delivered.

    They go out in multi-record batches, as in production. The embedded broker (tansu, memory
    storage) then reports a partition's end as one past the *base* offset of its last batch, which
    under-reports it: the sink must still resume exactly (it probes the log instead of trusting it).
    """
    producer = make_producer(settings, "test-producer")
    failures: list[str] = []

    def on_delivery(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    topic = settings.topic("trades")
    for partition, value in messages:
        producer.produce(topic, value=value, key=b"BTC-USDT", partition=partition, on_delivery=on_delivery)
    assert producer.flush(15) == 0, "undelivered messages"
    assert not failures, failures


def encoded(numbers: range) -> list[tuple[int, bytes]]:
    return [(n % 3, encode("trade", trade(n).to_record(time.time_ns()))) for n in numbers]


def run_sink_until(
    settings: Settings, done: Callable[[dict[str, int]], bool], timeout: float = SINK_TIMEOUT
) -> dict[str, int]:
    """Run the real sink in a thread until ``done(rows committed per table)`` holds; return the counts."""
    committed: dict[str, int] = {}
    stop = threading.Event()
    errors: list[BaseException] = []

    def on_commit(report: CommitReport) -> None:
        committed[report.table] = committed.get(report.table, 0) + report.rows
        if done(committed):
            stop.set()

    def target() -> None:
        try:
            BronzeSink(settings, open_catalog(settings), on_commit=on_commit).run(stop)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target, name="bronze-sink")
    thread.start()
    reached = stop.wait(timeout)
    stop.set()
    thread.join(30)
    assert not thread.is_alive(), "the sink did not stop"
    assert not errors, errors
    assert reached, f"the sink did not get there in {timeout:.0f} s: {committed}"
    return committed


def trade_rows(settings: Settings) -> list[dict[str, Any]]:
    table = open_catalog(settings).load_table("bronze.trades")
    return table.scan().to_arrow().to_pylist()


def identities(rows: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    return Counter((r["venue"], r["symbol"], r["trade_id"]) for r in rows)


def expected_identities(numbers: range) -> set[tuple[str, str, str]]:
    return {("binance", "BTCUSDT", trade(n).trade_id) for n in numbers}


def test_sink_commits_offsets_with_the_data_resumes_exactly_and_dead_letters_garbage(
    broker: str,
) -> None:
    settings = sink_settings()
    topic = settings.topic("trades")
    ensure_topics(settings)
    n = 45
    produce(settings, encoded(range(n)))

    committed = run_sink_until(settings, lambda c: c.get("bronze.trades", 0) >= n)
    assert committed == {"bronze.trades": n}, "only the trades table had anything to commit"

    rows = trade_rows(settings)
    assert len(rows) == n
    assert identities(rows) == Counter(expected_identities(range(n)))
    by_id = {r["trade_id"]: r for r in rows}
    for number in range(n):
        expected = trade(number)
        row = by_id[expected.trade_id]
        assert (row["price"], row["size"]) == (expected.price, expected.size), "decimals are exact"
        assert (row["side"], row["ts_event"], row["ts_recv"]) == (
            expected.side,
            expected.ts_event,
            expected.ts_recv,
        )
        assert row["event_date"] == DAYS[number % 2]
        assert row["kafka_partition"] == number % 3
    assert sorted(r["kafka_offset"] for r in rows if r["kafka_partition"] == 0) == list(range(15))

    # the next offsets stored with the data are exactly the topic's ends
    highs = {(topic, 0): 15, (topic, 1): 15, (topic, 2): 15}
    table = open_catalog(settings).load_table("bronze.trades")
    assert committed_offsets(table) == highs
    snapshots = table.snapshots()
    assert snapshots
    seen_dates: set[dt.date] = set()
    previous = dict.fromkeys(highs, 0)
    for snapshot in snapshots:
        assert snapshot.summary is not None
        summary = dict(snapshot.summary.additional_properties)
        assert {f"{OFFSETS_PREFIX}{topic}.{p}" for p in range(3)} <= set(summary)
        assert EVENT_DATES_KEY in summary
        offsets = snapshot_offsets(summary)
        assert set(offsets) == set(highs)
        assert all(offsets[key] >= previous[key] for key in highs), "offsets never go back"
        previous = offsets
        seen_dates |= snapshot_event_dates(summary)
    assert previous == highs
    assert seen_dates == set(DAYS)
    snapshot_count = len(snapshots)

    # a rerun with nothing new commits nothing and repeats nothing, although the broker under-reports
    # the end of the log (see produce)
    consumer = Consumer({**client_config(settings), "group.id": "test-watermarks"})
    try:
        reported_end = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()
    assert reported_end < 15, "the broker no longer under-reports: the probe path is untested here"
    BronzeSink(settings, open_catalog(settings)).run(idle_exit=1.5)
    table = open_catalog(settings).load_table("bronze.trades")
    assert len(table.snapshots()) == snapshot_count
    assert identities(trade_rows(settings)) == Counter(expected_identities(range(n)))

    # bytes that are not Avro become a decode-stage dead letter; later trades still land
    garbage = b"not avro \xff\xfe at all"
    produce(settings, [(1, garbage)])
    produce(settings, encoded(range(n, n + 6)))
    committed = run_sink_until(
        settings, lambda c: c.get("bronze.trades", 0) >= 6 and c.get("bronze.dead_letters", 0) >= 1
    )
    assert committed == {"bronze.trades": 6, "bronze.dead_letters": 1}
    rows = trade_rows(settings)
    assert identities(rows) == Counter(expected_identities(range(n + 6))), "no loss, no duplicate"

    catalog = open_catalog(settings)
    (letter,) = catalog.load_table("bronze.dead_letters").scan().to_arrow().to_pylist()
    assert letter["stage"] == "decode"
    assert letter["payload"] == garbage
    assert letter["source"] == f"{topic}/1/15"
    assert letter["error"].startswith("trade: cannot decode")
    assert letter["venue"] == "unknown"
    highs = {(topic, 0): 17, (topic, 1): 18, (topic, 2): 17}
    assert committed_offsets(catalog.load_table("bronze.trades")) == highs, "the sink moved past it"


@pytest.fixture
def own_brokers(tmp_path: Path) -> Iterator[list[Any]]:
    """Brokers a test starts itself (so that it can stop them); all stopped at the end."""
    started: list[Any] = []
    try:
        yield started
    finally:
        for process in started:
            stop_process(process)


def test_sink_survives_a_broker_log_reset_without_loss(
    own_brokers: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def use_new_broker(name: str) -> tuple[Any, Settings]:
        bootstrap = f"127.0.0.1:{free_port()}"
        process = start_broker(bootstrap, log_file=tmp_path / f"{name}.log")
        own_brokers.append(process)
        monkeypatch.setenv("TICKLAKE_KAFKA_BOOTSTRAP", bootstrap)
        get_settings.cache_clear()
        settings = sink_settings()
        assert get_settings().kafka_bootstrap == settings.kafka_bootstrap == bootstrap
        ensure_topics(settings)
        return process, settings

    first, settings = use_new_broker("first")
    topic = settings.topic("trades")
    n, m = 30, 6
    produce(settings, encoded(range(n)))
    run_sink_until(settings, lambda c: c.get("bronze.trades", 0) >= n)
    table = open_catalog(settings).load_table("bronze.trades")
    assert committed_offsets(table) == {(topic, p): 10 for p in range(3)}

    stop_process(first)
    assert first.poll() is not None
    _second, settings = use_new_broker("second")  # same state dir, empty log
    produce(settings, encoded(range(n, n + m)))  # offsets 0..1 again on every partition

    with caplog.at_level(logging.WARNING, logger="streaming.sink"):
        committed = run_sink_until(settings, lambda c: c.get("bronze.trades", 0) >= m)
    assert committed == {"bronze.trades": m}
    resets = [r.getMessage() for r in caplog.records if "a new broker log" in r.getMessage()]
    assert len(resets) == 3, resets
    for partition in range(3):
        assert any(r.startswith(f"{topic}[{partition}]: the stored offsets refer to Kafka cluster") for r in resets)

    rows = trade_rows(settings)
    assert len(rows) == n + m
    assert identities(rows) == Counter(expected_identities(range(n + m))), "no loss, no duplicate"
    table = open_catalog(settings).load_table("bronze.trades")
    assert committed_offsets(table) == {(topic, p): 2 for p in range(3)}
