"""The floor: CPU per Binance trade of the libraries alone, with no ticklake logic at all.

Binance sends one trade per WebSocket frame, and bronze keeps the frame and the trade: per trade,
one frame crosses the WebSocket and two messages cross Kafka and land in Parquet. This bench times
only that library work, each part as cheaply as the library allows, with values prepared in advance:

* WebSocket: a server process frames pre-rendered trade frames (``websockets``' protocol, written in
  bulk as the simulator's outbox does); a ``websockets`` client receives them as bytes, and so does
  the collector's bulk reader (:mod:`streaming.ws_reader`), which the floor counts;
* JSON: ``orjson.loads`` of the frame (no field is read or checked);
* Kafka: ``confluent-kafka`` produces a pre-encoded trade and raw-frame message per trade to the
  embedded broker, and consumes them back in batches; the producer's, the broker's and the consumer's
  CPU (their librdkafka threads included);
* Parquet: ``pyarrow`` writes the trade and raw-frame rows (zstd), from Arrow tables built in advance.

Every process shares the machine's cores, so the sum is a lower bound of the CPU per trade of any
pipeline built on these libraries, before it reads a field, builds a record, encodes or decodes Avro,
or simulates a market. At 100,000 trades/s on two cores the whole budget is 20 µs per trade.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from benchkit import binance_trade_frames, cpu_seconds, free_port
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from contracts.avro_writer import record_encoder
from contracts.records import Trade
from streaming.broker import start_broker
from streaming.venues import binance
from streaming.ws_reader import BulkReadConnection

CORES = 2
GOAL = 100_000
"""Trades per second the issue asks for; the budget per trade is ``CORES / GOAL`` seconds."""


def serve_frames(port: int, count: int) -> None:
    """Child process: send ``count`` frames to the first client, framed in bulk; print the CPU per frame."""
    frames = binance_trade_frames(1000)

    async def handler(connection: ServerConnection) -> None:
        started = time.process_time()
        protocol, transport = connection.protocol, connection.transport
        for sent in range(0, count, len(frames)):
            for frame in frames[: count - sent]:
                protocol.send_text(frame)
            transport.write(b"".join(protocol.data_to_send()))
            while transport.get_write_buffer_size() > 4 * 2**20:
                await asyncio.sleep(0.001)
        print(f"{(time.process_time() - started) / count * 1e6:.3f}", flush=True)
        await connection.wait_closed()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, max_size=2**24, ping_interval=None) as server:
            await server.wait_closed()

    asyncio.run(main())


def websocket_floor(count: int, bulk: bool) -> tuple[float, float]:
    """(sender, receiver) CPU µs per frame; the receiver reads in bulk or with ``websockets``' ``recv``."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(count)], stdout=subprocess.PIPE, text=True
    )
    try:

        async def receive() -> float:
            for _ in range(100):
                try:
                    websocket = await connect(
                        f"ws://127.0.0.1:{port}",
                        max_size=2**24,
                        ping_interval=None,
                        compression=None,
                        create_connection=BulkReadConnection if bulk else None,
                    )
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the frame server did not start")
            async with websocket:
                started = time.process_time()
                if isinstance(websocket, BulkReadConnection):
                    received = 0
                    while received < count:
                        received += len(await websocket.received())
                else:
                    for _ in range(count):
                        await websocket.recv(decode=False)
                return (time.process_time() - started) / count * 1e6

        receiver = asyncio.run(receive())
        assert server.stdout is not None
        sender = float(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(10)
    return sender, receiver


def json_floor(frames: list[bytes]) -> float:
    loads = orjson.loads
    started = time.process_time()
    for frame in frames:
        loads(frame)
    return (time.process_time() - started) / len(frames) * 1e6


def kafka_floor(frames: list[bytes], workdir: Path, per_message: int = 1) -> tuple[float, float, float]:
    """(producer, broker, consumer) CPU µs per trade: a trade message and a raw-frame message each.

    With ``per_message`` > 1, each message carries that many trades (or raw frames) back to back: what
    batching records into messages, a contract change, could save at best.
    """
    trade = binance.parse(frames[0], 1).records[0]
    assert isinstance(trade, Trade)
    encode_trade = record_encoder("trade").attributes
    encode_raw = record_encoder("raw_message").values
    assert encode_trade is not None and encode_raw is not None
    trade_value = encode_trade(trade, 2)
    raw_values = [
        encode_raw(
            venue="binance", channel="btcusdt@trade", connection_id="c" * 32, seq=i, ts_recv=1, ts_ingest=2, payload=f
        )
        for i, f in enumerate(frames)
    ]
    count = len(frames)
    if per_message > 1:
        raw_values = [b"".join(raw_values[i : i + per_message]) for i in range(0, count, per_message)]
        trade_value *= per_message
    bootstrap = f"127.0.0.1:{free_port()}"
    broker = start_broker(bootstrap, log_file=workdir / "broker.log")
    try:
        common: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap, "log_level": 0}
        topics = ("floor-trades", "floor-raw")
        admin = AdminClient(common)
        for future in admin.create_topics([NewTopic(t, num_partitions=1) for t in topics]).values():
            future.result(30)
        producer = Producer(
            common | {"linger.ms": 20, "queue.buffering.max.messages": 2_000_000, "delivery.report.only.error": True}
        )
        producer.produce("floor-trades", b"warm-up")
        producer.produce("floor-raw", b"warm-up")
        producer.flush(30)
        broker_before = cpu_seconds(broker.pid)
        started = time.process_time()
        produce = producer.produce
        for raw in raw_values:
            while True:
                try:
                    produce("floor-trades", trade_value, "BTC-USDT")
                    produce("floor-raw", raw, "c" * 32)
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(120)
        producer_cpu = (time.process_time() - started) / count * 1e6
        consumer = Consumer(common | {"group.id": "floor", "enable.auto.commit": False})
        consumer.assign([TopicPartition("floor-trades", 0, 1), TopicPartition("floor-raw", 0, 1)])
        started = time.process_time()
        received, wanted = 0, 2 * len(raw_values)
        while received < wanted:
            batch = consumer.consume(10_000, timeout=10)
            if not batch:
                raise RuntimeError(f"the consumer stalled after {received:,} of {wanted:,} messages")
            received += len(batch)
        consumer_cpu = (time.process_time() - started) / count * 1e6
        broker_cpu = (cpu_seconds(broker.pid) - broker_before) / count * 1e6
        consumer.close()
    finally:
        broker.terminate()
        broker.wait(10)
    return producer_cpu, broker_cpu, consumer_cpu


