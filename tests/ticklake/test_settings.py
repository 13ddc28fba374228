"""Settings: embedded defaults, environment overrides, JSON values, and fail-fast validation."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ticklake.errors import ConfigError
from ticklake.settings import Settings, get_settings, load_settings


def test_defaults_live_under_an_absolute_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TICKLAKE_STATE_DIR")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()

    state = (tmp_path / ".ticklake").resolve()
    assert settings.state_dir == Path(".ticklake")
    assert settings.state_path == state and settings.state_path.is_absolute()
    assert settings.resolved_catalog_uri == f"sqlite:///{state / 'catalog.db'}"
    assert settings.resolved_warehouse == (state / "warehouse").as_uri()
    assert settings.resolved_warehouse.startswith("file:///")
    assert settings.dagster_home == state / "dagster"
    assert settings.ws_url("binance") == "ws://127.0.0.1:8765/binance"
    assert settings.rest_url("kalshi") == "http://127.0.0.1:8765/kalshi"
    assert settings.kafka_bootstrap == "127.0.0.1:9092" and settings.kafka_embedded
    assert settings.kafka_properties == {}
    assert settings.instruments_of("binance") == ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
    assert settings.instruments_of("krakenfutures") == ["BTC-USD-PERP", "ETH-USD-PERP"]
    assert settings.sim_scenario == "steady"
    assert settings.topic("trades") == "ticklake.trades"
    assert settings.ws_backoff_initial <= settings.ws_backoff_max
    assert not state.exists(), "reading settings must not create state (no I/O at load)"


def test_relative_and_home_state_dirs_resolve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TICKLAKE_STATE_DIR", "nested/../state")
    assert load_settings().state_path == (tmp_path / "state").resolve()

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TICKLAKE_STATE_DIR", "~/lake")
    assert load_settings().state_path == (tmp_path / "home" / "lake").resolve()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "TICKLAKE_STATE_DIR": str(tmp_path / "elsewhere"),
        "TICKLAKE_SIM_HOST": "127.0.0.2",
        "TICKLAKE_SIM_PORT": "9999",
        "TICKLAKE_SIM_RATE": "2.5",
        "TICKLAKE_SIM_MAX_TRADES": "10",
        "TICKLAKE_KAFKA_BOOTSTRAP": "broker-1:19092,broker-2:19092",
        "TICKLAKE_KAFKA_EMBEDDED": "false",
        "TICKLAKE_TOPIC_PREFIX": "prod.md",
        "TICKLAKE_BINANCE_TRADE_CHANNEL": "aggTrade",
        "TICKLAKE_SINK_BATCH_ROWS": "7",
        "TICKLAKE_SINK_BATCH_SECONDS": "0.25",
        "TICKLAKE_PARTITIONS_START": "2026-03-04",
        "TICKLAKE_CATALOG_URI": "postgresql+psycopg://lake@db/catalog",
        "TICKLAKE_WAREHOUSE": "s3://bucket/warehouse",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()

    assert settings.state_path == (tmp_path / "elsewhere").resolve()
    assert settings.ws_url("binance") == "ws://127.0.0.2:9999/binance"
    assert settings.sim_rate == 2.5 and settings.sim_max_trades == 10
    assert settings.kafka_bootstrap == "broker-1:19092,broker-2:19092"
    assert settings.kafka_embedded is False
    assert settings.topic("dlq") == "prod.md.dlq"
    assert settings.binance_trade_channel == "aggTrade"
    assert settings.sink_batch_rows == 7 and settings.sink_batch_seconds == 0.25
    assert settings.partitions_start == dt.date(2026, 3, 4)
    assert settings.resolved_catalog_uri == "postgresql+psycopg://lake@db/catalog"
    assert settings.resolved_warehouse == "s3://bucket/warehouse"

    monkeypatch.setenv("TICKLAKE_WS_URLS", '{"binance": "wss://stream.binance.com:9443"}')
    assert load_settings().ws_url("binance") == "wss://stream.binance.com:9443"


def test_explicit_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKLAKE_SIM_PORT", "9999")
    assert load_settings(sim_port=1234).sim_port == 1234


def test_json_list_and_mapping_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKLAKE_INSTRUMENTS", '{"binance": ["BTC-USDT", "PEPE-USDT"]}')
    monkeypatch.setenv("TICKLAKE_WS_URLS", '{"kraken": "wss://ws.kraken.com"}')
    monkeypatch.setenv("TICKLAKE_KAFKA_PROPERTIES", '{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}')
    settings = load_settings()
    assert settings.instruments_of("binance") == ["BTC-USDT", "PEPE-USDT"]
    assert settings.instruments_of("coinbase") == ["BTC-USD", "ETH-USD"]  # a venue left out keeps its default
    assert settings.ws_url("kraken") == "wss://ws.kraken.com"
    assert settings.ws_url("binance") == "ws://127.0.0.1:8765/binance"
    assert settings.kafka_properties == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}


def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKLAKE_SIM_PORT", "1111")
    first = get_settings()
    monkeypatch.setenv("TICKLAKE_SIM_PORT", "2222")
    assert get_settings() is first and first.sim_port == 1111
    get_settings.cache_clear()
    assert get_settings().sim_port == 2222


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError):
        settings.sim_port = 1  # type: ignore[misc]
    assert isinstance(settings, Settings)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"TICKLAKE_SIM_PORT": "abc"}, "TICKLAKE_SIM_PORT"),
        ({"TICKLAKE_SIM_PORT": "70000"}, "TICKLAKE_SIM_PORT"),
        ({"TICKLAKE_SIM_RATE": "-1"}, "TICKLAKE_SIM_RATE"),
        ({"TICKLAKE_SIM_RATE": "0"}, "TICKLAKE_SIM_RATE"),
        ({"TICKLAKE_SINK_BATCH_ROWS": "0"}, "TICKLAKE_SINK_BATCH_ROWS"),
        ({"TICKLAKE_TOPIC_PARTITIONS": "0"}, "TICKLAKE_TOPIC_PARTITIONS"),
        ({"TICKLAKE_TOPIC_PREFIX": "bad prefix!"}, "TICKLAKE_TOPIC_PREFIX"),
        ({"TICKLAKE_BINANCE_TRADE_CHANNEL": "depth"}, "TICKLAKE_BINANCE_TRADE_CHANNEL"),
        ({"TICKLAKE_PARTITIONS_START": "yesterday"}, "TICKLAKE_PARTITIONS_START"),
        ({"TICKLAKE_INSTRUMENTS": '{"binance": ["btcusdt"]}'}, "TICKLAKE_INSTRUMENTS"),
        ({"TICKLAKE_INSTRUMENTS": '{"binance": ["BTCUSDT"]}'}, "TICKLAKE_INSTRUMENTS"),
        ({"TICKLAKE_INSTRUMENTS": '{"binance": []}'}, "TICKLAKE_INSTRUMENTS"),
        ({"TICKLAKE_INSTRUMENTS": '{"binance": ["BTC-USDT", "BTC-USDT"]}'}, "TICKLAKE_INSTRUMENTS"),
        ({"TICKLAKE_INSTRUMENTS": '{"nasdaq": ["BTC-USDT"]}'}, "TICKLAKE_INSTRUMENTS"),
        ({"TICKLAKE_INSTRUMENTS": '{"krakenfutures": ["BTC-USD"]}'}, "TICKLAKE_INSTRUMENTS"),  # not a perp
        ({"TICKLAKE_INSTRUMENTS": '{"kalshi": ["POLYMARKET:123"]}'}, "TICKLAKE_INSTRUMENTS"),
        ({"TICKLAKE_INSTRUMENTS": '["BTC-USDT"]'}, "TICKLAKE_INSTRUMENTS"),  # a list, not per venue
        ({"TICKLAKE_VENUES": '["binance", "nyse"]'}, "TICKLAKE_VENUES"),
        ({"TICKLAKE_VENUES": "[]"}, "TICKLAKE_VENUES"),
        ({"TICKLAKE_WS_URLS": '{"kraken": "not a url"}'}, "TICKLAKE_WS_URLS"),
        ({"TICKLAKE_SIM_SCENARIO": "earthquake"}, "TICKLAKE_SIM_SCENARIO"),
        ({"TICKLAKE_INSTRUMENTS": "BTC-USDT,ETH-USDT"}, "TICKLAKE_INSTRUMENTS"),  # not JSON
        ({"TICKLAKE_KAFKA_PROPERTIES": "[1, 2]"}, "TICKLAKE_KAFKA_PROPERTIES"),
        ({"TICKLAKE_KAFKA_PROPERTIES": "{not json"}, "TICKLAKE_KAFKA_PROPERTIES"),
        (
            {"TICKLAKE_WS_BACKOFF_INITIAL": "40", "TICKLAKE_WS_BACKOFF_MAX": "30"},
            "TICKLAKE_WS_BACKOFF_INITIAL",
        ),
    ],
)
def test_bad_values_raise_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("invalid configuration")
    assert named in message
    get_settings.cache_clear()
    with pytest.raises(ConfigError):
        get_settings()


def test_backoff_bound_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKLAKE_WS_BACKOFF_INITIAL", "3")
    monkeypatch.setenv("TICKLAKE_WS_BACKOFF_MAX", "3")
    settings = load_settings()
    assert settings.ws_backoff_initial == settings.ws_backoff_max == 3


def test_cli_fails_fast_on_a_bad_variable(tmp_path: Path) -> None:
    env = {**os.environ, "TICKLAKE_SINK_BATCH_ROWS": "0", "COLUMNS": "200"}
    # Nothing listens here: if validation did not stop the sink first, it would try to reach Kafka.
    env["TICKLAKE_KAFKA_BOOTSTRAP"] = "127.0.0.1:1"
    result = subprocess.run(
        [sys.executable, "-m", "ticklake", "sink"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "TICKLAKE_SINK_BATCH_ROWS" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("value", ["null", "None", ""])
def test_no_binance_book_channel_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """The README's ``TICKLAKE_BINANCE_BOOK_CHANNEL=null`` captures no books (it used to be refused)."""
    monkeypatch.setenv("TICKLAKE_BINANCE_BOOK_CHANNEL", value)
    assert load_settings().binance_book_channel is None
    monkeypatch.setenv("TICKLAKE_BINANCE_BOOK_CHANNEL", "depth")
    assert load_settings().binance_book_channel == "depth"


def test_ws_compression_is_off_by_default_and_refuses_a_non_boolean(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().ws_compression is False
    monkeypatch.setenv("TICKLAKE_WS_COMPRESSION", "true")
    assert load_settings().ws_compression is True
    monkeypatch.setenv("TICKLAKE_WS_COMPRESSION", "deflate please")
    with pytest.raises(ConfigError, match="TICKLAKE_WS_COMPRESSION"):
        load_settings()
