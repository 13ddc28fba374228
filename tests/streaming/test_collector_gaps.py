"""Sequence gaps on a venue stream are detected by the collector, published, and land in bronze.gaps."""

import json
import threading

from confluent_kafka import Consumer, TopicPartition

from contracts.schemas import decode
from streaming.bus import client_config, ensure_topics, partitions_of
from streaming.collector import Collector, binance_feed
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
    for seq, trade_id in [(0, 300), (1, 301)]:  # a new connection: numbering starts afresh, no gap
        collector.handle(Frame("conn-b", seq, T * 1_000_000 + seq, trade_frame(trade_id)))
    assert collector.producer.flush(15) == 0
    assert (collector.stats.gaps, collector.stats.missing, collector.stats.trades) == (1, 3, 6)

    (gap,) = [decode("gap", value) for value in read_topic(settings, settings.topic("gaps"))]
    assert (gap["venue"], gap["stream"], gap["connection_id"]) == ("binance", "trades:BTCUSDT", "conn-a")
    assert (gap["first_missing"], gap["last_missing"], gap["missing"], gap["repaired"]) == (102, 104, 3, False)

    stop = threading.Event()
    landed = {}

    def on_commit(report):
        landed[report.table] = landed.get(report.table, 0) + report.rows
        if landed.get("bronze.gaps") and landed.get("bronze.trades", 0) >= 6:
            stop.set()

    sink = threading.Thread(target=lambda: BronzeSink(settings, open_catalog(settings), on_commit=on_commit).run(stop))
    sink.start()
    reached = stop.wait(60)
    stop.set()
    sink.join(30)
    assert reached, landed
    (row,) = open_catalog(settings).load_table("bronze.gaps").scan().to_arrow().to_pylist()
    assert (row["stream"], row["first_missing"], row["last_missing"]) == ("trades:BTCUSDT", 102, 104)
