"""Where the time goes: microseconds per trade in each stage of the capture path, one core.

Stages, in pipeline order: venue parse, Avro encode (trade + raw frame), Kafka produce (librdkafka
enqueue), Avro decode in the sink, Arrow batch build, Iceberg append (per row, at a 50k-row batch).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from confluent_kafka import Producer

from contracts.records import BookUpdate, RawMessage
from contracts.schemas import RecordName, _fastavro_encode, decode, encode
from contracts.tables import BRONZE_TRADES
from streaming.simulator import binance_wire
from streaming.simulator.books import SimBook
from streaming.simulator.market import Market
from streaming.sink import _to_arrow
from streaming.venues import binance
from ticklake.lake import ensure_table, open_catalog
from ticklake.settings import load_settings

N = 50_000


def per_item(label: str, work: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    work()
    micros = (time.perf_counter() - started) / count * 1e6
    print(f"{label:<34} {micros:8.2f} µs/trade")
    return micros


def encode_before_after(trade_records: list[Any], raw_records: list[Any]) -> None:
    """Per-record encode cost: the former fastavro path against the generated encoder (same bytes)."""
    market = Market(seed=2, instruments=["BTC-USDT"])
    book = SimBook(2, "BTC-USDT", streams=["depth"])
    books: list[Any] = []
    for i in range(N // 10):
        book.on_trade(market.next_trade("BTC-USDT", 1_790_000_000_000 + i))
        diff = book.drain("depth")
        if diff is not None:
            payload = binance_wire.depth_payload("BTC-USDT", diff, 1_790_000_000_000 + i)
            parsed = binance.parse(binance_wire.wrap("btcusdt@depth", payload).encode(), 1)
            books += [r.to_record(1) for r in parsed.records if isinstance(r, BookUpdate)]
    levels = sum(len(r["bids"]) + len(r["asks"]) for r in books) / len(books)
    cases: list[tuple[RecordName, list[Any], str]] = [
        ("trade", trade_records, "trade"),
        ("raw_message", raw_records, "raw frame"),
        ("book_update", books, f"book update, {levels:.1f} levels"),
    ]
    print("Avro encode per record, former fastavro path -> generated encoder (not in the sum):")
    for name, records, label in cases:
        assert all(encode(name, r) == _fastavro_encode(name, r) for r in records[:1000])
        micros = {}
        for path, encoder in (("before", _fastavro_encode), ("after", encode)):
            started = time.perf_counter()
            for record in records:
                encoder(name, record)
            micros[path] = (time.perf_counter() - started) / len(records) * 1e6
        print(
            f"  {label:<32} {micros['before']:8.2f} -> {micros['after']:5.2f} µs/record"
            f"  ({micros['before'] / micros['after']:.1f}x)"
        )


def main() -> None:
    market = Market(seed=1, instruments=["BTC-USDT"])
    frames = [
        binance_wire.combined_frame(market.next_trade("BTC-USDT", 1_790_000_000_000 + i), "trade").encode()
        for i in range(N)
    ]
    parsed = [binance.parse(frame, 1) for frame in frames]
    trades = [p.records[0] for p in parsed]
    total = 0.0
    total += per_item("parse (binance trade frame)", lambda: [binance.parse(f, 1) for f in frames], N)
    records = [t.to_record(1) for t in trades]
    total += per_item("to_record + Avro encode (trade)", lambda: [encode("trade", t.to_record(1)) for t in trades], N)
    raws = [RawMessage("binance", "btcusdt@trade", "c", i, 1, f).to_record(1) for i, f in enumerate(frames)]
    total += per_item("Avro encode (raw frame)", lambda: [encode("raw_message", r) for r in raws], N)
    encode_before_after(records, raws)
    producer = Producer({"bootstrap.servers": "127.0.0.1:9", "queue.buffering.max.messages": 2_000_000, "log_level": 0})
    encoded = [encode("trade", r) for r in records]

    def produce_all() -> None:
        for value in encoded:
            producer.produce("t", value=value, key="BTC-USDT")
            producer.produce("r", value=value, key="c")

    total += per_item("Kafka produce x2 (enqueue)", produce_all, N)
    decoded: list[dict[str, Any]] = []
    total += per_item("Avro decode in the sink (trade)", lambda: decoded.extend(decode("trade", e) for e in encoded), N)
    for i, row in enumerate(decoded):
        row["kafka_partition"] = 0
        row["kafka_offset"] = i
    with tempfile.TemporaryDirectory() as tmp:
        table = ensure_table(open_catalog(load_settings(state_dir=tmp)), BRONZE_TRADES)
        schema = table.schema().as_arrow()
        holder: list[pa.Table] = []
        total += per_item("Arrow batch build", lambda: holder.append(_to_arrow(decoded, schema, "ts_event")), N)
        total += per_item("Iceberg append (50k-row commit)", lambda: table.append(holder[0]), N)
    print(f"{'sum over stages':<34} {total:8.2f} µs/trade  (~{1e6 / total:,.0f} trades/s if one core did it all)")
    producer.purge()


if __name__ == "__main__":
    main()
