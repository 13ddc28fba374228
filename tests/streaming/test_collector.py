"""The collector on the real embedded broker: raw copies, trades keyed by instrument, dead letters.

Then the real bronze sink lands the dead letters in ``bronze.dead_letters``.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from testkit import free_port

from contracts.records import DeadLetter, RawMessage, Record, Ticker, Trade
from contracts.schemas import RecordName, decode, encode
from streaming import collector as collector_module
from streaming.bus import client_config, ensure_topics, partitions_of
from streaming.collector import Collector
from streaming.errors import BrokerError, ParseError
from streaming.feeds.binance import feed as binance_feed
from streaming.sink import BronzeSink, CommitReport
from streaming.transport import Frame
from streaming.venues import binance
from ticklake.lake import open_catalog
from ticklake.settings import Settings, load_settings

CONNECTION = "c0ffee" * 5 + "00"
TS_RECV = 1_790_649_902_000_000_000

TRADE = (
    b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1790649901913,"s":"BTCUSDT","t":6720857582,'
    b'"p":"83034.29000000","q":"0.00062000","T":1790649901913,"m":true,"M":true}}'
)
ACK = b'{"result":null,"id":1}'
TRUNCATED = b'{"stream":"btcusdt@trade","data":{"e":"trade","E":17906499'
NEGATIVE = b'{"e":"trade","E":1790649901913,"s":"ETHUSDT","t":42,"p":"-3000.10","q":"1.5","T":1790649901913,"m":false}'
FRAMES = [Frame(CONNECTION, seq, TS_RECV + seq, data) for seq, data in enumerate([TRADE, ACK, TRUNCATED, NEGATIVE])]


def parse_error(data: bytes) -> str:
    try:
        binance.parse(data, TS_RECV)
    except ParseError as error:
        return str(error)
    raise AssertionError(f"{data!r} parses")


def consume_all(settings: Settings, kind: str) -> list[tuple[bytes | None, bytes, int]]:
    """Every message of a topic as (key, value, partition), read by explicit assignment up to the end."""
    topic = settings.topic(kind)
    consumer = Consumer({**client_config(settings), "group.id": "test-reader", "enable.auto.commit": False})
    try:
        ends: dict[int, int] = {}
        for partition in partitions_of(settings, topic):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > 0:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        positions = dict.fromkeys(ends, 0)
        out: list[tuple[bytes | None, bytes, int]] = []
        deadline = time.monotonic() + 20
        while any(positions[p] < ends[p] for p in ends):
            assert time.monotonic() < deadline, f"{topic}: not everything was read back"
            for message in consumer.consume(num_messages=100, timeout=0.2):
                assert message.error() is None, message.error()
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                out.append((message.key(), message.value() or b"", partition))
                positions[partition] = offset + 1
        return out
    finally:
        consumer.close()


def test_collector_publishes_raw_trades_and_dead_letters_then_the_sink_lands_them(broker: str) -> None:
    settings = load_settings(sink_batch_seconds=0.2)
    ensure_topics(settings)
    collector = Collector(settings, binance_feed(settings))
    for frame in FRAMES:
        collector.handle(frame)
    assert collector.producer.flush(15) == 0, "every message is delivered"
    assert (collector.stats.frames, collector.stats.trades, collector.stats.controls) == (4, 1, 1)
    assert (collector.stats.rejects, collector.stats.delivery_errors) == (2, 0)

    # every frame, exactly as received, on the raw topic (keyed by connection, so in order)
    raw = consume_all(settings, "raw")
    assert len(raw) == 4
    assert {key for key, _, _ in raw} == {CONNECTION.encode()}
    assert len({partition for _, _, partition in raw}) == 1
    records = [decode("raw_message", value) for _, value, _ in raw]
    assert [(r["seq"], r["payload"], r["connection_id"]) for r in records] == [
        (f.seq, f.data, CONNECTION) for f in FRAMES
    ]
    assert [r["channel"] for r in records] == ["btcusdt@trade", "", "", ""]
    assert all(r["venue"] == "binance" for r in records)
    assert [r["ts_recv"] for r in records] == [f.ts_recv for f in FRAMES]
    assert all(r["ts_ingest"] >= r["ts_recv"] for r in records)

    # only the valid trade on the trades topic, keyed by instrument, with exact decimals
    ((key, value, _),) = consume_all(settings, "trades")
    assert key == b"BTC-USDT"
    trade = decode("trade", value)
    assert {k: v for k, v in trade.items() if k != "ts_ingest"} == {
        "venue": "binance",
        "instrument": "BTC-USDT",
        "symbol": "BTCUSDT",
        "trade_id": "6720857582",
        "price": Decimal("83034.29"),
        "size": Decimal("0.00062"),
        "side": "sell",
        "ts_event": 1_790_649_901_913_000_000,
        "ts_recv": TS_RECV,
    }

    # the malformed frame and the negative price, as parse-stage dead letters with the raw bytes
    dead = consume_all(settings, "dlq")
    assert {key for key, _, _ in dead} == {b"binance"}
    letters = sorted((decode("dead_letter", value) for _, value, _ in dead), key=lambda r: r["seq"])
    expected: list[dict[str, Any]] = [
        {
            "venue": "binance",
            "stage": "parse",
            "error": parse_error(frame.data),
            "connection_id": CONNECTION,
            "seq": frame.seq,
            "source": None,
            "ts_recv": frame.ts_recv,
            "payload": frame.data,
        }
        for frame in FRAMES[2:]
    ]
    assert [{k: v for k, v in letter.items() if k != "ts_ingest"} for letter in letters] == expected
    assert "negative" in letters[1]["error"] and "'p'" in letters[1]["error"]
    assert "unparseable frame" in letters[0]["error"]

    # the real sink lands them; stop once all three tables hold what the bus holds
    committed: dict[str, int] = {}
    stop = threading.Event()
    target = {"bronze.raw_messages": 4, "bronze.trades": 1, "bronze.dead_letters": 2}

    def on_commit(report: CommitReport) -> None:
        committed[report.table] = committed.get(report.table, 0) + report.rows
        if all(committed.get(table, 0) >= rows for table, rows in target.items()):
            stop.set()

    catalog = open_catalog(settings)
    sink = BronzeSink(settings, catalog, on_commit=on_commit)
    errors: list[BaseException] = []

    def run_sink() -> None:
        try:
            sink.run(stop)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run_sink, name="sink")
    thread.start()
    finished = stop.wait(60)
    stop.set()
    thread.join(30)
    assert not thread.is_alive() and not errors, errors
    assert finished, f"the sink did not commit everything: {committed}"
    assert committed == target

    rows = catalog.load_table("bronze.dead_letters").scan().to_arrow().to_pylist()
    assert sorted((r["payload"], r["venue"], r["stage"], r["error"], r["seq"]) for r in rows) == sorted(
        (e["payload"], "binance", "parse", e["error"], e["seq"]) for e in expected
    )
    assert all(r["connection_id"] == CONNECTION for r in rows)
    stored_raw = catalog.load_table("bronze.raw_messages").scan().to_arrow().to_pylist()
    assert sorted((r["seq"], r["payload"]) for r in stored_raw) == [(f.seq, f.data) for f in FRAMES]
    (stored_trade,) = catalog.load_table("bronze.trades").scan().to_arrow().to_pylist()
    assert (stored_trade["price"], stored_trade["size"]) == (Decimal("83034.29"), Decimal("0.00062"))


def test_run_collectors_captures_several_venues_in_one_loop(broker, tmp_path):
    import asyncio

    from streaming.collector import run_collectors
    from streaming.errors import StreamingError
    from streaming.simulator.server import open_simulator
    from ticklake.settings import load_settings

    async def scenario():
        base = load_settings(sim_rate=200.0)
        async with open_simulator(base, port=0, venues=["binance", "kraken"]) as sim:
            settings = load_settings(sim_port=sim.port)  # the venues' URLs default to the simulator's
            stop = asyncio.Event()
            task = asyncio.create_task(run_collectors(settings, ["binance", "kraken"], stop))
            while not all(sim.venues[v].trades_sent >= 50 for v in ("binance", "kraken")):
                await asyncio.sleep(0.05)
            stop.set()
            return await asyncio.wait_for(task, 60)

    stats = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert set(stats) == {"binance", "kraken"}
    assert all(s.trades >= 1 and s.rejects == 0 for s in stats.values()), stats

    with pytest.raises(StreamingError, match="no feed for venues"):
        asyncio.run(run_collectors(load_settings(), ["nasdaq"]))


def test_a_failed_delivery_raises_broker_error_from_handle() -> None:
    # Only failed deliveries call back into Python (delivery.report.only.error); they must still stop the collector.
    nobody = f"127.0.0.1:{free_port()}"
    settings = load_settings(kafka_bootstrap=nobody, kafka_properties={"message.timeout.ms": "300", "log_level": "0"})
    collector = Collector(settings, binance_feed(settings))
    collector.handle(FRAMES[0])
    deadline = time.monotonic() + 30
    with pytest.raises(BrokerError, match=r"Kafka delivery failed: .*timed out"):
        seq = 1
        while time.monotonic() < deadline:
            time.sleep(0.05)
            collector.handle(Frame(CONNECTION, seq, TS_RECV + seq, ACK))
            seq += 1
    assert collector.stats.delivery_errors >= 1
    collector.producer.purge()


def test_every_message_is_what_its_record_s_dict_encodes_to(monkeypatch: pytest.MonkeyPatch) -> None:
    # The collector encodes records from their attributes and the raw copy from the frame's values: the bytes must
    # be those of the former path, encode(name, record.to_record(ts_ingest)), in the same order, with the same keys.
    sent: list[tuple[str, str, bytes]] = []

    class Recorder:
        def produce(self, topic: str, value: bytes, key: str) -> None:
            sent.append((topic, key, value))

        def poll(self, timeout: float) -> int:
            return 0

    ts_ingest = TS_RECV + 10**6
    monkeypatch.setattr(collector_module, "make_producer", lambda *args, **kwargs: Recorder())
    monkeypatch.setattr(collector_module, "now_ns", lambda: ts_ingest)
    settings = load_settings()
    collector = Collector(settings, binance_feed(settings))
    ticker = (
        b'{"stream":"btcusdt@bookTicker","data":'
        b'{"u":400900217,"s":"BTCUSDT","b":"25.35","B":"31.2","a":"25.36","A":"40.66"}}'
    )
    frames = [*FRAMES, Frame(CONNECTION, len(FRAMES), TS_RECV, ticker)]
    for frame in frames:
        collector.handle(frame)

    routes: dict[type, tuple[str, RecordName]] = {Trade: ("trades", "trade"), Ticker: ("ticker", "ticker")}
    expected = []
    records: list[Record]
    for frame in frames:
        try:
            parsed = binance.parse(frame.data, frame.ts_recv)
        except ParseError as error:
            letter = DeadLetter(
                "binance", "parse", str(error), frame.ts_recv, frame.data, frame.connection_id, frame.seq
            )
            expected.append((settings.topic("dlq"), "binance", encode("dead_letter", letter.to_record(ts_ingest))))
            channel, records = "", []
        else:
            channel, records = parsed.channel, list(parsed.records)
        raw = RawMessage("binance", channel, frame.connection_id, frame.seq, frame.ts_recv, frame.data)
        expected.append((settings.topic("raw"), frame.connection_id, encode("raw_message", raw.to_record(ts_ingest))))
        for record in records:
            kind, name = routes[type(record)]
            expected.append((settings.topic(kind), record.instrument, encode(name, record.to_record(ts_ingest))))
    assert [topic for topic, _, _ in sent].count(settings.topic("ticker")) == 1
    assert sent == expected
