"""Shared fixtures of the serving tests: a real uvicorn server in a background thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from serve.app import create_app
from ticklake.settings import Settings, load_settings

STARTUP_DEADLINE_S = 15.0
SHUTDOWN_DEADLINE_S = 15.0

StartApi = Callable[[Settings], httpx.Client]


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


@pytest.fixture(scope="session")
def lake_settings() -> Callable[[Path], Settings]:
    """Build settings of an embedded lake (SQLite catalog, local warehouse) under a state folder."""
    return _lake_settings


def _lake_settings(state_dir: Path) -> Settings:
    """Settings of an embedded lake (SQLite catalog, local warehouse) under ``state_dir``."""
    return load_settings(state_dir=state_dir, catalog_uri=None, warehouse=None)


@pytest.fixture
def start_api() -> Iterator[StartApi]:
    """Start API servers for given settings; each stops when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda settings: stack.enter_context(running_api(settings))


@pytest.fixture(scope="module")
def start_module_api() -> Iterator[StartApi]:
    """Start API servers for given settings; they stop when the test module ends."""
    with contextlib.ExitStack() as stack:
        yield lambda settings: stack.enter_context(running_api(settings))


@pytest.fixture
def api(tmp_path: Path, start_api: StartApi) -> httpx.Client:
    """A client of an API over an empty lake in ``tmp_path`` (no table exists yet)."""
    return start_api(_lake_settings(tmp_path / "state"))


@pytest.fixture
def broken_settings(tmp_path: Path) -> Settings:
    """Settings whose catalog cannot be opened: its SQLite file would sit in a missing folder."""
    missing = tmp_path / "no" / "such" / "folder"
    return load_settings(
        state_dir=tmp_path / "state",
        catalog_uri=f"sqlite:///{missing / 'catalog.db'}",
        warehouse=(tmp_path / "warehouse").as_uri(),
    )


@pytest.fixture
def broken_api(broken_settings: Settings, start_api: StartApi) -> httpx.Client:
    """A client of an API whose catalog is down."""
    return start_api(broken_settings)
