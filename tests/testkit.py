"""Test helpers importable from any test module (``from testkit import ...``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from contracts.records import BookUpdate, Level
from serve.app import create_app
from streaming.book import Checksum, OrderBook
from ticklake.lake import open_catalog
from ticklake.settings import Settings, get_settings, load_settings
from ticklake.timeutil import NS_PER_SECOND, date_to_ns

T = TypeVar("T")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, message: str, interval: float = 0.2) -> None:
    """Poll ``condition`` until it holds; fail the test with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s: {message}")


def run_bounded(scenario: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
    """Run an async scenario in a fresh event loop, failing it after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


def simulator_settings(
    venue: str, traded: list[str], /, *, seed: int, rate: float, alone: bool = False, **overrides: Any
) -> Settings:
    """Settings of a simulator test: the venue's instruments, its seed and rate (``alone``: no other venue).

    Any setting can be overridden by name (``instruments=...`` too).
    """
    values: dict[str, Any] = {"instruments": {venue: traded}, "sim_seed": seed, "sim_rate": rate}
    if alone:
        values["venues"] = [venue]
    values.update(overrides)
    return load_settings(**values)


def complete_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSONL file another process is still writing (a cut last line is left out)."""
    if not path.exists():
        return []
    *complete, _rest = path.read_text().split("\n")
    return [json.loads(line) for line in complete if line.strip()]


def wait_for_tape(path: Path, total: int, timeout: float) -> list[dict[str, Any]]:
    """Wait until the simulator's ground truth file holds ``total`` trades; return them."""
    wait_until(lambda: len(complete_jsonl(path)) == total, timeout, "the simulator's tape")
    return complete_jsonl(path)


def pipeline_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    venue: str,
    instruments: list[str] | None,
    *,
    rate: int,
    total: int,
    book_drop_every: int,
) -> tuple[Settings, Path]:
    """Set the environment of an end-to-end run of one venue (simulator -> capture -> broker -> sink).

    The simulator listens on a free port, trades at ``rate`` (its ``TICKLAKE_SIM_RATE``), stops after ``total``
    trades, never sends every ``book_drop_every``-th book message and writes its ground truth to
    ``tmp_path / "truth.jsonl"``; the sink commits every 0.3 s. ``instruments`` ``None`` keeps the venue's default
    instruments. Child processes started afterwards inherit this environment.

    Returns:
        The settings of that environment (read afresh) and the ground truth file.
    """
    truth_file = tmp_path / "truth.jsonl"
    env = {
        "TICKLAKE_VENUES": json.dumps([venue]),
        "TICKLAKE_SIM_PORT": str(free_port()),
        "TICKLAKE_SIM_RATE": str(rate),
        "TICKLAKE_SIM_MAX_TRADES": str(total),
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth_file),
        "TICKLAKE_SINK_BATCH_SECONDS": "0.3",
        "TICKLAKE_SIM_BOOK_DROP_EVERY": str(book_drop_every),
    }
    if instruments is not None:
        env["TICKLAKE_INSTRUMENTS"] = json.dumps({venue: instruments})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return get_settings(), truth_file


def bronze_rows(settings: Settings, table: str, *columns: str) -> list[dict[str, Any]]:
    """The rows of a lake table (only ``columns`` when any are named), in no particular order; none before the
    sink has created the table."""
    catalog = open_catalog(settings)
    if not catalog.table_exists(table):
        return []
    scan = catalog.load_table(table).scan(selected_fields=columns or ("*",))
    return scan.to_arrow().to_pylist()  # type: ignore[no-any-return]


