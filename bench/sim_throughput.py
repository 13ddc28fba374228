"""Simulator throughput on one core: trades per second of simulator CPU, per venue.

Each venue's simulator serves one in-process connection subscribed as its collector subscribes (the
venue's feed sends its subscriptions; Binance: trades, ``depth@100ms`` diffs and ``bookTicker``) and is
driven tick by tick (10 ms of simulated time each) until it has generated the wanted trades. Frames go
through ``websockets.broadcast`` to a connection that drops them: the socket is never counted, WebSocket
framing only with ``--framing`` (websockets' own protocol serialises every frame). The best of several
rounds is reported as trades per CPU-second (``time.process_time``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.protocol import Protocol, Side, State

from streaming.feeds.registry import FEEDS
from streaming.simulator.registry import SIMULATORS
from streaming.simulator.venue import TICK_SECONDS
from ticklake.settings import load_settings


class Sink:
    """Just enough of a server connection for the simulator and ``broadcast``: it drops every frame.

    With ``framing``, frames are serialised by websockets' protocol first (and the bytes dropped).
    """

    def __init__(self, path: str, messages: list[str], *, framing: bool) -> None:
        self.protocol: Any = (
            Protocol(Side.SERVER)
            if framing
            else SimpleNamespace(state=State.OPEN, send_text=self._drop, send_binary=self._drop, data_to_send=list)
        )
        self.state = State.OPEN
        self.send_in_progress = None
        self.transport = SimpleNamespace(get_write_buffer_size=lambda: 0, is_closing=lambda: False)
        self.remote_address = ("bench", 0)
        self.request = SimpleNamespace(path=path, headers=Headers())
        self.logger = logging.getLogger(__name__)
        self.messages = messages
        self.subscribed = asyncio.Event()

    def _drop(self, data: bytes) -> None:
        pass

    def send_data(self) -> None:
        self.protocol.data_to_send()

    async def send(self, frame: str | bytes) -> None:
        pass

    def __aiter__(self) -> Sink:
        return self

    async def __anext__(self) -> str:
        if self.messages:
            return self.messages.pop(0)
        self.subscribed.set()
        await asyncio.Event().wait()
        raise StopAsyncIteration


class Requests:
    """Collects what a feed sends on connecting: its subscriptions."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: str) -> None:
        self.sent.append(message)


async def cpu_per_trade(venue: str, trades: int, rate: float, state_dir: str, *, framing: bool) -> float:
    """CPU seconds per trade of one venue's simulator over ``trades`` trades (setup not counted)."""
    logging.disable(logging.INFO)
    settings = load_settings(sim_seed=1, sim_rate=rate, state_dir=state_dir)
    sim = SIMULATORS[venue](settings)
    feed = FEEDS[venue](settings)
    requests = Requests()
    if feed.on_connect is not None:
        await feed.on_connect(requests)  # type: ignore[arg-type]
    url = urlsplit(feed.url)
    path = url.path.removeprefix(f"/{venue}") + (f"?{url.query}" if url.query else "")
    connection = Sink(path or "/", requests.sent, framing=framing)
    task = asyncio.create_task(sim.serve(connection, connection.request.path))  # type: ignore[arg-type]
    await connection.subscribed.wait()
    now = asyncio.get_running_loop().time()
    wall_ms = time.time_ns() // 1_000_000
    started = time.process_time()
    while sim.generated < trades:
        now += TICK_SECONDS
        wall_ms += round(TICK_SECONDS * 1000)
        sim.tick(now, wall_ms)
    spent = time.process_time() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return spent / sim.generated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trades", type=int, default=100_000, help="trades per venue and round")
    parser.add_argument("--rate", type=float, default=8_000.0, help="sim_rate: trades/s per instrument")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venues", nargs="*", default=list(SIMULATORS))
    parser.add_argument("--framing", action="store_true", help="count websockets' framing of every frame too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        for venue in args.venues:
            best = min(
                asyncio.run(cpu_per_trade(venue, args.trades, args.rate, state_dir, framing=args.framing))
                for _ in range(args.rounds)
            )
            print(f"{venue:<16} {1 / best:>10,.0f} trades/s   {best * 1e6:6.2f} µs/trade")


if __name__ == "__main__":
    main()
