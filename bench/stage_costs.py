"""Where the time goes: microseconds per trade in each stage of the capture path, one core.

Stages, in pipeline order: venue parse, Avro encode (trade + raw frame), Kafka produce (librdkafka
enqueue), Avro decode in the sink, Arrow batch build, Iceberg append (per row, at a 50k-row batch).

With ``--collector``: the CPU one Binance collector spends per frame, ``Collector.handle`` driven in
one process with the frames the simulator sends at ``--rate`` trades/s over three instruments (trades,
``depth@100ms`` diffs and ``bookTicker``s in its proportions, books synced from its REST snapshot), into a
real producer and an embedded broker started for the run. Each run reports the CPU of the calling
thread in ``handle`` and of the whole process (librdkafka's threads included) up to the flush.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from benchkit import binance_trade_frames
from confluent_kafka import Producer

from contracts.avro_reader import record_reader
from contracts.avro_writer import record_encoder
from contracts.records import BookUpdate, RawMessage
from contracts.schemas import RecordName, _fastavro_encode, encode
from contracts.tables import BRONZE_TRADES
from streaming.broker import start_broker
from streaming.bronze_arrow import columns_to_table
from streaming.bus import ensure_topics
from streaming.collector import Collector
from streaming.feeds.binance import feed as binance_feed
from streaming.simulator import binance_wire
from streaming.simulator.binance import DEPTH_INTERVALS
from streaming.simulator.books import SimBook
from streaming.simulator.market import Market
from streaming.simulator.venue import TICK_SECONDS
from streaming.transport import Frame
from streaming.venues import binance
from ticklake.lake import ensure_table, open_catalog
from ticklake.processes import stop_process
from ticklake.settings import DEFAULT_INSTRUMENTS, load_settings

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


BOOK_CHANNEL: binance.BookChannel = "depth@100ms"
"""The depth stream the collector subscribes by default (``binance_book_channel``)."""


def simulated_binance(
    rate: float, instruments: tuple[str, ...], start_ms: int = 1_790_000_000_000
) -> tuple[dict[str, bytes], Iterator[bytes]]:
    """The Binance simulator's combined-stream frames, tick by tick, as :class:`BinanceSim` sends them.

    Every 10 ms tick: each instrument's due trades (``rate`` trades/s shared by the instruments) on its
    ``trade`` stream, applied to its book; every 100 ms a ``depth@100ms`` diff per instrument; and a
    ``bookTicker`` per instrument whose best bid or ask changed.

    Args:
        rate: Trades per second, all instruments together.
        instruments: Canonical instruments.
        start_ms: The wall clock of the first tick, epoch ms.

    Returns:
        Each instrument's REST depth snapshot body before the first trade (to sync the books from),
        and the endless frames.
    """
    market = Market(seed=1, instruments=list(instruments))
    books = {instrument: SimBook(1, instrument, [BOOK_CHANNEL]) for instrument in instruments}
    snapshots = {name: binance_wire.rest_depth(book.snapshot(5000)).encode() for name, book in books.items()}

    def frames() -> Iterator[bytes]:
        credit = dict.fromkeys(instruments, 0.0)
        tops: dict[str, Any] = {}
        ticks_per_diff = round(DEPTH_INTERVALS[BOOK_CHANNEL] / TICK_SECONDS)
        tick = 0
        while True:
            tick += 1
            wall_ms = start_ms + round(tick * TICK_SECONDS * 1000)
            for instrument in instruments:
                credit[instrument] += rate / len(instruments) * TICK_SECONDS
                due = int(credit[instrument])
                credit[instrument] -= due
                for _ in range(due):
                    trade = market.next_trade(instrument, wall_ms)
                    books[instrument].on_trade(trade)
                    yield binance_wire.combined_frame(trade, "trade").encode()
            for instrument, book in books.items():
                diff = book.drain(BOOK_CHANNEL) if tick % ticks_per_diff == 0 else None
                if diff is not None:
                    payload = binance_wire.depth_payload(instrument, diff, wall_ms)
                    yield binance_wire.wrap(binance_wire.stream_of(instrument, BOOK_CHANNEL), payload).encode()
            for instrument, book in books.items():
                bid, ask = book.best_bid(), book.best_ask()
                if tops.get(instrument) == (bid, ask) or bid is None or ask is None:
                    continue
                tops[instrument] = (bid, ask)
                payload = binance_wire.book_ticker_payload(instrument, book.update_id, bid, ask)
                yield binance_wire.wrap(binance_wire.stream_of(instrument, "bookTicker"), payload).encode()

    return snapshots, frames()


CHUNK = 20
"""Frames wrapped at a time, outside the measurement. The transport hands frames over one at a time: frames
wrapped ahead in thousands would survive the young garbage collections and bring on full ones, a cost the
collector does not have in production."""


def handle_all(collector: Collector, batch: list[bytes], first_seq: int) -> tuple[float, float]:
    """Hand frames to the collector, then flush it: CPU seconds of the calling thread in ``handle``, and of the
    process (librdkafka's threads and the flush included)."""
    thread = process = 0.0
    for start in range(0, len(batch), CHUNK):
        frames = [
            Frame("c0ffee", first_seq + start + i, time.time_ns(), data)
            for i, data in enumerate(batch[start : start + CHUNK])
        ]
        process_started, thread_started = time.process_time(), time.thread_time()
        for frame in frames:
            collector.handle(frame)
        thread += time.thread_time() - thread_started
        process += time.process_time() - process_started
    process_started = time.process_time()
    assert collector.producer.flush(60) == 0, "undelivered messages"
    return thread, process + time.process_time() - process_started


def collector_cpu(rate: float, frames_per_run: int, runs: int) -> None:
    """CPU per frame of a Binance collector publishing the simulator's frames to an embedded broker."""
    instruments = DEFAULT_INSTRUMENTS[binance.VENUE]
    snapshots, frames = simulated_binance(rate, instruments)
    batches = [[next(frames) for _ in range(frames_per_run)] for _ in range(runs)]
    kinds = [sum(1 for frame in batches[0] if marker in frame) for marker in (b"@trade", b"@depth", b"@bookTicker")]
    print(
        f"Binance collector, {len(instruments)} instruments at {rate:,.0f} trades/s: per run {frames_per_run:,} frames "
        f"({kinds[0]:,} trades, {kinds[1]:,} depth diffs, {kinds[2]:,} book tickers)"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        bootstrap = f"127.0.0.1:{sock.getsockname()[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(bootstrap, log_file=Path(tmp) / "broker.log")
        try:
            settings = load_settings(kafka_bootstrap=bootstrap, state_dir=tmp)
            ensure_topics(settings)
            collector = Collector(settings, binance_feed(settings))
            assert collector.books is not None
            for instrument, body in snapshots.items():  # as the collector's snapshot fetch hands them over
                snapshot = binance.parse_rest_depth(body, time.time_ns(), instrument)
                collector._act(collector.books.snapshot(snapshot), instrument, snapshot.ts_recv, time.time_ns())
            for run, batch in enumerate(batches):
                thread, process = handle_all(collector, batch, run * frames_per_run)
                print(
                    f"  run {run + 1}: handle {thread / len(batch) * 1e6:6.2f} µs/frame on the calling thread, "
                    f"{process / len(batch) * 1e6:6.2f} µs/frame in the process (librdkafka threads and flush included)"
                )
            stats = collector.stats
            assert stats.rejects == stats.gaps == stats.book_gaps == stats.duplicates == 0, stats
            collector.producer.close()
        finally:
            stop_process(broker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--collector", action="store_true", help="measure the collector's CPU per frame instead")
    parser.add_argument("--rate", type=float, default=20_000, help="simulated trades/s (--collector)")
    parser.add_argument("--frames", type=int, default=50_000, help="frames per run (--collector)")
    parser.add_argument("--runs", type=int, default=5, help="runs (--collector)")
    args = parser.parse_args()
    if args.collector:
        collector_cpu(args.rate, args.frames, args.runs)
        return
    stages()


def stages() -> None:
    frames = binance_trade_frames(N)
    parsed = [binance.parse(frame, 1) for frame in frames]
    trades = [p.records[0] for p in parsed]
    total = 0.0
    total += per_item("parse (binance trade frame)", lambda: [binance.parse(f, 1) for f in frames], N)
    records = [t.to_record(1) for t in trades]
    encode_trade = record_encoder("trade").attributes
    assert encode_trade is not None
    total += per_item("Avro encode (trade)", lambda: [encode_trade(t, 1) for t in trades], N)
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
    reader = record_reader("trade")
    columns: dict[str, list[Any]] = {name: [] for name in reader.fields}
    read_into = reader.into(columns)
    total += per_item("Avro decode in the sink (trade)", lambda: [read_into(e) for e in encoded], N)
    columns["kafka_partition"] = [0] * N
    columns["kafka_offset"] = list(range(N))
    with tempfile.TemporaryDirectory() as tmp:
        table = ensure_table(open_catalog(load_settings(state_dir=tmp)), BRONZE_TRADES)
        schema = table.schema().as_arrow()
        holder: list[pa.Table] = []
        total += per_item("Arrow batch build", lambda: holder.append(columns_to_table(columns, schema, "ts_event")), N)
        total += per_item("Iceberg append (50k-row commit)", lambda: table.append(holder[0]), N)
    print(f"{'sum over stages':<34} {total:8.2f} µs/trade  (~{1e6 / total:,.0f} trades/s if one core did it all)")
    producer.purge()


if __name__ == "__main__":
    main()
