"""Fixtures shared by every test: free ports, isolated settings, the embedded broker, child processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import free_port

from streaming.broker import start_broker
from ticklake.processes import spawn, stop_process
from ticklake.settings import Settings, get_settings, load_settings


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test gets its own state folder and fresh process-wide settings."""
    for key in list(os.environ):
        if key.startswith("TICKLAKE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TICKLAKE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SODA_CORE_TELEMETRY_ENABLED", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A fresh embedded broker on a free loopback port; its bootstrap address is in the environment."""
    bootstrap = f"127.0.0.1:{free_port()}"
    process = start_broker(bootstrap, log_file=tmp_path / "broker.log")
    monkeypatch.setenv("TICKLAKE_KAFKA_BOOTSTRAP", bootstrap)
    get_settings.cache_clear()
    try:
        yield bootstrap
    finally:
        stop_process(process)


@pytest.fixture
def settings() -> Settings:
    """The settings of the current test environment."""
    return load_settings()


class Processes:
    """Child ``ticklake`` processes started by a test, all stopped at its end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_file = self.log_dir / f"{name}-{len(self.children)}.log"
        process = spawn([sys.executable, "-m", "ticklake", *args], log_file, {**os.environ, **(env or {})})
        self.children.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.children):
            stop_process(process, timeout=15)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start child processes that are always cleaned up."""
    running = Processes(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()
