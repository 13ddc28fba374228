"""The one settings object every ticklake process reads.

Every field can be set from the environment with the ``TICKLAKE_`` prefix, e.g.
``TICKLAKE_STATE_DIR=/data/ticklake`` or ``TICKLAKE_SIM_RATE=500``. List and mapping fields take JSON
(``TICKLAKE_INSTRUMENTS='["BTC-USDT","ETH-USDT"]'``). Bad values fail at start with the variable's
name (see :func:`load_settings`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from ticklake.errors import ConfigError

ENV_PREFIX = "TICKLAKE_"


class Settings(BaseSettings):
    """All configuration of the platform, with embedded defaults that need nothing installed."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # --- state -------------------------------------------------------------------------------
    state_dir: Path = Field(
        default=Path(".ticklake"), description="Folder holding all local state (catalog, warehouse, Dagster)."
    )

    # --- Iceberg catalog -----------------------------------------------------------------------
    catalog_name: str = Field(default="ticklake", min_length=1, description="Iceberg catalog name.")
    catalog_uri: str | None = Field(
        default=None, description="SQLAlchemy URI of the SQL catalog; default: SQLite under state_dir."
    )
    warehouse: str | None = Field(
        default=None, description="Warehouse location; default: file:// folder under state_dir."
    )

    # --- Kafka bus -----------------------------------------------------------------------------
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", min_length=3, description="bootstrap.servers")
    kafka_embedded: bool = Field(
        default=True,
        description="Start the embedded tansu broker (`ticklake up`) instead of using a cluster.",
    )
    kafka_properties: dict[str, str] = Field(
        default_factory=dict,
        description="Extra librdkafka properties (SASL/TLS...) passed to every producer and consumer.",
    )
    topic_prefix: str = Field(default="ticklake", pattern=r"^[A-Za-z0-9._-]+$")
    topic_partitions: int = Field(default=3, ge=1, le=1024)

    # --- venues and the simulator --------------------------------------------------------------
    instruments: list[str] = Field(
        default_factory=lambda: ["BTC-USDT", "ETH-USDT", "SOL-USDT"],
        min_length=1,
        description="Canonical instruments captured (and simulated).",
    )
    binance_ws_url: str | None = Field(
        default=None, description="Binance WebSocket base URL; default: the local simulator."
    )
    binance_rest_url: str | None = Field(
        default=None, description="Binance REST base URL (gap repair); default: the local simulator."
    )
    binance_trade_channel: Literal["trade", "aggTrade"] = "trade"
    sim_host: str = "127.0.0.1"
    sim_port: int = Field(default=8765, ge=1, le=65535)
    sim_seed: int = 42
    sim_rate: float = Field(default=20.0, gt=0, description="Trades per second per instrument.")
    sim_max_trades: int | None = Field(default=None, ge=1, description="Stop after this many trades.")
    sim_drop_every: float | None = Field(
        default=None, gt=0, description="Close every simulator connection this often (seconds): a flaky venue."
    )
    sim_skip_every: int | None = Field(
        default=None, ge=2, description="Never send every Nth trade (its id is used): sequence gaps on the wire."
    )
    sim_ground_truth: Path | None = Field(
        default=None, description="Write every trade the simulator sends to this JSONL file."
    )

    # --- WebSocket transport -------------------------------------------------------------------
    ws_ping_interval: float = Field(default=20.0, gt=0)
    ws_ping_timeout: float = Field(default=20.0, gt=0)
    ws_backoff_initial: float = Field(default=0.5, gt=0)
    ws_backoff_max: float = Field(default=30.0, gt=0)

    # --- bronze sink ---------------------------------------------------------------------------
    sink_batch_rows: int = Field(default=100_000, ge=1, description="Commit when a table's batch has this many rows.")
    sink_batch_seconds: float = Field(default=5.0, gt=0, description="Commit at least this often (seconds).")

    # --- live candles -------------------------------------------------------------------------
    candle_grace_seconds: dict[str, float] = Field(
        default_factory=lambda: {"1m": 10.0, "5m": 30.0, "1h": 60.0},
        description="Per interval: a window is sealed once the watermark passes its end plus this.",
    )
    candle_allowed_lateness_seconds: float = Field(
        default=0.0, ge=0, description="Watermark = the latest event time seen minus this."
    )

    # --- orchestration -------------------------------------------------------------------------
    partitions_start: dt.date = Field(default=dt.date(2025, 1, 1), description="First daily partition.")
    dagster_host: str = "127.0.0.1"
    dagster_port: int = Field(default=3000, ge=1, le=65535)
    stream_relaunch_backoff_max: float = Field(default=300.0, gt=0)
    maintenance_snapshot_retention_hours: float = Field(
        default=168.0, gt=0, description="Keep snapshots (time travel) this long; older ones are expired."
    )
    maintenance_small_file_mb: float = Field(
        default=64.0, gt=0, description="Data files below this size get compacted."
    )
    maintenance_min_files: int = Field(default=4, ge=2, description="Compact a partition from this many small files.")

    # --- API -----------------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)

    @field_validator("instruments")
    @classmethod
    def _canonical_instruments(cls, value: list[str]) -> list[str]:
        for name in value:
            base, sep, quote = name.partition("-")
            if not sep or not base.isalnum() or not quote.isalnum() or name != name.upper():
                raise ValueError(f"{name!r} is not a canonical BASE-QUOTE instrument such as 'BTC-USDT'")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> Settings:
        if self.ws_backoff_initial > self.ws_backoff_max:
            raise ValueError(
                f"{ENV_PREFIX}WS_BACKOFF_INITIAL ({self.ws_backoff_initial}) must not exceed "
                f"{ENV_PREFIX}WS_BACKOFF_MAX ({self.ws_backoff_max})"
            )
        return self

    # --- derived values ------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        """The absolute state folder."""
        return self.state_dir.expanduser().resolve()

    @property
    def resolved_catalog_uri(self) -> str:
        """The catalog URI, defaulting to SQLite in the state folder."""
        return self.catalog_uri or f"sqlite:///{self.state_path / 'catalog.db'}"

    @property
    def resolved_warehouse(self) -> str:
        """The warehouse location, defaulting to a folder in the state folder."""
        return self.warehouse or (self.state_path / "warehouse").as_uri()

    @property
    def resolved_binance_ws_url(self) -> str:
        """The Binance WebSocket base URL (the simulator unless set)."""
        return self.binance_ws_url or f"ws://{self.sim_host}:{self.sim_port}/binance"

    @property
    def resolved_binance_rest_url(self) -> str:
        """The Binance REST base URL (the simulator unless set)."""
        return self.binance_rest_url or f"http://{self.sim_host}:{self.sim_port}/binance"

    @property
    def dagster_home(self) -> Path:
        """DAGSTER_HOME for the embedded Dagster instance."""
        return self.state_path / "dagster"

    def topic(self, kind: str) -> str:
        """The Kafka topic name of a record kind (``raw``, ``trades``, ``dlq``...)."""
        return f"{self.topic_prefix}.{kind}"


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        name = f"{ENV_PREFIX}{field.split('.')[0].upper()}" if item["loc"] else "settings"
        lines.append(f"{name}: {item['msg']} (got {item.get('input')!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment (and explicit overrides), failing fast when invalid.

    Args:
        **overrides: Field values that take precedence over the environment.

    Returns:
        The validated settings.

    Raises:
        ConfigError: A value is invalid; the message names the environment variable.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    except SettingsError as error:  # e.g. a list or mapping variable that is not valid JSON
        match = re.search(r'field "([^"]+)"', str(error))
        name = f"{ENV_PREFIX}{match.group(1).upper()}" if match else "settings"
        raise ConfigError(f"invalid configuration:\n  {name}: {error} (lists and mappings take JSON)") from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()
