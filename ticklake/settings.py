"""The one settings object every ticklake process reads.

Every field can be set from the environment with the ``TICKLAKE_`` prefix, e.g.
``TICKLAKE_STATE_DIR=/data/ticklake`` or ``TICKLAKE_SIM_RATE=500``. List and mapping fields take JSON
(``TICKLAKE_INSTRUMENTS='{"binance": ["BTC-USDT", "ETH-USDT"]}'``). Bad values fail at start with the
variable's name (see :func:`load_settings`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import typing
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from contracts.instruments import PREDICTION_VENUES, InstrumentKind, is_canonical, kind_of
from ticklake.errors import ConfigError

ENV_PREFIX = "TICKLAKE_"

Scenario = Literal[
    "steady", "bursts", "disconnects", "gaps", "duplicates", "out_of_order", "malformed", "silence", "all"
]
SCENARIOS: tuple[str, ...] = typing.get_args(Scenario)
"""The simulator's fault presets (see :mod:`streaming.simulator.scenario`)."""

VENUES: tuple[str, ...] = ("binance", "coinbase", "kraken", "krakenfutures", "kalshi", "polymarket")
"""Every venue ticklake speaks, by id."""

DEFAULT_INSTRUMENTS: dict[str, tuple[str, ...]] = {
    "binance": ("BTC-USDT", "ETH-USDT", "SOL-USDT"),
    "coinbase": ("BTC-USD", "ETH-USD"),
    "kraken": ("BTC-USD", "ETH-USD"),
    "krakenfutures": ("BTC-USD-PERP", "ETH-USD-PERP"),
    "kalshi": ("KALSHI:KXBTCD-26NOV2117-T95999.99", "KALSHI:KXETHD-26NOV2117-T3499.99"),
    "polymarket": (
        "POLYMARKET:21742633143463906290569050155826241533067272736897614950488156847949938836455",
        "POLYMARKET:48331043336612883890938759509493159234755048973500640148014422747788308965732",
    ),
}
"""Per venue, the instruments captured (and simulated) unless ``TICKLAKE_INSTRUMENTS`` names others."""

