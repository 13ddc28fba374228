"""The simulator's one server: every simulated venue behind one host and port, by path prefix.

Each venue answers under ``/<venue>`` -- ``ws://127.0.0.1:8765/binance/stream?streams=...``,
``ws://127.0.0.1:8765/kraken/v2``, ``http://127.0.0.1:8765/binance/api/v3/historicalTrades`` -- with
its own wire format and protocol (see :data:`streaming.simulator.registry.SIMULATORS`). A path under
no simulated venue is refused during the handshake with HTTP 404.

Ground truth: with ``sim_ground_truth`` set, every venue appends one JSON line per sent trade and
channel to that file (see :meth:`~streaming.simulator.venue.VenueSim.ground_truth_line`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator
from http import HTTPStatus
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from streaming.simulator.registry import SIMULATORS
from streaming.simulator.venue import VenueSim, http_text
from ticklake.settings import Settings

log = logging.getLogger(__name__)


class Simulator:
    """The simulated venues of one server, dispatched by path prefix.

    Args:
        venues: The venue simulators, by venue id (the path prefix).
    """

    def __init__(self, venues: dict[str, VenueSim]) -> None:
        self.venues = venues

    def _split(self, path: str) -> tuple[VenueSim | None, str]:
        prefix = urlsplit(path).path.lstrip("/").partition("/")[0]
        venue = self.venues.get(prefix)
        if venue is None:
            return None, path
        return venue, path[len(prefix) + 1 :] or "/"

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer REST requests and refuse bad handshakes before the WebSocket upgrade."""
        venue, path = self._split(request.path)
        if venue is None:
            return http_text(
                HTTPStatus.NOT_FOUND,
                f"no such endpoint: {urlsplit(request.path).path}; venues: "
                + ", ".join(f"/{name}" for name in self.venues),
            )
        return venue.handshake(path, request.headers)

    async def handler(self, connection: ServerConnection) -> None:
        """Serve one accepted WebSocket connection with its venue."""
        assert connection.request is not None
        venue, path = self._split(connection.request.path)
        assert venue is not None  # process_request refused anything else
        await venue.serve(connection, path)


@dataclasses.dataclass(frozen=True)
class SimulatorHandle:
    """A running simulator, as yielded by :func:`open_simulator`.

    Attributes:
        host: The address it listens on.
        port: The port it listens on (the bound port when 0 was asked for).
        venues: The venue simulators (``trades_sent``, ``exhausted``...), by venue id.
        tasks: The tasks emitting trades, one per venue; each ends when ``sim_max_trades`` is reached.
    """

    host: str
    port: int
    venues: dict[str, VenueSim]
    tasks: dict[str, asyncio.Task[None]]

    def url(self, venue: str) -> str:
        """A venue's WebSocket base URL, e.g. ``ws://127.0.0.1:8765/binance``."""
        return f"ws://{self.host}:{self.port}/{venue}"

    def rest_url(self, venue: str) -> str:
        """A venue's REST base URL, e.g. ``http://127.0.0.1:8765/binance``."""
        return f"http://{self.host}:{self.port}/{venue}"

    @property
    def trades_sent(self) -> int:
        """Trades sent by every venue."""
        return sum(venue.trades_sent for venue in self.venues.values())

    @property
    def exhausted(self) -> bool:
        """Whether every venue has sent its ``sim_max_trades``."""
        return all(venue.exhausted for venue in self.venues.values())


@contextlib.asynccontextmanager
async def open_simulator(
    settings: Settings, *, port: int | None = None, venues: list[str] | None = None
) -> AsyncIterator[SimulatorHandle]:
    """Run the simulator for the duration of an ``async with`` block.

    Args:
        settings: ``sim_*`` settings, ``venues`` and the venues' instruments are used.
        port: Listen on this port instead of ``sim_port``; ``0`` picks a free one (see
            :attr:`SimulatorHandle.port`).
        venues: Simulate these venues instead of ``settings.venues``.

    Yields:
        The running simulator. On exit the emission stops, every connection is closed (code 1001)
        and the ground-truth file is closed.

    Raises:
        OSError: The address cannot be bound.
    """
    with contextlib.ExitStack() as files:
        ground_truth: TextIO | None = None
        if settings.sim_ground_truth is not None:
            path = Path(settings.sim_ground_truth)
            path.parent.mkdir(parents=True, exist_ok=True)
            ground_truth = files.enter_context(path.open("a", encoding="utf-8"))
        sims = {name: SIMULATORS[name](settings, ground_truth) for name in venues or settings.venues}
        simulator = Simulator(sims)
        async with serve(
            simulator.handler,
            settings.sim_host,
            settings.sim_port if port is None else port,
            process_request=simulator.process_request,
            compression=None,
            max_size=2**20,
        ) as server:
            bound = int(next(iter(server.sockets)).getsockname()[1])
            tasks = {name: asyncio.create_task(sim.run(), name=f"{name}-simulator") for name, sim in sims.items()}
            helpers = [asyncio.create_task(sim.send_heartbeats()) for sim in sims.values()]
            drop_every = next(iter(sims.values())).faults.drop_every if sims else None
            if drop_every:
                helpers += [asyncio.create_task(sim.drop_connections_every(drop_every)) for sim in sims.values()]
            try:
                yield SimulatorHandle(settings.sim_host, bound, sims, tasks)
            finally:
                for task in (*tasks.values(), *helpers):
                    task.cancel()
                await asyncio.gather(*tasks.values(), *helpers, return_exceptions=True)


async def serve_simulator(settings: Settings, *, started: asyncio.Event | None = None) -> None:
    """Serve the simulated venues until cancelled.

    Args:
        settings: See :func:`open_simulator`; listens on ``sim_host:sim_port``.
        started: Set once the server is listening.

    Raises:
        OSError: The address cannot be bound.
    """
    async with open_simulator(settings) as running:
        for name, sim in running.venues.items():
            log.info("simulator: %s on %s: %s", name, running.url(name), ", ".join(sim.instruments))
        log.info(
            "simulator: %s trades/s per instrument, seed %d, scenario %s%s%s",
            settings.sim_rate,
            settings.sim_seed,
            settings.sim_scenario,
            f", at most {settings.sim_max_trades} trades per venue" if settings.sim_max_trades else "",
            f", ground truth in {settings.sim_ground_truth}" if settings.sim_ground_truth else "",
        )
        if started is not None:
            started.set()
        await asyncio.gather(*running.tasks.values())  # raises if emission failed
        await asyncio.Event().wait()  # max trades sent: keep the connections open until cancelled


def run_simulator(settings: Settings) -> None:
    """Run the simulator in the foreground until SIGINT or SIGTERM, then stop cleanly.

    Args:
        settings: See :func:`serve_simulator`.
    """
    asyncio.run(_run_until_signalled(settings))


async def _run_until_signalled(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    received: list[str] = []

    def stop(signum: signal.Signals) -> None:
        received.append(signum.name)
        main.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' loop
            loop.add_signal_handler(signum, stop, signum)
    try:
        await serve_simulator(settings)
    except asyncio.CancelledError:
        if not received:
            raise
        log.info("simulator: stopped by %s", received[0])
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)
