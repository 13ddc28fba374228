"""Request dependencies: the settings and the lazily opened Iceberg catalog, both kept on ``app.state``.

:func:`serve.app.create_app` calls :func:`install_state` once; routes then declare
``settings: SettingsDep`` or ``lake: LakeDep`` and call :meth:`Lake.catalog` when they need it.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pyiceberg.catalog import Catalog

from serve.errors import CatalogUnavailableError
from ticklake.lake import open_catalog
from ticklake.settings import Settings

log = logging.getLogger(__name__)

_MESSAGE_LIMIT = 300


class Lake:
    """Opens the catalog on first use and caches it; thread-safe.

    A failed open is not cached: the next call tries again, so the API recovers when the catalog
    comes back without a restart.
    """

    def __init__(self, settings: Settings) -> None:
        """Create the handle; no I/O happens until :meth:`catalog` is called.

        Args:
            settings: Where the catalog lives.
        """
        self._settings = settings
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None

    def catalog(self) -> Catalog:
        """The opened catalog.

        Raises:
            CatalogUnavailableError: The catalog cannot be opened; the message is safe for clients.
        """
        with self._lock:
            if self._catalog is None:
                try:
                    self._catalog = open_catalog(self._settings)
                except Exception as error:  # any backend (SQL, REST...) failure means "unavailable"
                    log.warning("cannot open the Iceberg catalog", exc_info=True)
                    raise CatalogUnavailableError(f"cannot open the Iceberg catalog: {describe(error)}") from error
            return self._catalog

    def ping(self) -> None:
        """Check that the catalog answers a cheap request (listing namespaces).

        Raises:
            CatalogUnavailableError: The catalog cannot be opened or does not answer.
        """
        catalog = self.catalog()
        try:
            catalog.list_namespaces()
        except Exception as error:  # any backend failure means "not answering"
            log.warning("the Iceberg catalog does not answer", exc_info=True)
            raise CatalogUnavailableError(f"the Iceberg catalog does not answer: {describe(error)}") from error


def describe(error: BaseException) -> str:
    """A one-line, bounded description of an error for clients: its type and first message line."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > _MESSAGE_LIMIT:
        first = first[: _MESSAGE_LIMIT - 3] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def install_state(app: FastAPI, settings: Settings) -> None:
    """Put the settings and the (not yet opened) catalog handle on ``app.state``."""
    app.state.settings = settings
    app.state.lake = Lake(settings)


def get_settings(request: Request) -> Settings:
    """The settings of the app serving this request."""
    settings = request.app.state.settings
    if not isinstance(settings, Settings):
        raise TypeError("app.state.settings is not set: build the app with serve.app.create_app")
    return settings


def get_lake(request: Request) -> Lake:
    """The catalog handle of the app serving this request (nothing is opened yet)."""
    lake = request.app.state.lake
    if not isinstance(lake, Lake):
        raise TypeError("app.state.lake is not set: build the app with serve.app.create_app")
    return lake


def get_catalog(lake: Annotated[Lake, Depends(get_lake)]) -> Catalog:
    """The opened catalog.

    FastAPI resolves dependencies before it validates the route's own query parameters, so a route
    that must answer 422 for bad parameters even while the catalog is down should take ``LakeDep``
    and call :meth:`Lake.catalog` itself instead.

    Raises:
        CatalogUnavailableError: The catalog cannot be opened.
    """
    return lake.catalog()


SettingsDep = Annotated[Settings, Depends(get_settings)]
LakeDep = Annotated[Lake, Depends(get_lake)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
