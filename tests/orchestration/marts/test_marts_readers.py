"""Readers never block writers: the API and ad-hoc queries keep answering, consistently, while the marts build."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import instance_for_test
from marts_fixtures import DAY, build_marts, lake_settings, make_trades, write_silver_day
from testkit import running_api, wait_until

from orchestration.defs.marts.sources import Window, plan_source, view_sql
from ticklake.lake import open_catalog
from ticklake.settings import Settings

pytestmark = pytest.mark.timeout(600)

log = logging.getLogger(__name__)

PACE_S = 0.05
"""Pause between a reader's queries: steady load that leaves the two shared cores to the build too."""

NEXT = Window(DAY, DAY.replace(day=DAY.day + 1)).end
API_QUERIES = (
    ("/v1/markets/daily", {"start": DAY.isoformat(), "end": NEXT.isoformat()}),
    ("/v1/instruments", {}),
    (
        "/v1/markets/candles",
        {"venue": "binance", "instrument": "BTC-USDT", "start": f"{DAY}T08:00:00Z", "end": f"{DAY}T12:00:00Z"},
    ),
)


@dataclasses.dataclass
class Reader:
    """A thread running one query in a loop until stopped, keeping what it saw."""

    name: str
    query: Callable[[], Any]
    stop: threading.Event
    results: list[tuple[float, float, Any]] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                value = self.query()
            except Exception as error:  # every failure is a finding of this test
                self.errors.append(f"{type(error).__name__}: {error}")
            else:
                self.results.append((started, time.monotonic(), value))
            self.stop.wait(PACE_S)

    def during(self, start: float, end: float) -> list[Any]:
        """What the reads that started and ended within ``[start, end]`` returned."""
        return [value for began, ended, value in self.results if start <= began and ended <= end]


def api_reader(client: Any, path: str, params: dict[str, str]) -> Callable[[], Any]:
    def query() -> Any:
        response = client.get(path, params=params)
        if response.status_code != 200:
            raise AssertionError(f"{path}: HTTP {response.status_code}: {response.text}")
        return response.json()

    return query


def adhoc_reader(settings: Settings) -> Callable[[], Any]:
    """An analyst's query: DuckDB over the current gold snapshot's Parquet files (no lock on anything)."""
    catalog = open_catalog(settings)

    def query() -> Any:
        table = catalog.load_table("gold.daily_market_summary")
        planned, schema = plan_source(table, Window(DAY, NEXT))
        connection = duckdb.connect()
        try:
            connection.execute("CREATE SCHEMA gold")
            connection.execute(view_sql("gold.daily_market_summary", schema, planned.files))
            return connection.sql(
                "SELECT count(*), sum(trade_count), sum(volume)::VARCHAR FROM gold.daily_market_summary"
            ).fetchall()
        finally:
            connection.close()

    return query


def snapshot_of_answers(client: Any, settings: Settings) -> list[Any]:
    return [api_reader(client, path, params)() for path, params in API_QUERIES] + [adhoc_reader(settings)()]


def test_api_and_adhoc_queries_answer_consistently_during_a_build(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    settings = lake_settings(state_dir)
    catalog = open_catalog(settings)
    first_trades = make_trades(DAY, 400, seed=11, hours=(8.0, 10.0))
    write_silver_day(catalog, DAY, first_trades)
    with instance_for_test() as instance:
        assert build_marts(state_dir, DAY, instance).success
        with running_api(settings) as client:
            before = snapshot_of_answers(client, settings)
            # more trades of the same day reach silver; the rebuild of the day republishes every mart
            write_silver_day(catalog, DAY, first_trades + make_trades(DAY, 300, seed=12, hours=(10.0, 12.0)))

            stop = threading.Event()
            readers = [Reader(path, api_reader(client, path, params), stop) for path, params in API_QUERIES]
            readers.append(Reader("adhoc duckdb", adhoc_reader(settings), stop))
            threads = [threading.Thread(target=r.run, name=r.name, daemon=True) for r in readers]
            for thread in threads:
                thread.start()
            try:
                wait_until(lambda: all(r.results or r.errors for r in readers), 60, "every reader answered once")
                build_started = time.monotonic()
                result = build_marts(state_dir, DAY, instance)
                build_ended = time.monotonic()
            finally:
                stop.set()
                for thread in threads:
                    thread.join(30)
            after = snapshot_of_answers(client, settings)

    assert result.success
    log.info(
        "build %.1f s; reads during it: %s",
        build_ended - build_started,
        {r.name: len(r.during(build_started, build_ended)) for r in readers},
    )
    assert after != before and all(a != b for a, b in zip(after, before, strict=True))
    for index, reader in enumerate(readers):
        assert reader.errors == [], (reader.name, reader.errors[:3])
        during = reader.during(build_started, build_ended)
        # the readers kept going through the whole build, not just around it
        assert len(during) >= 10, (reader.name, len(during), build_ended - build_started)
        # every answer is one published version or the other: never a mix, never partial
        mixed = [value for _, _, value in reader.results if value not in (before[index], after[index])]
        assert mixed == [], (reader.name, len(mixed), mixed[0])
    daily_before, daily_after = before[0], after[0]
    assert daily_after["count"] == daily_before["count"] == 6
    assert all(day["largest_trades"] for day in daily_after["days"])