_VENUE_KINDS: dict[str, tuple[InstrumentKind, ...]] = {
    "binance": ("spot",),
    "coinbase": ("spot", "perpetual"),
    "kraken": ("spot",),
    "krakenfutures": ("perpetual", "future"),
    "kalshi": ("prediction",),
    "polymarket": ("prediction",),
}


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
    venues: list[str] = Field(
        default_factory=lambda: list(VENUES),
        min_length=1,
        description="Venues captured (and simulated), by id: " + ", ".join(VENUES) + ".",
    )
    instruments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per venue, the canonical instruments captured (and simulated); a venue left out "
        "uses its DEFAULT_INSTRUMENTS.",
    )
    ws_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Per venue, the WebSocket base URL (e.g. wss://stream.binance.com:9443); default: the simulator.",
    )
    rest_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Per venue, the REST base URL used for gap repair; default: the simulator.",
    )
    binance_trade_channel: Literal["trade", "aggTrade"] = "trade"
    binance_book_channel: Literal["depth", "depth@100ms"] | None = Field(
        default="depth@100ms", description="Binance diff-depth stream captured (and kept in sync); null: no books."
    )
    binance_book_ticker: bool = Field(default=True, description="Capture Binance bookTicker (best bid/ask).")
    coinbase_feed: Literal["advanced", "exchange"] = Field(
        default="advanced",
        description="Coinbase WebSocket feed captured: 'advanced' (Advanced Trade: trades, books, tickers) or "
        "'exchange' (the Exchange feed's matches and heartbeats; trades only). With 'exchange' and no ws_urls "
        "entry the simulator's /coinbase/exchange path is used; live, set ws_urls coinbase to "
        "wss://ws-feed.exchange.coinbase.com.",
    )
    kalshi_api_key_id: str | None = Field(
        default=None, description="Kalshi API key id (signs the WebSocket handshake); default: a development key."
    )
    kalshi_private_key_path: Path | None = Field(
        default=None,
        description="PEM file of the Kalshi API key's RSA private key; default: a development key generated "
        "under state_dir, which the simulator trusts.",
    )
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
    sim_scenario: Scenario = Field(
        default="steady",
        description="Preset of faults: " + ", ".join(SCENARIOS) + "; the sim_* knobs below override its values.",
    )
    sim_book_drop_every: int | None = Field(
        default=None, ge=2, description="Never send every Nth order-book diff of a stream: book sequence gaps."
    )
    sim_duplicate_every: int | None = Field(default=None, ge=1, description="Send every Nth trade twice.")
    sim_reorder_every: int | None = Field(
        default=None, ge=2, description="Deliver every Nth trade after the next one (out-of-order delivery)."
    )
    sim_malformed_every: int | None = Field(
        default=None, ge=1, description="After every Nth trade, send a malformed frame."
    )
    sim_burst_every: float | None = Field(
        default=None, gt=0, description="Every this many seconds, trade sim_burst_factor times faster..."
    )
    sim_burst_seconds: float = Field(default=1.0, gt=0, description="...for this many seconds.")
    sim_burst_factor: float = Field(default=10.0, ge=1)
    sim_silence_after: float | None = Field(
        default=None, gt=0, description="Seconds after the start at which every venue stops sending (stays connected)."
    )
    sim_silence_seconds: float | None = Field(
        default=None, gt=0, description="How long the silence lasts (default: for good)."
    )

    # --- WebSocket transport -------------------------------------------------------------------
    ws_ping_interval: float = Field(default=20.0, gt=0)
    ws_ping_timeout: float = Field(default=20.0, gt=0)
    ws_backoff_initial: float = Field(default=0.5, gt=0)
    ws_backoff_max: float = Field(default=30.0, gt=0)
    ws_stale_seconds: float = Field(
        default=30.0, gt=0, description="Reconnect when a connection has carried no frame for this long."
    )
    ws_compression: bool = Field(
        default=False,
        description="Offer permessage-deflate to the venues: less bandwidth, more CPU (a compressed "
        "connection's frames are inflated and read by websockets, not in bulk).",
    )

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

    @field_validator("binance_book_channel", mode="before")
    @classmethod
    def _no_book_channel(cls, value: object) -> object:
        """``null``, ``none`` or an empty value (as an environment variable says it) captures no books."""
        if isinstance(value, str) and value.strip().lower() in {"", "null", "none"}:
            return None
        return value

    @field_validator("venues")
    @classmethod
    def _known_venues(cls, value: list[str]) -> list[str]:
        _check_venues(value)
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate venues in {value}")
        return value

    @field_validator("ws_urls", "rest_urls")
    @classmethod
    def _urls_of_known_venues(cls, value: dict[str, str]) -> dict[str, str]:
        _check_venues(value)
        for venue, url in value.items():
            if "://" not in url:
                raise ValueError(f"{venue}: {url!r} is not a URL")
        return value

    @field_validator("instruments")
    @classmethod
    def _canonical_instruments(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _check_venues(value)
        for venue, names in value.items():
            if not names:
                raise ValueError(f"{venue}: the list of instruments is empty")
            if len(set(names)) != len(names):
                raise ValueError(f"{venue}: duplicate instruments in {names}")
            for name in names:
                prefix = PREDICTION_VENUES.get(venue, "")
                if not is_canonical(name) or kind_of(name) not in _VENUE_KINDS[venue] or not name.startswith(prefix):
                    raise ValueError(
                        f"{venue}: {name!r} is not a canonical {' or '.join(_VENUE_KINDS[venue])} instrument "
                        f"such as {DEFAULT_INSTRUMENTS[venue][0]!r}"
                    )
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

    def instruments_of(self, venue: str) -> list[str]:
        """The canonical instruments captured on a venue (its :data:`DEFAULT_INSTRUMENTS` unless set)."""
        return self.instruments.get(venue) or list(DEFAULT_INSTRUMENTS[venue])

    def ws_url(self, venue: str) -> str:
        """A venue's WebSocket base URL (the simulator's ``ws://<sim>/<venue>`` unless set)."""
        return self.ws_urls.get(venue) or f"ws://{self.sim_host}:{self.sim_port}/{venue}"

    def rest_url(self, venue: str) -> str:
        """A venue's REST base URL (the simulator's ``http://<sim>/<venue>`` unless set)."""
        return self.rest_urls.get(venue) or f"http://{self.sim_host}:{self.sim_port}/{venue}"

    @property
    def dagster_home(self) -> Path:
        """DAGSTER_HOME for the embedded Dagster instance."""
        return self.state_path / "dagster"

    def topic(self, kind: str) -> str:
        """The Kafka topic name of a record kind (``raw``, ``trades``, ``dlq``...)."""
        return f"{self.topic_prefix}.{kind}"


def _check_venues(venues: object) -> None:
    unknown = [venue for venue in venues if venue not in VENUES]  # type: ignore[attr-defined]
    if unknown:
        raise ValueError(f"unknown venues {unknown}; known: {', '.join(VENUES)}")


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
