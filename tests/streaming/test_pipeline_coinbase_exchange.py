"""End to end on the Coinbase Exchange feed (``TICKLAKE_COINBASE_FEED=exchange``): simulator, collector and sink as
real processes.

The simulated venue never sends every 37th trade. Each lost trade shows as a trade-id gap in bronze.gaps -- revealed
by the next ``match`` of its product or, for the last trades of the tape, by two heartbeats naming a
``last_trade_id`` past the last trade seen -- and is repaired from the Exchange REST history: bronze.trades ends up
with every ground-truth trade exactly once, with the parser's exact values, and every frame is in
bronze.raw_messages.
"""

import json
from collections import Counter, defaultdict
from decimal import Decimal

from testkit import bronze_rows, free_port, wait_for_tape, wait_until

from ticklake.settings import get_settings

SKIP_EVERY = 37
TOTAL = SKIP_EVERY * 40
"""A multiple of the skip period: the tape's very last trade is lost, which only a heartbeat reveals."""


def test_coinbase_exchange_trades_gaps_and_raw_frames_land_in_bronze(broker, processes, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.jsonl"
    for key, value in {
        "TICKLAKE_VENUES": '["coinbase"]',
        "TICKLAKE_COINBASE_FEED": "exchange",
        "TICKLAKE_SIM_PORT": str(free_port()),
        "TICKLAKE_SIM_RATE": "250",
        "TICKLAKE_SIM_MAX_TRADES": str(TOTAL),
        "TICKLAKE_SIM_SKIP_EVERY": str(SKIP_EVERY),
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth_file),
        "TICKLAKE_SINK_BATCH_SECONDS": "0.3",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.coinbase_feed == "exchange"
    assert settings.instruments_of("coinbase") == ["BTC-USD", "ETH-USD"]
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "coinbase")

    truth = wait_for_tape(truth_file, TOTAL, 60)
    assert {t["venue"] for t in truth} == {"coinbase"} and {t["symbol"] for t in truth} == {"BTC-USD", "ETH-USD"}
    by_identity = {(t["symbol"], t["trade_id"]): t for t in truth}
    assert len(by_identity) == TOTAL  # one line per trade: the collector subscribes the one trade channel
    skipped = defaultdict(set)
    for t in truth:
        if not t["sent"]:
            skipped[t["symbol"]].add(int(t["trade_id"]))
    assert sum(len(ids) for ids in skipped.values()) == TOTAL // SKIP_EVERY
    last = {symbol: max(int(t) for s, t in by_identity if s == symbol) for symbol in skipped}
    assert not truth[-1]["sent"] and int(truth[-1]["trade_id"]) == last[truth[-1]["symbol"]]

    def stored():
        return bronze_rows(
            settings, "bronze.trades", "venue", "symbol", "trade_id", "price", "size", "side", "ts_event"
        )

    # every trade, the tape's last ones too (a heartbeat reveals those)
    wait_until(lambda: len(stored()) >= TOTAL, 60, "every ground-truth trade in bronze.trades")
    trades = stored()
    identities = Counter((row["venue"], row["symbol"], row["trade_id"]) for row in trades)
    assert identities == Counter({("coinbase", symbol, trade_id): 1 for symbol, trade_id in by_identity})
    for row in trades:
        line = by_identity[(row["symbol"], row["trade_id"])]
        assert (row["price"], row["size"]) == (Decimal(line["price"]), Decimal(line["size"]))
        assert (row["side"], row["ts_event"]) == (line["side"], line["ts_event"])

    def recorded():
        found = defaultdict(set)
        for row in bronze_rows(settings, "bronze.gaps"):
            assert row["venue"] == "coinbase" and row["stream"].startswith("trades:")
            found[row["stream"].removeprefix("trades:")] |= set(range(row["first_missing"], row["last_missing"] + 1))
        return found

    wait_until(lambda: recorded() == skipped, 30, "bronze.gaps to hold exactly the skipped ids (the last one too)")
    wait_until(
        lambda: (
            sum(row["missing"] for row in bronze_rows(settings, "bronze.gaps") if row["repaired"])
            == sum(len(ids) for ids in skipped.values())
        ),
        30,
        "every gap marked repaired",
    )

    def channels():
        return Counter(row["channel"] for row in bronze_rows(settings, "bronze.raw_messages", "venue", "channel"))

    wait_until(lambda: {"subscriptions", "matches", "heartbeat"} <= set(channels()), 30, "raw frames")
    raw = bronze_rows(settings, "bronze.raw_messages", "venue", "channel", "payload")
    assert {row["venue"] for row in raw} == {"coinbase"}
    assert set(channels()) == {"subscriptions", "matches", "heartbeat"}  # Exchange frames only, no Advanced Trade
    matches = [json.loads(row["payload"]) for row in raw if row["channel"] == "matches"]
    in_frames = {(m["product_id"], str(m["trade_id"])) for m in matches}
    assert in_frames == {(t["symbol"], t["trade_id"]) for t in truth if t["sent"]}

    def final_beats():
        """Products with a stored heartbeat naming their last trade (what revealed the tape's last loss)."""
        rows = bronze_rows(settings, "bronze.raw_messages", "channel", "payload")
        beats = [json.loads(row["payload"]) for row in rows if row["channel"] == "heartbeat"]
        return {b["product_id"] for b in beats if b["last_trade_id"] == last[b["product_id"]]}

    wait_until(lambda: final_beats() == set(last), 30, "the heartbeats naming each product's last trade")
