"""Sequence gaps on a venue stream are detected by the collector, published, and land in bronze.gaps."""

import json
import threading

from confluent_kafka import Consumer, TopicPartition

from contracts.schemas import decode
from streaming.bus import client_config, ensure_topics, partitions_of
from streaming.collector import Collector
from streaming.feeds.binance import feed as binance_feed
from streaming.sink import BronzeSink
from streaming.transport import Frame
from ticklake.lake import open_catalog
from ticklake.settings import load_settings

T = 1_790_649_901_913


def trade_frame(trade_id: int) -> bytes:
    data = {"e": "trade", "E": T, "s": "BTCUSDT", "t": trade_id, "p": "65000.1", "q": "0.5", "T": T, "m": True}
    return json.dumps({"stream": "btcusdt@trade", "data": data}).encode()


def read_topic(settings, topic):
    consumer = Consumer({**client_config(settings), "group.id": "test-gaps", "enable.auto.commit": False})
    try:
        partitions = partitions_of(settings, topic)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        values = []
        for _ in range(20):
            values += [m.value() for m in consumer.consume(100, timeout=0.3) if m.error() is None]
        return values
    finally:
        consumer.close()


def test_a_skipped_trade_id_is_a_gap_record_and_a_count(broker):
    settings = load_settings(sink_batch_rows=1, sink_batch_seconds=0.2)
    ensure_topics(settings)
    collector = Collector(settings, binance_feed(settings))
    first = [(0, 100), (1, 101), (2, 105), (3, 106)]  # 102..104 never arrived
    for seq, trade_id in first:
        collector.handle(Frame("conn-a", seq, T * 1_000_000 + seq, trade_frame(trade_id)))
    # Trade ids are per symbol, not per connection: what a reconnect skipped (107) is a gap too.
    for seq, trade_id in [(0, 108), (1, 109)]:
        collector.handle(Frame("conn-b", seq, T * 1_000_000 + seq, trade_frame(trade_id)))
    assert collector.producer.flush(15) == 0
    assert (collector.stats.gaps, collector.stats.missing, collector.stats.trades) == (2, 4, 6)

    gap, across = [decode("gap", value) for value in read_topic(settings, settings.topic("gaps"))]
    assert (gap["venue"], gap["stream"], gap["connection_id"]) == ("binance", "trades:BTCUSDT", "conn-a")
    assert (gap["first_missing"], gap["last_missing"], gap["missing"], gap["repaired"]) == (102, 104, 3, False)
    assert (across["connection_id"], across["first_missing"], across["last_missing"]) == ("conn-b", 107, 107)

    stop = threading.Event()
    landed = {}

    def on_commit(report):
        landed[report.table] = landed.get(report.table, 0) + report.rows
        if landed.get("bronze.gaps", 0) >= 2 and landed.get("bronze.trades", 0) >= 6:
            stop.set()

    sink = threading.Thread(target=lambda: BronzeSink(settings, open_catalog(settings), on_commit=on_commit).run(stop))
    sink.start()
    reached = stop.wait(60)
    stop.set()
    sink.join(30)
    assert reached, landed
    rows = open_catalog(settings).load_table("bronze.gaps").scan().to_arrow().to_pylist()
    assert sorted((row["stream"], row["first_missing"], row["last_missing"]) for row in rows) == [
        ("trades:BTCUSDT", 102, 104),
        ("trades:BTCUSDT", 107, 107),
    ]