def in_offset_order(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bronze rows in the order the broker held them: by ``(kafka_partition, kafka_offset)``."""
    return sorted(rows, key=lambda row: (row["kafka_partition"], row["kafka_offset"]))


def instrument_rows(rows: Iterable[dict[str, Any]], instrument: str) -> list[dict[str, Any]]:
    """The bronze rows of one instrument in Kafka offset order; asserts they lie on one partition (the bus keys
    records by instrument)."""
    found = [row for row in rows if row["instrument"] == instrument]
    assert len({row["kafka_partition"] for row in found}) <= 1  # keyed by instrument: one partition
    return in_offset_order(found)


def book_update_of(row: dict[str, Any]) -> BookUpdate:
    """The ``BookUpdate`` a bronze.book_updates row holds: its levels, sequence numbers and checksum."""
    return BookUpdate(
        venue=row["venue"],
        instrument=row["instrument"],
        symbol=row["symbol"],
        kind=row["kind"],
        bids=tuple(Level(level["price"], level["size"]) for level in row["bids"]),
        asks=tuple(Level(level["price"], level["size"]) for level in row["asks"]),
        ts_event=row["ts_event"],
        ts_recv=row["ts_recv"],
        first_sequence=row["first_sequence"],
        sequence=row["sequence"],
        prev_sequence=row["prev_sequence"],
        checksum=row["checksum"],
    )


def replay_book(
    rows: Iterable[dict[str, Any]],
    venue: str,
    instrument: str,
    *,
    depth: int | None = None,
    checksum: Checksum | None = None,
) -> tuple[OrderBook, Counter[str]]:
    """Apply the bronze.book_updates rows of ``instrument``, in the order given, to a new ``OrderBook`` (with the
    venue's ``depth`` and ``checksum`` where it has them).

    Returns:
        The book, and how many updates came out with each ``"<kind>:<status>"`` (``"delta:checksum_mismatch"``).
    """
    book = OrderBook(venue, instrument, depth=depth, checksum=checksum)
    statuses: Counter[str] = Counter()
    for row in rows:
        if row["instrument"] == instrument:
            statuses[f"{row['kind']}:{book.apply(book_update_of(row)).status}"] += 1
    return book, statuses


def book_sides(update: BookUpdate) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """The bids and asks of a book update as ``OrderBook`` keeps them: ``{price: size}`` per side."""
    return {level.price: level.size for level in update.bids}, {level.price: level.size for level in update.asks}


STARTUP_DEADLINE_S = 15.0
SHUTDOWN_DEADLINE_S = 15.0


@contextlib.contextmanager
def running_api(settings: Settings) -> Iterator[httpx.Client]:
    """Serve ``create_app(settings)`` on a free 127.0.0.1 port; yield a client bound to it."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the port is ours from here on: no race with other processes
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the API server thread exited during startup")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API server did not start within {STARTUP_DEADLINE_S} s")
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_DEADLINE_S)
        sock.close()
        assert not thread.is_alive(), "the API server did not stop"


MINUTE_NS = 60 * NS_PER_SECOND


def reference_candles(
    trades: Iterable[dict[str, Any]], day: dt.date, length: int = MINUTE_NS
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Candles (1 minute unless ``length`` ns says otherwise) of one UTC day, computed independently in plain
    Python from known trades.

    Trades are dicts with venue, instrument, symbol, trade_id (numeric text), price and size
    (Decimal), side and ts_event (ns). Duplicated identities count once.
    """
    unique = {(t["venue"], t["symbol"], t["trade_id"]): t for t in trades}
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for t in unique.values():
        if date_to_ns(day) <= t["ts_event"] < date_to_ns(day + dt.timedelta(days=1)):
            groups[(t["venue"], t["instrument"], t["ts_event"] // length * length)].append(t)
    out = {}
    for key, group in groups.items():
        group.sort(key=lambda t: (t["ts_event"], int(t["trade_id"])))
        out[key] = {
            "open": group[0]["price"],
            "close": group[-1]["price"],
            "high": max(t["price"] for t in group),
            "low": min(t["price"] for t in group),
            "volume": sum((t["size"] for t in group), Decimal(0)),
            "buy_volume": sum((t["size"] for t in group if t["side"] == "buy"), Decimal(0)),
            "sell_volume": sum((t["size"] for t in group if t["side"] == "sell"), Decimal(0)),
            "quote_volume": math.fsum(float(t["price"]) * float(t["size"]) for t in group),
            "trade_count": len(group),
            "first_trade_id": group[0]["trade_id"],
            "last_trade_id": group[-1]["trade_id"],
        }
    return out
