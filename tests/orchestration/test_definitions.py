from dagster import AssetKey, Definitions

from orchestration.definitions import defs


def test_definitions_load_and_validate():
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {
        "bronze/trades",
        "bronze/raw_messages",
        "bronze/dead_letters",
        "silver/trades",
        "silver/late_trades",
        "silver/candles",
    } <= keys
    trades = graph.get(AssetKey(["silver", "trades"]))
    late = graph.get(AssetKey(["silver", "late_trades"]))
    candles = graph.get(AssetKey(["silver", "candles"]))
    for node in (trades, late, candles):
        assert node.partitions_def == candles.partitions_def and candles.partitions_def is not None
    assert trades.parent_keys == {AssetKey(["bronze", "trades"])}
    assert candles.parent_keys == {AssetKey(["silver", "trades"])}  # deduplicated once, in silver.trades
    assert late.parent_keys == {AssetKey(["silver", "trades"]), AssetKey(["bronze", "trades"])}
    assert {"bronze/live_candles", "bronze/late_trade_events"} <= keys  # landed by the sink from the live topics
    checks = {key.name: key.asset_key for key in graph.asset_check_keys}
    assert checks["live_candles_agree"] == AssetKey(["silver", "candles"])


def test_stream_jobs_and_sensors_are_registered():
    job_names = {job.name for job in defs.resolve_all_job_defs()}
    assert {
        "stream_collectors",
        "stream_bronze_sink",
        "stream_live_candles",
        "silver_candles_job",
        "reprocess_bronze",
        "table_maintenance",
    } <= job_names
    assert [s.name for s in defs.schedules or []] == ["table_maintenance_hourly"]
    sensor_names = {s.name for s in defs.sensors or []}
    assert sensor_names == {"stream_supervisor", "silver_candles_on_bronze", "marts_after_silver"}
