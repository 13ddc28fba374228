"""End to end on Coinbase: simulator, collector (``capture --venue coinbase``) and sink as real processes.

Trades the simulated venue never delivered show up as trade-id gaps in bronze.gaps and are repaired from the
Exchange REST history: bronze.trades ends up with every ground-truth trade exactly once (those a later trade
revealed), with the parser's exact values, and every frame is in bronze.raw_messages.
"""

import json
from collections import Counter, defaultdict
from decimal import Decimal

from testkit import free_port, wait_for_tape, wait_until

from ticklake.lake import open_catalog
from ticklake.settings import get_settings

TOTAL = 2000


def test_coinbase_trades_gaps_and_raw_frames_land_in_bronze(broker, processes, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.jsonl"
    for key, value in {
        "TICKLAKE_VENUES": '["coinbase"]',
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
    assert settings.instruments_of("coinbase") == ["BTC-USD", "ETH-USD"]
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "coinbase")

    def rows(table, *fields):
        catalog = open_catalog(settings)
        if not catalog.table_exists(table):
            return []
        return catalog.load_table(table).scan(selected_fields=fields or ("*",)).to_arrow().to_pylist()

    truth = wait_for_tape(truth_file, TOTAL, 60)
    assert {t["venue"] for t in truth} == {"coinbase"} and {t["symbol"] for t in truth} == {"BTC-USD", "ETH-USD"}
    sent = defaultdict(set)
    for t in truth:
        if t["sent"]:
            sent[t["symbol"]].add(int(t["trade_id"]))
    # ids the venue used between the first and last delivered trade of a product, yet never sent: the gaps
    expected = {symbol: set(range(min(ids), max(ids) + 1)) - ids for symbol, ids in sent.items()}
    skipped = {(t["symbol"], int(t["trade_id"])) for t in truth if not t["sent"]}
    assert {(symbol, i) for symbol, ids in expected.items() for i in ids} <= skipped
    assert sum(len(m) for m in expected.values()) >= 40
    # a trade lost after the last delivered one of its product is revealed by nothing: it cannot be there
    revealed = {
        (t["symbol"], t["trade_id"]): t
        for t in truth
        if min(sent[t["symbol"]]) <= int(t["trade_id"]) <= max(sent[t["symbol"]])
    }

    def stored():
        return rows("bronze.trades", "venue", "symbol", "trade_id", "price", "size", "side", "ts_event")

    wait_until(lambda: len(stored()) >= len(revealed), 60, "every revealed trade in bronze.trades")
    trades = stored()
    identities = Counter((row["venue"], row["symbol"], row["trade_id"]) for row in trades)
    assert identities == Counter({("coinbase", symbol, trade_id): 1 for symbol, trade_id in revealed})
    for row in trades:
        line = revealed[(row["symbol"], row["trade_id"])]
        assert (row["price"], row["size"]) == (Decimal(line["price"]), Decimal(line["size"]))
        assert (row["side"], row["ts_event"]) == (line["side"], line["ts_event"])

    def recorded():
        found = defaultdict(set)
        for row in rows("bronze.gaps"):
            assert row["venue"] == "coinbase"
            found[row["stream"].removeprefix("trades:")] |= set(range(row["first_missing"], row["last_missing"] + 1))
        return found

    wait_until(lambda: recorded() == expected, 30, "bronze.gaps to hold exactly the missing ids")
    wait_until(
        lambda: (
            sum(row["missing"] for row in rows("bronze.gaps") if row["repaired"])
            == sum(len(m) for m in expected.values())
        ),
        30,
        "every gap marked repaired",
    )

    def channels():
        return Counter(row["channel"] for row in rows("bronze.raw_messages", "venue", "channel"))

    wait_until(lambda: {"subscriptions", "market_trades", "heartbeats"} <= set(channels()), 30, "raw frames")
    raw = rows("bronze.raw_messages", "venue", "channel", "payload")
    assert {row["venue"] for row in raw} == {"coinbase"}
    frames = [json.loads(row["payload"]) for row in raw if row["channel"] == "market_trades"]
    in_frames = {
        (t["product_id"], t["trade_id"]) for frame in frames for event in frame["events"] for t in event["trades"]
    }
    assert in_frames >= {(symbol, str(i)) for symbol, ids in sent.items() for i in ids}
    assert in_frames <= {(t["symbol"], t["trade_id"]) for t in truth}
