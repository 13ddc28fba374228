"""Health endpoints against a real uvicorn server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ticklake.lake import open_catalog
from ticklake.settings import Settings

pytestmark = pytest.mark.timeout(120)

OK = {"status": "ok", "checks": {"catalog": "ok"}, "message": None}


def test_health_ok_when_the_catalog_answers(api: httpx.Client) -> None:
    response = api.get("/v1/health")
    assert response.status_code == 200
    assert response.json() == OK


def test_live_and_ready_when_the_catalog_answers(api: httpx.Client) -> None:
    live = api.get("/v1/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = api.get("/v1/health/ready")
    assert (ready.status_code, ready.json()) == (200, OK)


def test_the_api_creates_no_table(api: httpx.Client, tmp_path: Path, lake_settings: Callable[[Path], Settings]) -> None:
    assert api.get("/v1/health").status_code == 200
    assert api.get("/v1/candles", params={"instrument": "BTC-USDT", "venue": "binance"}).status_code == 200
    assert open_catalog(lake_settings(tmp_path / "state")).list_namespaces() == []


def test_health_is_200_degraded_when_the_catalog_is_down(broken_api: httpx.Client) -> None:
    response = broken_api.get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"catalog": "error"}
    assert body["message"].startswith("catalog: cannot open the Iceberg catalog: OperationalError: ")
    assert "unable to open database file" in body["message"]
    assert "\n" not in body["message"]
    assert "Traceback" not in response.text


def test_ready_is_503_and_live_200_when_the_catalog_is_down(broken_api: httpx.Client) -> None:
    ready = broken_api.get("/v1/health/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"] == {"catalog": "error"}
    live = broken_api.get("/v1/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})


def test_health_recovers_when_the_catalog_comes_back(broken_settings: Settings, broken_api: httpx.Client) -> None:
    assert broken_api.get("/v1/health/ready").status_code == 503
    assert broken_settings.catalog_uri is not None
    catalog_file = Path(broken_settings.catalog_uri.removeprefix("sqlite:///"))
    catalog_file.parent.mkdir(parents=True)  # the failed open was not cached: the next request retries
    response = broken_api.get("/v1/health/ready")
    assert (response.status_code, response.json()) == (200, OK)
