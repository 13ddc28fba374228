"""End-to-end throughput: simulator -> collector -> broker -> sink -> committed Iceberg rows.

Every part runs as its own process (as in production); the sink commits by size and time. The
figure is trades committed per second from the first trade's event time to the last commit, checked
for exactly once (distinct trade identities == rows == trades sent).

It also prints each process's CPU time per trade (all of it, start-up included): on two cores the
processes share, that sum is what caps the rate. ``--trades-only`` captures trades without the books
(no depth diffs, no bookTicker) to show the trade path alone.

The default rate (8,000 trades/s per instrument, 24,000 in all) is about what this 2-core machine
carries with the simulator on it. Above that (``--rate 20000``: 60,000 offered) the simulator drops
the collector as a slow consumer, as a venue would; the collector reconnects and repairs the gap from
the REST history. The run then shows the overload path: nothing may be lost or duplicated, and the
figures say what the backlog cost. The run ends when every trade is committed, or when no row was
committed for ``--stall`` seconds (then the lost count says what never arrived).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from benchkit import cpu_seconds, free_port, peak_rss_mb
from pyiceberg.table import Table

from streaming.broker import start_broker
from ticklake.lake import open_catalog
from ticklake.processes import stop_process
from ticklake.settings import load_settings


def stage_lags_ms(table: Table) -> dict[str, list[float]]:
    """Per trade, in milliseconds: venue event to our socket, socket to the bus, bus to the Iceberg commit."""
    lags: dict[str, list[float]] = {"venue -> socket": [], "socket -> bus": [], "bus -> commit": [], "total": []}
    for snapshot in table.snapshots():
        committed_ns = snapshot.timestamp_ms * 1_000_000
        for manifest in snapshot.manifests(table.io):
            if manifest.added_snapshot_id != snapshot.snapshot_id:
                continue
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                path = entry.data_file.file_path.removeprefix("file://")
                times = pq.read_table(path, columns=["ts_event", "ts_recv", "ts_ingest"]).to_pydict()
                for event, recv, ingest in zip(times["ts_event"], times["ts_recv"], times["ts_ingest"], strict=True):
                    lags["venue -> socket"].append((recv - event) / 1e6)
                    lags["socket -> bus"].append((ingest - recv) / 1e6)
                    lags["bus -> commit"].append((committed_ns - ingest) / 1e6)
                    lags["total"].append((committed_ns - event) / 1e6)
    return {stage: sorted(values) for stage, values in lags.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--trades", type=int, default=1_600_000, help="trades the simulator sends (the default lasts over 60 s here)"
    )
    parser.add_argument("--rate", type=float, default=8_000, help="trades/s per instrument asked of the simulator")
    parser.add_argument("--stall", type=float, default=90, help="stop after this many seconds without a new commit")
    parser.add_argument("--instruments", default='{"binance":["BTC-USDT","ETH-USDT","SOL-USDT"]}')
    parser.add_argument("--workdir", help="keep state and logs in this folder (default: a temporary one)")
    parser.add_argument(
        "--trades-only",
        action="store_true",
        help="capture trades only (no depth diffs, no bookTicker): the trade path's own capacity",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ticklake-bench-") as scratch:
        tmp = args.workdir or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        state = Path(tmp)
        bootstrap = f"127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "TICKLAKE_STATE_DIR": str(state / "state"),
            "TICKLAKE_KAFKA_BOOTSTRAP": bootstrap,
            "TICKLAKE_SIM_PORT": str(free_port()),
            "TICKLAKE_SIM_RATE": str(args.rate),
            "TICKLAKE_SIM_MAX_TRADES": str(args.trades),
            "TICKLAKE_INSTRUMENTS": args.instruments,
            "TICKLAKE_SINK_BATCH_ROWS": "100000",
            "TICKLAKE_SINK_BATCH_SECONDS": "2",
        }
        if args.trades_only:
            env |= {"TICKLAKE_BINANCE_BOOK_CHANNEL": "null", "TICKLAKE_BINANCE_BOOK_TICKER": "false"}
        settings = load_settings(state_dir=state / "state")
        broker = start_broker(bootstrap, log_file=state / "broker.log")
        children: list[subprocess.Popen[bytes]] = []
        try:
            names = ("sim", "sink", "collector")
            for name, command in zip(names, (["sim"], ["sink"], ["capture"]), strict=True):
                with open(state / f"{name}.log", "wb") as log:
                    children.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "ticklake", *command],
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            started = time.monotonic()
            first_commit: float | None = None
            rows = 0
            progressed = started
            while rows < args.trades and time.monotonic() - progressed < args.stall:
                time.sleep(0.5)
                catalog = open_catalog(settings)
                if not catalog.table_exists("bronze.trades"):
                    continue
                snapshot = catalog.load_table("bronze.trades").current_snapshot()
                total = int(snapshot.summary["total-records"] or 0) if snapshot and snapshot.summary else 0
                if total and first_commit is None:
                    first_commit = time.monotonic()
                if total != rows:
                    progressed = time.monotonic()
                rows = total
                print(f"\r{rows:>10,} rows committed after {time.monotonic() - started:6.1f} s", end="", flush=True)
            finished = time.monotonic()
            processes = {"broker": broker.pid} | {name: child.pid for name, child in zip(names, children, strict=True)}
            peaks = {name: peak_rss_mb(pid) for name, pid in processes.items()}
            cpu = {name: cpu_seconds(pid) for name, pid in processes.items()}
            print()
            table = open_catalog(settings).load_table("bronze.trades")
            ids = table.scan(selected_fields=("venue", "symbol", "trade_id", "ts_event")).to_arrow()
            distinct = len(set(zip(*(ids.column(c).to_pylist() for c in ("venue", "symbol", "trade_id")), strict=True)))
            assert first_commit is not None, "nothing was committed"
            first_event = min(ids.column("ts_event").to_pylist()) / 1e9
            last_commit = max(snapshot.timestamp_ms for snapshot in table.snapshots()) / 1e3
            rate = rows / (last_commit - first_event)
            print(f"trades sent:            {args.trades:,}")
            print(f"rows in bronze.trades:  {rows:,} (distinct identities {distinct:,})")
            print(f"lost / duplicated:      {args.trades - distinct:,} / {rows - distinct:,}")
            wall, first = finished - started, first_commit - started
            print(f"wall time:              {wall:.1f} s (first commit after {first:.1f} s)")
            files = list(table.scan().plan_files())
            size = sum(task.file.file_size_in_bytes for task in files)
            print(f"bronze.trades storage:  {size / max(rows, 1):.1f} bytes/trade in {len(files)} files (zstd parquet)")
            for stage, lags in stage_lags_ms(table).items():
                pct = {p: lags[min(len(lags) - 1, int(len(lags) * p / 100))] for p in (50, 90, 99)}
                label = "event -> committed lag:" if stage == "total" else f"  {stage}:"
                print(f"{label:<24}p50 {pct[50]:,.0f} ms, p90 {pct[90]:,.0f} ms, p99 {pct[99]:,.0f} ms")
            print("peak memory (RSS):      " + ", ".join(f"{n} {mb:,.0f} MB" for n, mb in peaks.items()))
            per_trade = {name: seconds / max(rows, 1) * 1e6 for name, seconds in cpu.items()}
            print(
                f"CPU per trade:          {sum(per_trade.values()):.1f} µs: "
                + ", ".join(f"{name} {micros:.1f}" for name, micros in sorted(per_trade.items(), key=lambda i: -i[1]))
            )
            print(f"end-to-end throughput:  {rate:,.0f} trades/s (first trade's event time to the last commit)")
        finally:
            for child in reversed(children):
                stop_process(child)
            stop_process(broker)


if __name__ == "__main__":
    main()
