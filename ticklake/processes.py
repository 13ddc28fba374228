"""Child processes: start them in their own session, tied to their parent; stop whole groups.

Every service ``ticklake up`` starts (and every process a test starts) runs in its own session so
that it can be stopped with everything it spawned. Children also get SIGTERM from the kernel when
their parent dies (``PR_SET_PDEATHSIG``), so a parent killed without warning leaves no orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ticklake.errors import TicklakeError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class ProcessError(TicklakeError):
    """A child process could not be started or did not come up."""


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


def spawn(command: list[str], log_file: Path | None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a child in its own session (a process group of its own), output appended to ``log_file``."""
    output = open(log_file, "ab") if log_file is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
    finally:
        if log_file is not None:
            output.close()  # type: ignore[union-attr]


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
            raise ProcessError(f"process exited with code {process.returncode} before listening on {host}:{port}")
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise ProcessError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


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
