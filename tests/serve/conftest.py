"""Shared fixtures of the serving tests: a real uvicorn server in a background thread."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from testkit import running_api

from ticklake.settings import Settings, load_settings

StartApi = Callable[[Settings], httpx.Client]


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
