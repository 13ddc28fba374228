"""Typed Dagster resources shared by every domain."""

from __future__ import annotations

from dagster import ConfigurableResource
from pyiceberg.catalog import Catalog

from ticklake.lake import open_catalog
from ticklake.settings import Settings, get_settings, load_settings


class LakeResource(ConfigurableResource):  # type: ignore[type-arg]
    """Access to the platform settings and the Iceberg catalog.

    Attributes:
        state_dir: Overrides ``TICKLAKE_STATE_DIR`` (tests point it at a temporary folder).
    """

    state_dir: str | None = None

    def settings(self) -> Settings:
        """The platform settings, with this resource's overrides."""
        if self.state_dir is None:
            return get_settings()
        return load_settings(state_dir=self.state_dir)

    def catalog(self) -> Catalog:
        """The Iceberg catalog."""
        return open_catalog(self.settings())
