"""The chaos harness: exactly once under SIGKILLs and dropped connections, proven by counting.

Runs the real pipeline as separate processes — embedded broker, simulator (every venue asked for),
one collector per venue, the bronze sink — on loopback. The simulator trades a known tape (and writes
it to a ground-truth file) while dropping every connection periodically; the harness kills the sink
with SIGKILL at random moments and restarts it. At the end every trade of the ground truth must be in
``bronze.trades`` exactly once -- including the trades a dropped connection lost on the wire, which
the collectors get back from the venues' REST history (gap repair, catch-up after reconnect).

What it cannot cover: the embedded broker keeps its log in memory, so killing the *broker* loses
whatever it held that bronze had not committed yet; a durable Kafka cluster (replicated log) closes
that gap, and the sink's offsets-in-Iceberg then make broker restarts exactly once as well.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from streaming.broker import start_broker
from ticklake.lake import committed_offsets, open_catalog
from ticklake.processes import spawn, stop_process
from ticklake.settings import load_settings

QUIET_SECONDS = 20.0
"""Once the tape is complete and the sink has consumed every trade published, stop waiting after this
long without a new row in bronze (collectors may still be repairing)."""


@dataclasses.dataclass(frozen=True)
class ChaosReport:
    """The counts a chaos run ends with."""

    sent: int
    stored: int
    lost: int
    duplicated: int
    unexpected: int
    kills: int
    seconds: float

    @property
    def exactly_once(self) -> bool:
        """Whether every sent trade is stored once and nothing else is."""
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0 and self.stored == self.sent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stored_rows(settings_dir: Path) -> int:
    catalog = open_catalog(load_settings(state_dir=settings_dir))
    if not catalog.table_exists("bronze.trades"):
        return 0
    snapshot = catalog.load_table("bronze.trades").current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary["total-records"] or 0)


def sink_caught_up(settings_dir: Path, bootstrap: str) -> bool:
    """Whether bronze.trades holds everything published to the trades topic so far (its offsets are at the end).

    Rows alone cannot tell a restarted sink still working through a backlog (no commit for a while on a busy
    machine) from one that has nothing left to store.
    """
    settings = load_settings(state_dir=settings_dir)
    catalog = open_catalog(settings)
    if not catalog.table_exists("bronze.trades"):
        return False
    stored = committed_offsets(catalog.load_table("bronze.trades"))
    topic = settings.topic("trades")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ticklake-chaos-watch"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        for partition in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if stored.get((topic, partition), 0) < high:
                return False
        return True
    finally:
        consumer.close()


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def run_chaos(
    workdir: Path,
    *,
    trades: int,
    kills: int,
    rate: float,
    drop_every: float,
    seed: int = 7,
    venues: Sequence[str] = ("binance",),
    timeout: float = 1800.0,
    progress: Callable[[int, int, int, int], None] | None = None,
) -> ChaosReport:
    """Run the pipeline under faults and count the outcome.

    Args:
        workdir: An empty folder for state, logs and the ground truth.
        trades: Trades the simulator trades in all (split evenly across the venues).
        kills: SIGKILLs to deal the sink while trades flow.
        rate: Simulator trades per second per instrument.
        drop_every: The simulator closes every connection this often (seconds).
        seed: Seeds the simulator and the kill timing.
        venues: The venues traded and captured.
        timeout: Give up (and report what is there) after this many seconds.
        progress: Called with (sent, stored, kills, trades) about twice a second.

    Returns:
        The counts; see :attr:`ChaosReport.exactly_once`.
    """
    started = time.monotonic()
    state = workdir / "state"
    truth = workdir / "ground_truth.jsonl"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bootstrap = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "TICKLAKE_STATE_DIR": str(state),
        "TICKLAKE_KAFKA_BOOTSTRAP": bootstrap,
        "TICKLAKE_SIM_PORT": str(_free_port()),
        "TICKLAKE_SIM_SEED": str(seed),
        "TICKLAKE_SIM_RATE": str(rate),
        "TICKLAKE_SIM_MAX_TRADES": str(-(-trades // len(venues))),
        "TICKLAKE_VENUES": json.dumps(list(venues)),
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth),
        "TICKLAKE_SIM_DROP_EVERY": str(drop_every),
        "TICKLAKE_WS_BACKOFF_INITIAL": "0.05",
        "TICKLAKE_WS_BACKOFF_MAX": "0.5",
        "TICKLAKE_SINK_BATCH_ROWS": "20000",
        "TICKLAKE_SINK_BATCH_SECONDS": "0.5",
    }
    rng = random.Random(seed)
    children: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        process = spawn([sys.executable, "-m", "ticklake", *args], logs / f"{name}-{len(children)}.log", env)
        children.append(process)
        return process

    broker = start_broker(bootstrap, log_file=logs / "broker.log")
    dealt = 0
    try:
        start("sim", "sim")
        sink = start("sink", "sink")
        for venue in venues:
            start(f"collector-{venue}", "capture", "--venue", venue)
        next_kill = time.monotonic() + rng.uniform(1.0, 3.0)
        last_report = 0.0
        total = -(-trades // len(venues)) * len(venues)
        stored, last_change = 0, time.monotonic()
        while time.monotonic() - started < timeout:
            now = time.monotonic()
            sent = _count_lines(truth)
            if dealt < kills and now >= next_kill and sent < total:
                sink.send_signal(signal.SIGKILL)
                sink.wait(10)
                dealt += 1
                sink = start("sink", "sink")
                next_kill = now + rng.uniform(0.3, 2.5)
            if now - last_report >= 0.5:
                last_report = now
                now_stored = _stored_rows(state)
                if now_stored != stored:
                    stored, last_change = now_stored, now
                if progress is not None:
                    progress(sent, stored, dealt, total)
                # done when everything is stored, or when the sink has caught up with the trades topic and
                # nothing more has landed for QUIET_SECONDS
                if sent >= total and stored >= sent:
                    break
                if sent >= total and now - last_change > QUIET_SECONDS and sink_caught_up(state, bootstrap):
                    break
            time.sleep(0.05)
        # let the last sink commit whatever is still in flight, then count
        settle = time.monotonic()
        while time.monotonic() - settle < 10 and _stored_rows(state) < _count_lines(truth):
            time.sleep(0.2)
    finally:
        for child in reversed(children):
            stop_process(child)
        stop_process(broker)

    expected: Counter[tuple[str, str, str]] = Counter()
    with open(truth, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            expected[(record["venue"], record["symbol"], record["trade_id"])] += 1
    table = open_catalog(load_settings(state_dir=state)).load_table("bronze.trades")
    columns = table.scan(selected_fields=("venue", "symbol", "trade_id")).to_arrow()
    stored_ids = Counter(
        zip(
            columns.column("venue").to_pylist(),
            columns.column("symbol").to_pylist(),
            columns.column("trade_id").to_pylist(),
            strict=True,
        )
    )
    return ChaosReport(
        sent=sum(expected.values()),
        stored=sum(stored_ids.values()),
        lost=sum(1 for key in expected if key not in stored_ids),
        duplicated=sum(count - 1 for count in stored_ids.values() if count > 1),
        unexpected=sum(1 for key in stored_ids if key not in expected),
        kills=dealt,
        seconds=time.monotonic() - started,
    )
