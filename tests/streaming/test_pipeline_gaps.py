"""End to end: trades the venue never delivered show up as gaps in bronze.gaps, exactly the missing ids, and
are repaired from the venue's REST history: bronze ends up with every trade id exactly once."""

from collections import defaultdict

from testkit import free_port, wait_for_tape, wait_until

from ticklake.lake import open_catalog
from ticklake.settings import get_settings

TOTAL = 3000


def test_missing_trade_ids_are_recorded_as_gaps_and_repaired(broker, processes, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.jsonl"
    for key, value in {
        "TICKLAKE_SIM_PORT": str(free_port()),
        "TICKLAKE_SIM_RATE": "300",
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
    processes.start("collector", "capture", "--venue", "binance")

    def count(table):
        catalog = open_catalog(settings)
        if not catalog.table_exists(table):
            return 0
        return catalog.load_table(table).scan(selected_fields=("venue",)).to_arrow().num_rows

    truth = wait_for_tape(truth_file, TOTAL, 120)
    wait_until(lambda: count("bronze.trades") >= sum(t["sent"] for t in truth), 120, "every sent trade in bronze")
    sent = defaultdict(set)
    for t in truth:
        if t["sent"]:
            sent[t["symbol"]].add(int(t["trade_id"]))
    # ids the venue used between the first and last delivered trade of each symbol, yet never sent
    expected = {symbol: set(range(min(ids), max(ids) + 1)) - ids for symbol, ids in sent.items()}
    skipped = {(t["symbol"], int(t["trade_id"])) for t in truth if not t["sent"]}
    assert {(symbol, i) for symbol, ids in expected.items() for i in ids} <= skipped
    assert sum(len(m) for m in expected.values()) > 50
    wait_until(lambda: count("bronze.gaps") >= 1, 30, "gaps in bronze")

    def recorded():
        rows = open_catalog(settings).load_table("bronze.gaps").scan().to_arrow().to_pylist()
        found = defaultdict(set)
        for row in rows:
            found[row["stream"].removeprefix("trades:")] |= set(range(row["first_missing"], row["last_missing"] + 1))
        return found

    wait_until(lambda: recorded() == expected, 30, "bronze.gaps to hold exactly the missing ids")

    def stored_ids():
        rows = open_catalog(settings).load_table("bronze.trades").scan(selected_fields=("symbol", "trade_id"))
        found = defaultdict(list)
        for row in rows.to_arrow().to_pylist():
            found[row["symbol"]].append(int(row["trade_id"]))
        return found

    complete = {symbol: sorted(set(range(min(ids), max(ids) + 1))) for symbol, ids in sent.items()}
    wait_until(lambda: {s: sorted(i) for s, i in stored_ids().items()} == complete, 60, "repaired trades in bronze")
    repaired = [
        r for r in open_catalog(settings).load_table("bronze.gaps").scan().to_arrow().to_pylist() if r["repaired"]
    ]
    assert sum(r["missing"] for r in repaired) == sum(len(m) for m in expected.values())
