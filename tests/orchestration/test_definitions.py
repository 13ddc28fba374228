from dagster import AssetKey, Definitions

from orchestration.definitions import defs


def test_definitions_load_and_validate():
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"bronze/trades", "bronze/raw_messages", "bronze/dead_letters", "silver/candles"} <= keys
    candles = graph.get(AssetKey(["silver", "candles"]))
    assert candles.partitions_def is not None
    assert AssetKey(["bronze", "trades"]) in candles.parent_keys


def test_stream_jobs_and_sensors_are_registered():
    job_names = {job.name for job in defs.resolve_all_job_defs()}
    assert {
        "stream_binance",
        "stream_bronze_sink",
        "stream_live_candles",
        "silver_candles_job",
        "table_maintenance",
    } <= job_names
    assert [s.name for s in defs.schedules or []] == ["table_maintenance_hourly"]
    sensor_names = {s.name for s in defs.sensors or []}
    assert sensor_names == {"stream_supervisor", "silver_candles_on_bronze"}
