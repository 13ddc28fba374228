"""``ticklake up``: start the whole platform on its embedded defaults and stop it cleanly.

Starts, in order: the embedded Kafka broker, the venue simulator, Dagster (webserver + daemon via
``dagster dev``, whose sensors launch the stream runs) and the API. Every child runs in its own
process session; Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stops them in reverse order, whole
process groups, so nothing is left behind. If any child dies, the rest are stopped and the command
fails with its name. The process groups are recorded in ``<state>/up.pids``: if ``up`` itself was
killed outright, the next ``up`` stops what it left before starting anew.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from streaming.broker import split_host_port, start_broker
from ticklake.console import stderr_console
from ticklake.errors import TicklakeError
from ticklake.processes import port_open, spawn, stop_process, wait_for_port
from ticklake.settings import ENV_PREFIX, Settings

console = stderr_console()

DAGSTER_YAML = """\
# Written by `ticklake up`. The embedded Dagster instance: SQLite storage under this folder.
telemetry:
  enabled: false
run_monitoring:
  enabled: true
  poll_interval_seconds: 15
  start_timeout_seconds: 180
  max_resume_run_attempts: 0
run_queue:
  max_concurrent_runs: 12
sensors:
  use_threads: true
  num_workers: 2
"""


@dataclasses.dataclass
class Service:
    """A child process of ``up``."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_file: Path


def say(*objects: Any) -> None:
    """Print to the console; never fail (the terminal may be gone while we clean up)."""
    with contextlib.suppress(OSError, ValueError):
        console.print(*objects)


