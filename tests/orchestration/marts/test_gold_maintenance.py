"""Maintenance expires gold snapshots past the retention, and keeps what the API's publication pin needs.

Real marts build (Dagster + dbt), real publications to the gold Iceberg tables, the real
``table_maintenance`` job and the real API reading gold before and after.
"""

from __future__ import annotations

import duckdb
import pytest
from dagster import instance_for_test
from marts_fixtures import DAY, NEXT, build_marts, make_trades, write_silver_day
from testkit import running_api

from orchestration.defs.maintenance.jobs import table_maintenance
from orchestration.defs.marts.project import MartsPaths
from orchestration.defs.marts.publish import GOLD_BY_IDENTIFIER, GOLD_TABLES, PUBLICATION_KEY, publish_marts
from orchestration.defs.marts.sources import Window
from orchestration.defs.resources import LakeResource
from ticklake.lake import open_catalog
from ticklake.settings import get_settings, load_settings

pytestmark = pytest.mark.timeout(600)

SUMMARY = "gold.daily_market_summary"
LARGEST = "gold.largest_trades"


def mark(builder, n: int) -> None:
    """Make publication ``n`` recognisable: summaries count ``1000 + n`` trades, largest trade ids end in ``~n``."""
    connection = duckdb.connect(str(builder))
    try:
        connection.execute("UPDATE main.fct_daily_market_summary SET trade_count = $n", {"n": 1000 + n})
        connection.execute(
            "UPDATE main.fct_largest_trades SET trade_id = split_part(trade_id, '~', 1) || '~' || $n", {"n": str(n)}
        )
    finally:
        connection.close()


def publish(catalog, builder, n: int, tables=GOLD_TABLES) -> None:
    mark(builder, n)
    publish_marts(builder, catalog, Window(DAY, NEXT), {PUBLICATION_KEY: f"p{n}"}, tuple(tables))


def daily(client) -> list[dict]:
    response = client.get("/v1/markets/daily", params={"start": DAY.isoformat(), "end": NEXT.isoformat()})
    assert response.status_code == 200, response.text
    days = response.json()["days"]
    assert len(days) == 6
    return days


def publication_seen(days: list[dict]) -> tuple[set[int], set[str]]:
    """The summaries' trade counts and the largest trades' id suffixes the API answered with."""
    return {d["trade_count"] for d in days}, {
        t["trade_id"].rsplit("~", 1)[1] for d in days for t in d["largest_trades"]
    }


def newest_with(table, publication: str) -> int:
    matching = [s for s in table.snapshots() if s.summary and s.summary.get(PUBLICATION_KEY) == publication]
    return max(matching, key=lambda s: s.sequence_number).snapshot_id


def test_gold_tables_keep_only_the_retained_snapshots_and_reads_keep_their_publication(monkeypatch):
    settings = load_settings()
    catalog = open_catalog(settings)
    write_silver_day(catalog, DAY, make_trades(DAY, 200, seed=8))
    with instance_for_test() as instance:
        assert build_marts(settings.state_path, DAY, instance).success
    builder = MartsPaths.under(settings.state_path).builder
    for n in range(1, 5):
        publish(catalog, builder, n)
    # a build caught between its commits: the largest trades are at p5, the summary still at p4
    publish(catalog, builder, 5, [GOLD_BY_IDENTIFIER[LARGEST]])

    tables = {gold.identifier: catalog.load_table(gold.identifier) for gold in GOLD_TABLES}
    before = {identifier: {s.snapshot_id for s in t.snapshots()} for identifier, t in tables.items()}
    assert all(len(ids) >= 9 for ids in before.values()), {k: len(v) for k, v in before.items()}  # 5 publications
    expected = {identifier: {t.current_snapshot().snapshot_id} for identifier, t in tables.items()}
    expected[LARGEST].add(newest_with(tables[LARGEST], "p4"))  # the summary's publication, for its readers
    assert len(expected[LARGEST]) == 2

    with running_api(settings) as client:
        answered = daily(client)
    assert publication_seen(answered) == ({1004}, {"4"})  # the summary at p4, its largest trades at p4 too

    # a retention of 3.6 µs: every snapshot committed so far is past it
    monkeypatch.setenv("TICKLAKE_MAINTENANCE_SNAPSHOT_RETENTION_HOURS", "0.000000001")
    get_settings.cache_clear()
    with instance_for_test() as instance:
        result = table_maintenance.execute_in_process(resources={"lake": LakeResource()}, instance=instance)
    assert result.success

    after = {
        gold.identifier: {s.snapshot_id for s in catalog.load_table(gold.identifier).snapshots()}
        for gold in GOLD_TABLES
    }
    assert after == expected
    observed = {
        "/".join(e.asset_observation_data.asset_observation.asset_key.path): e.asset_observation_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    }
    for identifier in before:
        metadata = observed[identifier.replace(".", "/")].metadata
        assert metadata["snapshots_expired"].value == len(before[identifier]) - len(expected[identifier])
        assert metadata["snapshots_kept"].value == len(expected[identifier])
    assert "silver/candles" in observed and "bronze/trades" in observed  # the other layers are still maintained

    with running_api(settings) as client:
        assert daily(client) == answered  # same publication, every file still readable
        # the build finishes: readers move to its publication
        publish(catalog, builder, 5, [gold for gold in GOLD_TABLES if gold.identifier != LARGEST])
        assert publication_seen(daily(client)) == ({1005}, {"5"})
