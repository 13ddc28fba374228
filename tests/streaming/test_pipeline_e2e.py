"""End to end on real components: simulator -> collector -> embedded broker -> bronze sink -> Iceberg."""

import json
import signal
from collections import Counter
from decimal import Decimal

from testkit import free_port, wait_until

from ticklake.lake import committed_offsets, open_catalog
from ticklake.settings import get_settings

TOTAL = 6000


def bronze_rows(settings, table, columns):
    catalog = open_catalog(settings)
    if not catalog.table_exists(table):
        return []
    return catalog.load_table(table).scan(selected_fields=columns).to_arrow().to_pylist()


def ground_truth(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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