def write_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with the instance configuration; return it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    return home


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment of every child: the same settings, with the state folder made absolute."""
    env = dict(os.environ)
    env[f"{ENV_PREFIX}STATE_DIR"] = str(settings.state_path)
    env["DAGSTER_HOME"] = str(settings.dagster_home)
    env.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _ours(pid: int, state: Path) -> bool:
    """Whether a live process was started by ``up`` for this state folder (guards against pid reuse)."""
    marker = f"{ENV_PREFIX}STATE_DIR={state}\0".encode()
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def clean_leftovers(state: Path) -> list[int]:
    """Stop the process groups a previous ``up`` of this state folder left running; return them."""
    pidfile = state / "up.pids"
    if not pidfile.exists():
        return []
    stopped = []
    for line in pidfile.read_text().split():
        pgid = int(line)
        if _ours(pgid, state):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            stopped.append(pgid)
    deadline = time.monotonic() + 20
    for pgid in stopped:
        while time.monotonic() < deadline and _ours(pgid, state):
            time.sleep(0.1)
        if _ours(pgid, state):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
    pidfile.unlink()
    return stopped


def _wait_http(url: str, timeout: float, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TicklakeError(f"{name} exited with code {process.returncode} while starting")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, OSError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status < 500:
                return
        time.sleep(0.25)
    raise TicklakeError(f"{name} did not answer at {url} within {timeout:.0f} s")


def _python_tool(name: str) -> str:
    """The path of a console script installed beside this Python (works without an activated venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _check_ports(settings: Settings) -> None:
    wanted = [
        (settings.sim_host, settings.sim_port, "TICKLAKE_SIM_PORT"),
        (settings.dagster_host, settings.dagster_port, "TICKLAKE_DAGSTER_PORT"),
        (settings.api_host, settings.api_port, "TICKLAKE_API_PORT"),
    ]
    if settings.kafka_embedded:
        wanted.insert(0, (*split_host_port(settings.kafka_bootstrap), "TICKLAKE_KAFKA_BOOTSTRAP"))
    for host, port, setting in wanted:
        if port_open(host, port):
            raise TicklakeError(f"{host}:{port} is already in use: stop what holds it or set {setting}")


class Platform:
    """The services of one ``up``, started in order and stopped in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = settings.state_path
        self.log_dir = self.state / "logs"
        self.env = child_environment(settings)
        self.services: list[Service] = []

    def _spawn(self, name: str, command: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log_file = self.log_dir / f"{name}.log"
        process = spawn(command, log_file, self.env)
        self._record(process.pid)
        return process, log_file

    def _record(self, pgid: int) -> None:
        with open(self.state / "up.pids", "a", encoding="utf-8") as pidfile:
            pidfile.write(f"{pgid}\n")

    def broker(self) -> Service:
        """The embedded Kafka-compatible broker."""
        log_file = self.log_dir / "broker.log"
        process = start_broker(self.settings.kafka_bootstrap, log_file=log_file, env=self.env)
        self._record(process.pid)
        return Service("broker", process, f"kafka://{self.settings.kafka_bootstrap}", log_file)

    def simulator(self) -> Service:
        """The venue simulator."""
        settings = self.settings
        process, log_file = self._spawn("simulator", [_python_tool("ticklake"), "sim"])
        wait_for_port(settings.sim_host, settings.sim_port, 30, process)
        return Service("simulator", process, f"ws://{settings.sim_host}:{settings.sim_port}", log_file)

    def dagster(self) -> Service:
        """Dagster webserver + daemon (``dagster dev``) on the project's workspace."""
        settings = self.settings
        workspace = Path("workspace.yaml")
        target = ["-w", str(workspace)] if workspace.is_file() else ["-m", "orchestration.definitions"]
        host, port = settings.dagster_host, str(settings.dagster_port)
        process, log_file = self._spawn("dagster", [_python_tool("dagster"), "dev", *target, "-h", host, "-p", port])
        url = f"http://{settings.dagster_host}:{settings.dagster_port}"
        _wait_http(f"{url}/server_info", 120, process, "dagster")
        return Service("dagster", process, url, log_file)

    def api(self) -> Service:
        """The HTTP API."""
        settings = self.settings
        process, log_file = self._spawn("api", [_python_tool("ticklake"), "serve"])
        url = f"http://{settings.api_host}:{settings.api_port}"
        _wait_http(f"{url}/v1/health", 60, process, "api")
        return Service("api", process, url, log_file)

    def steps(self) -> list[tuple[str, Callable[[], Service]]]:
        """What to start, in order."""
        steps: list[tuple[str, Callable[[], Service]]] = []
        if self.settings.kafka_embedded:
            steps.append(("embedded Kafka broker (tansu)", self.broker))
        steps += [("venue simulator", self.simulator), ("Dagster webserver + daemon", self.dagster), ("API", self.api)]
        return steps

    def dead(self) -> Service | None:
        """A service whose process has exited, if any."""
        return next((s for s in self.services if s.process.poll() is not None), None)

    def stop(self) -> None:
        """Stop every service, last started first; then forget the recorded process groups."""
        for service in reversed(self.services):
            say(f"  stopping {service.name}...")
            stop_process(service.process, timeout=30)
            say(f"  [green]✓[/] stopped {service.name}")
        with contextlib.suppress(FileNotFoundError):
            (self.state / "up.pids").unlink()


def run_platform(settings: Settings, stop_after: float | None = None) -> int:
    """Start everything, wait for Ctrl-C (or ``stop_after`` seconds), stop everything.

    Returns:
        The exit code: 0 after a clean stop, 1 when a service died or could not start.
    """
    platform = Platform(settings)
    platform.log_dir.mkdir(parents=True, exist_ok=True)
    leftovers = clean_leftovers(platform.state)
    if leftovers:
        say(f"[yellow]stopped {len(leftovers)} process group(s) left running by an earlier `ticklake up`[/]")
    write_dagster_home(settings)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, request_stop) for sig in handled}
    failed = False
    try:
        _check_ports(settings)
        say(f"[bold]ticklake[/] state in [cyan]{platform.state}[/], logs in [cyan]{platform.log_dir}[/]")
        for label, start in platform.steps():
            if stopping:
                break
            say(f"  starting {label}...")
            service = start()
            platform.services.append(service)
            say(f"  [green]✓[/] {label:<28} {service.url}  (pid {service.process.pid})")
        if not stopping:
            _print_urls(settings)
        started = time.monotonic()
        while not stopping:
            dead = platform.dead()
            if dead is not None:
                failed = True
                say(f"[red]✗ {dead.name} exited with code {dead.process.returncode}; see {dead.log_file}[/]")
                break
            if stop_after is not None and time.monotonic() - started >= stop_after:
                break
            time.sleep(0.5)
    except TicklakeError as error:
        say(f"[red]✗ {error}[/]")
        failed = True
    finally:
        # no output can stop this: the terminal may be gone (SIGHUP, a closed pipe)
        say("stopping...")
        platform.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _print_urls(settings: Settings) -> None:
    table = Table(title="ticklake is up", show_header=False, title_justify="left")
    table.add_row("Dagster UI", f"http://{settings.dagster_host}:{settings.dagster_port}")
    table.add_row("API", f"http://{settings.api_host}:{settings.api_port}/v1/health")
    table.add_row("API docs", f"http://{settings.api_host}:{settings.api_port}/docs")
    table.add_row("Kafka", settings.kafka_bootstrap)
    table.add_row("Simulator", f"ws://{settings.sim_host}:{settings.sim_port}")
    say(table)
    say("Press [bold]Ctrl-C[/] to stop everything.")
