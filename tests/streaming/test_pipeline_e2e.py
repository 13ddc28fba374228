"""End to end on real components: simulator -> collector -> embedded broker -> bronze sink -> Iceberg,
then the silver candle asset and the API over the same trades."""

import math
import signal
from collections import Counter
from decimal import Decimal

from dagster import instance_for_test, materialize
from testkit import complete_jsonl, free_port, reference_candles, running_api, wait_until

from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.assets import silver_candles, silver_trades
from ticklake.lake import committed_offsets, open_catalog
from ticklake.settings import get_settings
from ticklake.timeutil import ns_to_date, ns_to_iso

TOTAL = 6000


def bronze_rows(settings, table, columns):
    catalog = open_catalog(settings)
    if not catalog.table_exists(table):
        return []
    return catalog.load_table(table).scan(selected_fields=columns).to_arrow().to_pylist()


def ground_truth(path):
    return complete_jsonl(path)  # the simulator may be writing its last line


def test_every_trade_lands_exactly_once_across_sink_kills(broker, processes, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.jsonl"
    env = {
        "TICKLAKE_SIM_PORT": str(free_port()),
        "TICKLAKE_SIM_RATE": "400",
        "TICKLAKE_SIM_MAX_TRADES": str(TOTAL),
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth_file),
        "TICKLAKE_SINK_BATCH_ROWS": "400",
        "TICKLAKE_SINK_BATCH_SECONDS": "0.3",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()

    processes.start("sim", "sim")
    processes.start("collector", "capture", "--venue", "binance")
    sink = processes.start("sink", "sink")

    def stored() -> int:
        return len(bronze_rows(settings, "bronze.trades", ("trade_id",)))

    kills = 0
    for threshold in (TOTAL // 5, TOTAL // 2):
        wait_until(lambda t=threshold: stored() >= t, 120, f"bronze.trades to reach {threshold} rows")
        sink.send_signal(signal.SIGKILL)  # mid-stream: no flush, no goodbye
        sink.wait(10)
        kills += 1
        sink = processes.start("sink", "sink")

    wait_until(lambda: len(ground_truth(truth_file)) == TOTAL, 120, "the simulator to send every trade")
    wait_until(lambda: stored() >= TOTAL, 120, f"bronze.trades to reach {TOTAL} rows")

    truth = ground_truth(truth_file)
    rows = bronze_rows(
        settings,
        "bronze.trades",
        ("venue", "symbol", "instrument", "trade_id", "price", "size", "side", "ts_event"),
    )
    identities = Counter((r["venue"], r["symbol"], r["trade_id"]) for r in rows)
    assert kills == 2
    assert max(identities.values()) == 1, "a trade was written twice"
    assert set(identities) == {(t["venue"], t["symbol"], t["trade_id"]) for t in truth}, "a trade was lost"
    by_id = {(r["symbol"], r["trade_id"]): r for r in rows}
    for t in truth:
        row = by_id[(t["symbol"], t["trade_id"])]
        assert row["price"] == Decimal(t["price"]) and row["size"] == Decimal(t["size"])
        assert row["side"] == t["side"] and row["ts_event"] == t["ts_event"]
        assert row["instrument"] == t["instrument"]

    # every frame is kept raw, exactly once, and the offsets stored with the data match the rows
    raw = bronze_rows(settings, "bronze.raw_messages", ("connection_id", "seq", "kafka_partition", "kafka_offset"))
    assert len(raw) >= TOTAL
    assert len({(r["connection_id"], r["seq"]) for r in raw}) == len(raw)
    catalog = open_catalog(settings)
    offsets = committed_offsets(catalog.load_table("bronze.trades"))
    topic = settings.topic("trades")
    assert sum(o for (t, _), o in offsets.items() if t == topic) == TOTAL

    # the same trades, through the silver candle asset and the API, equal an independent computation
    days = sorted({ns_to_date(t["ts_event"]) for t in truth})
    with instance_for_test() as instance:
        for day in days:
            result = materialize(
                [silver_trades, silver_candles],
                partition_key=day.isoformat(),
                resources={"lake": LakeResource()},
                instance=instance,
            )
            assert result.success
    trades = [{**t, "price": Decimal(t["price"]), "size": Decimal(t["size"])} for t in truth]
    with running_api(settings) as api:
        for instrument in settings.instruments_of("binance"):
            expected = {
                key: value
                for day in days
                for key, value in reference_candles(trades, day).items()
                if key[1] == instrument
            }
            start, end = min(k[2] for k in expected), max(k[2] for k in expected) + 60_000_000_000
            response = api.get(
                "/v1/candles",
                params={
                    "venue": "binance",
                    "instrument": instrument,
                    "interval": "1m",
                    "start": ns_to_iso(start),
                    "end": ns_to_iso(end),
                },
            )
            assert response.status_code == 200, response.text
            served = {("binance", instrument, c["window_start_ns"]): c for c in response.json()["candles"]}
            assert served.keys() == expected.keys()
            for key, want in expected.items():
                got = served[key]
                for column in ("open", "high", "low", "close", "volume", "buy_volume", "sell_volume"):
                    assert Decimal(got[column]) == want[column], (key, column)
                assert got["trade_count"] == want["trade_count"]
                assert (got["first_trade_id"], got["last_trade_id"]) == (want["first_trade_id"], want["last_trade_id"])
                assert math.isclose(got["quote_volume"], want["quote_volume"], rel_tol=1e-12)
