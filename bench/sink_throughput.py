"""The bronze sink alone: how fast one sink process lands a backlog, and its CPU per trade.

An embedded broker is loaded with ``--trades`` Binance trades as the collector publishes them (each a
``trade`` record keyed by instrument and its raw frame), then one :class:`~streaming.sink.BronzeSink`
drains the backlog in this process, committing by size (``--batch`` rows) to a fresh SQLite catalog.
It prints trades landed per second of wall time and the sink's CPU microseconds per trade (its
thread and librdkafka's), and checks every trade landed once. The end-to-end benchmark
(``bench/e2e_throughput.py``) shares two cores among the simulator, collector, broker and sink; this
one tells what the sink's stage could carry with a core to itself.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from benchkit import free_port
from confluent_kafka import Producer
from rich.progress import Progress

from contracts.records import RawMessage, Trade
from contracts.schemas import encode
from streaming.broker import start_broker
from streaming.bus import ensure_topics, make_producer
from streaming.sink import BronzeSink, CommitReport
from ticklake.lake import open_catalog
from ticklake.processes import stop_process
from ticklake.settings import load_settings

INSTRUMENTS = (("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT"), ("SOL-USDT", "SOLUSDT"))
START_NS = 1_790_000_000_000_000_000


def load(producer: Producer, trades_topic: str, raw_topic: str, count: int) -> None:
    """Publish ``count`` trades and their raw frames, as the Binance collector does."""
    with Progress(transient=True) as progress:
        task = progress.add_task("loading the bus", total=count)
        for n in range(count):
            instrument, symbol = INSTRUMENTS[n % len(INSTRUMENTS)]
            ts = START_NS + n * 50_000
            price, size = Decimal(60_000 + n % 997) + Decimal("0.12"), Decimal(n % 89 + 1) / 1000
            frame = json.dumps(
                {"e": "trade", "E": ts // 10**6, "s": symbol, "t": n, "p": str(price), "q": str(size), "T": ts // 10**6}
            ).encode()
            raw = RawMessage("binance", f"{symbol.lower()}@trade", "c-1", n, ts, frame)
            trade = Trade("binance", instrument, symbol, str(n), price, size, "buy" if n % 2 else "sell", ts, ts)
            for topic, key, value in (
                (raw_topic, "c-1", encode("raw_message", raw.to_record(ts))),
                (trades_topic, instrument, encode("trade", trade.to_record(ts))),
            ):
                while True:
                    try:
                        producer.produce(topic, value=value, key=key)
                        break
                    except BufferError:
                        producer.poll(0.05)
            if n % 10_000 == 0:
                progress.update(task, completed=n)
                producer.poll(0)
        producer.flush(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=100_000, help="the sink's batch size in rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ticklake-sink-bench-") as tmp:
        bootstrap = f"127.0.0.1:{free_port()}"
        broker = start_broker(bootstrap, log_file=Path(tmp) / "broker.log")
        try:
            settings = load_settings(
                kafka_bootstrap=bootstrap, state_dir=tmp, sink_batch_rows=args.batch, sink_batch_seconds=1.0
            )
            ensure_topics(settings)
            load(make_producer(settings, "bench"), settings.topic("trades"), settings.topic("raw"), args.trades)
            catalog = open_catalog(settings)
            stop, done = threading.Event(), threading.Event()
            landed = [0]

            def on_commit(report: CommitReport) -> None:
                if report.table == "bronze.trades":
                    landed[0] += report.rows
                    if landed[0] >= args.trades:
                        done.set()

            sink = BronzeSink(settings, catalog, on_commit)
            thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
            wall, cpu = time.perf_counter(), time.process_time()
            thread.start()
            done.wait()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            stop.set()
            thread.join()
            table = catalog.load_table("bronze.trades").scan().to_arrow()
            distinct = len(set(table["trade_id"].to_pylist()))
        finally:
            stop_process(broker)
    print(f"trades landed:            {table.num_rows:,} (distinct {distinct:,}; sent {args.trades:,})")
    print(f"sink throughput:          {args.trades / wall:,.0f} trades/s ({wall:.1f} s, trade + raw frame each)")
    print(f"sink CPU per trade:       {cpu / args.trades * 1e6:.1f} µs (its thread and librdkafka's)")


if __name__ == "__main__":
    main()