def parquet_floor(frames: list[bytes], workdir: Path) -> float:
    """CPU µs per trade to write a trade row and a raw-frame row to zstd Parquet."""
    count = len(frames)
    trades = pa.table(
        {
            "venue": ["binance"] * count,
            "instrument": ["BTC-USDT"] * count,
            "symbol": ["BTCUSDT"] * count,
            "trade_id": [str(4_000_000_000 + i) for i in range(count)],
            "price": pa.array([9_712_345_000_000 + i % 977 for i in range(count)], pa.int64()).cast(
                pa.decimal128(38, 8)
            ),
            "size": pa.array([1_230_000 + i % 313 for i in range(count)], pa.int64()).cast(pa.decimal128(38, 8)),
            "side": ["buy", "sell"] * (count // 2) + ["buy"] * (count % 2),
            "ts_event": pa.array([1_790_000_000_000_000_000 + i * 10_000 for i in range(count)], pa.int64()),
            "ts_recv": pa.array([1_790_000_000_000_000_000 + i * 10_000 + 5 for i in range(count)], pa.int64()),
            "ts_ingest": pa.array([1_790_000_000_000_000_000 + i * 10_000 + 9 for i in range(count)], pa.int64()),
        }
    )
    raws = pa.table(
        {
            "venue": ["binance"] * count,
            "channel": ["btcusdt@trade"] * count,
            "connection_id": ["c" * 32] * count,
            "seq": pa.array(range(count), pa.int64()),
            "ts_recv": pa.array([1_790_000_000_000_000_000 + i * 10_000 for i in range(count)], pa.int64()),
            "payload": pa.array(frames, pa.binary()),
        }
    )
    started = time.process_time()
    pq.write_table(trades, workdir / "trades.parquet", compression="zstd")
    pq.write_table(raws, workdir / "raw.parquet", compression="zstd")
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=300_000, help="trades per measurement")
    parser.add_argument("--serve", nargs=2, type=int, metavar=("PORT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_frames(*args.serve)
        return
    frames = binance_trade_frames(args.trades)
    with tempfile.TemporaryDirectory(prefix="ticklake-floors-") as tmp:
        websockets_receiver = websocket_floor(args.trades, bulk=False)[1]
        sender, receiver = websocket_floor(args.trades, bulk=True)
        parts = {
            "WebSocket send (framing, bulk writes)": sender,
            "WebSocket receive (bulk reader)": receiver,
            "JSON parse (orjson.loads)": json_floor(frames),
        }
        producer, broker, consumer = kafka_floor(frames, Path(tmp))
        parts |= {
            "Kafka produce, 2 messages": producer,
            "Kafka broker (embedded), 2 messages": broker,
            "Kafka consume, 2 messages": consumer,
            "Parquet write, 2 rows (zstd)": parquet_floor(frames, Path(tmp)),
        }
        batched = sum(kafka_floor(frames, Path(tmp), per_message=100))
    for label, micros in parts.items():
        print(f"{label:<40} {micros:6.2f} µs/trade")
        if label == "WebSocket receive (bulk reader)":
            print(f"{'  (websockets client recv, not counted)':<40} {websockets_receiver:6.2f} µs/trade")
    total = sum(parts.values())
    budget = CORES / GOAL * 1e6
    print(f"{'floor, libraries only':<40} {total:6.2f} µs/trade")
    kafka = producer + broker + consumer
    print(
        f"{'  with 100 trades per Kafka message':<40} {total - kafka + batched:6.2f} µs/trade "
        f"(Kafka {kafka:.2f} -> {batched:.2f}: the most batching records into messages could save)"
    )
    print(
        f"budget at {GOAL:,} trades/s on {CORES} cores: {budget:.1f} µs/trade; left for all of ticklake's own work "
        f"(simulated market, parsing, records, Avro both ways, dedup, sequences, commits): {budget - total:.1f} µs, "
        f"{budget - total + kafka - batched:.1f} µs with batched messages"
    )


if __name__ == "__main__":
    main()
