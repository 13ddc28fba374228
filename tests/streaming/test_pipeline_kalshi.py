"""End to end on Kalshi: the simulator (signed handshake), `capture --venue kalshi` and the bronze sink as real
processes. Trades lost on the wire are seq gaps in bronze.gaps, repaired from the REST history: bronze.trades
ends up with every trade the venue revealed exactly once, and the raw frames are in bronze.raw_messages."""

import json
from collections import Counter, defaultdict
from decimal import Decimal

from testkit import free_port, wait_for_tape, wait_until

from ticklake.lake import open_catalog
from ticklake.settings import get_settings

TOTAL = 2000


def test_kalshi_gaps_are_recorded_and_repaired_into_bronze(broker, processes, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.jsonl"
    for key, value in {
        "TICKLAKE_VENUES": '["kalshi"]',
        "TICKLAKE_SIM_PORT": str(free_port()),
        "TICKLAKE_SIM_RATE": "250",
        "TICKLAKE_SIM_MAX_TRADES": str(TOTAL),
        "TICKLAKE_SIM_SKIP_EVERY": "37",
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth_file),
        "TICKLAKE_SINK_BATCH_SECONDS": "0.3",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "kalshi")

    def rows(table, columns):
        catalog = open_catalog(settings)
        if not catalog.table_exists(table):
            return []
        return catalog.load_table(table).scan(selected_fields=columns).to_arrow().to_pylist()

    truth = wait_for_tape(truth_file, TOTAL, 60)
    assert {t["venue"] for t in truth} == {"kalshi"} and len({t["symbol"] for t in truth}) == 2
    # A lost trade is revealed by the seq of a later trade of its market (a lost tail is revealed by nothing).
    last_sent = {t["symbol"]: index for index, t in enumerate(truth) if t["sent"]}
    expected = {
        ("kalshi", t["symbol"], t["trade_id"]) for i, t in enumerate(truth) if t["sent"] or i < last_sent[t["symbol"]]
    }
    revealed = Counter(t["symbol"] for i, t in enumerate(truth) if not t["sent"] and i < last_sent[t["symbol"]])
    assert sum(revealed.values()) >= 40

    def stored():
        return Counter(
            (r["venue"], r["symbol"], r["trade_id"]) for r in rows("bronze.trades", ("venue", "symbol", "trade_id"))
        )

    wait_until(lambda: set(stored()) >= expected, 60, "every delivered and every revealed trade in bronze")
    identities = stored()
    assert max(identities.values()) == 1, "a trade was written twice"
    assert set(identities) == expected
    by_id = {t["trade_id"]: t for t in truth}
    for row in rows("bronze.trades", ("trade_id", "price", "size", "side", "ts_event")):
        line = by_id[row["trade_id"]]
        assert (row["price"], row["size"], row["side"]) == (
            Decimal(line["price"]),
            Decimal(line["size"]),
            line["side"],
        )
        assert row["ts_event"] // 10**9 * 10**9 == line["ts_event"]  # REST copies carry milliseconds

    def gaps():
        return rows("bronze.gaps", ("venue", "stream", "first_missing", "last_missing", "missing", "repaired"))

    wait_until(lambda: sum(g["missing"] for g in gaps() if g["repaired"]) == sum(revealed.values()), 30, "repairs")
    detected: dict[str, int] = defaultdict(int)
    for found in gaps():
        assert found["venue"] == "kalshi" and found["missing"] == found["last_missing"] - found["first_missing"] + 1
        if not found["repaired"]:
            detected[found["stream"].removeprefix("trade:")] += found["missing"]
    assert detected == revealed  # one missing seq per lost trade, on its market's stream

    def raw():
        return rows("bronze.raw_messages", ("venue", "channel", "payload"))

    sent = sum(t["sent"] for t in truth)
    wait_until(lambda: Counter(r["channel"] for r in raw())["trade"] >= sent, 30, "the raw frames in bronze")
    frames = raw()
    assert {r["venue"] for r in frames} == {"kalshi"}
    assert Counter(r["channel"] for r in frames)["trade"] == sent
    acks = [json.loads(r["payload"]) for r in frames if r["channel"] == ""]
    subscribed = Counter(a["msg"]["channel"] for a in acks if a["type"] == "subscribed")
    assert subscribed == {"market_lifecycle_v2": 1, "ticker_v2": 1, "trade": 2, "orderbook_delta": 2}
