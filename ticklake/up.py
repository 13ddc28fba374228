"""``ticklake up``: start the whole platform on its embedded defaults and stop it cleanly.

Starts, in order: the embedded Kafka broker, the venue simulator, Dagster (webserver + daemon via
``dagster dev``, whose sensors launch the stream runs) and the API. Every child runs in its own
process session; Ctrl-C (or SIGTERM) stops them in reverse order, whole process groups, so nothing
is left behind. If any child dies, the rest are stopped and the command fails with its name.
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

from rich.console import Console
from rich.table import Table

from streaming.broker import port_open, split_host_port, start_broker, stop_process, wait_for_port
from ticklake.errors import TicklakeError
from ticklake.settings import ENV_PREFIX, Settings

console = Console(stderr=True)

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


def _spawn(name: str, command: list[str], env: dict[str, str], log_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log_file = log_dir / f"{name}.log"
    with open(log_file, "ab") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    return process, log_file


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


def run_platform(settings: Settings, stop_after: float | None = None) -> int:
    """Start everything, wait for Ctrl-C (or ``stop_after`` seconds), stop everything.

    Returns:
        The exit code: 0 after a clean stop, 1 when a service died.
    """
    state = settings.state_path
    log_dir = state / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    write_dagster_home(settings)
    env = child_environment(settings)
    ticklake = _python_tool("ticklake")
    services: list[Service] = []
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    failed: str | None = None
    try:
        steps: list[tuple[str, Callable[[], Service]]] = []
        if settings.kafka_embedded:

            def broker() -> Service:
                log_file = log_dir / "broker.log"
                process = start_broker(settings.kafka_bootstrap, log_file=log_file)
                return Service("broker", process, f"kafka://{settings.kafka_bootstrap}", log_file)

            steps.append(("embedded Kafka broker (tansu)", broker))

        def simulator() -> Service:
            process, log_file = _spawn("simulator", [ticklake, "sim"], env, log_dir)
            wait_for_port(settings.sim_host, settings.sim_port, 30, process)
            return Service("simulator", process, f"ws://{settings.sim_host}:{settings.sim_port}", log_file)

        def dagster() -> Service:
            workspace = Path("workspace.yaml")
            target = ["-w", str(workspace)] if workspace.is_file() else ["-m", "orchestration.definitions"]
            command = [
                _python_tool("dagster"),
                "dev",
                *target,
                "-h",
                settings.dagster_host,
                "-p",
                str(settings.dagster_port),
            ]
            process, log_file = _spawn("dagster", command, env, log_dir)
            url = f"http://{settings.dagster_host}:{settings.dagster_port}"
            _wait_http(f"{url}/server_info", 120, process, "dagster")
            return Service("dagster", process, url, log_file)

        def api() -> Service:
            process, log_file = _spawn("api", [ticklake, "serve"], env, log_dir)
            url = f"http://{settings.api_host}:{settings.api_port}"
            _wait_http(f"{url}/v1/health", 60, process, "api")
            return Service("api", process, url, log_file)

        steps += [("venue simulator", simulator), ("Dagster webserver + daemon", dagster), ("API", api)]
        for host, port, what in (
            (*split_host_port(settings.kafka_bootstrap), "TICKLAKE_KAFKA_BOOTSTRAP"),
            (settings.sim_host, settings.sim_port, "TICKLAKE_SIM_PORT"),
            (settings.dagster_host, settings.dagster_port, "TICKLAKE_DAGSTER_PORT"),
            (settings.api_host, settings.api_port, "TICKLAKE_API_PORT"),
        ):
            if what == "TICKLAKE_KAFKA_BOOTSTRAP" and not settings.kafka_embedded:
                continue
            if port_open(host, port):
                raise TicklakeError(f"{host}:{port} is already in use: stop what holds it or set {what}")
        console.print(f"[bold]ticklake[/] state in [cyan]{state}[/], logs in [cyan]{log_dir}[/]")
        for label, start in steps:
            if stopping:
                break
            with console.status(f"starting {label}..."):
                service = start()
            services.append(service)
            console.print(f"  [green]✓[/] {label:<28} {service.url}  (pid {service.process.pid})")
        if not stopping:
            _print_urls(settings)
        started = time.monotonic()
        while not stopping:
            for service in services:
                if service.process.poll() is not None:
                    failed = service.name
                    console.print(
                        f"[red]✗ {service.name} exited with code {service.process.returncode}; "
                        f"see {service.log_file}[/]"
                    )
                    stopping = True
            if stop_after is not None and time.monotonic() - started >= stop_after:
                stopping = True
            time.sleep(0.5)
    except TicklakeError as error:
        console.print(f"[red]✗ {error}[/]")
        failed = failed or "startup"
    finally:
        console.print("stopping...")
        for service in reversed(services):
            with console.status(f"stopping {service.name}..."):
                stop_process(service.process, timeout=30)
            console.print(f"  [green]✓[/] stopped {service.name}")
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
    console.print(table)
    console.print("Press [bold]Ctrl-C[/] to stop everything.")
