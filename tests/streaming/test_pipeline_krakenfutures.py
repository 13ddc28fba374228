"""End to end on Kraken Futures: simulator, collector and sink processes. Trades the wire lost are seen as ``seq``
gaps (bronze.gaps, exactly the missing numbers), repaired from the REST execution history, and bronze.trades
ends up with every trade of the tape exactly once; the raw frames are in bronze.raw_messages."""

import json
from collections import Counter, defaultdict

from testkit import free_port, wait_for_tape, wait_until

from streaming.simulator import krakenfutures_wire as wire
from streaming.simulator.market import Market
from streaming.venues import krakenfutures
from ticklake.lake import open_catalog
from ticklake.settings import get_settings

VENUE = "krakenfutures"
TOTAL = 2000


def rows(settings, table, fields):
    catalog = open_catalog(settings)
    if not catalog.table_exists(table):
        return []
    scan = catalog.load_table(table).scan(selected_fields=("venue", *fields))
    return [row for row in scan.to_arrow().to_pylist() if row["venue"] == VENUE]


def test_lost_trades_are_gaps_repaired_from_the_history_and_land_once(broker, processes, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.jsonl"
    for key, value in {
        "TICKLAKE_VENUES": json.dumps([VENUE]),
        "TICKLAKE_SIM_PORT": str(free_port()),
        "TICKLAKE_SIM_RATE": "300",
        "TICKLAKE_SIM_MAX_TRADES": str(TOTAL),
        "TICKLAKE_SIM_SKIP_EVERY": "37",
        "TICKLAKE_SIM_DUPLICATE_EVERY": "50",
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth_file),
        "TICKLAKE_SINK_BATCH_SECONDS": "0.3",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", VENUE)

    truth = wait_for_tape(truth_file, TOTAL, 60)
    by_symbol = defaultdict(list)
    for line in truth:
        by_symbol[line["symbol"]].append(line)
    # The tape is the seeded market's: the k-th trade of a product has the seeded trade's uid and seq.
    market = Market(settings.sim_seed, settings.instruments_of(VENUE))
    seq_of = {}
    for symbol, lines in by_symbol.items():
        instrument = krakenfutures.to_instrument(symbol)
        for line in lines:
            trade = market.next_trade(instrument, 0)
            assert line["trade_id"] == wire.uid_of(trade) and line["instrument"] == instrument
            seq_of[line["trade_id"]] = trade.trade_id
    # A lost trade is revealed by a later delivered trade of its product (a seq gap); the lost tail is not.
    expected, revealed = set(), defaultdict(set)
    for symbol, lines in by_symbol.items():
        sent_at = [i for i, line in enumerate(lines) if line["sent"]]
        for line in lines[sent_at[0] : sent_at[-1] + 1]:
            expected.add((symbol, line["trade_id"]))
            if not line["sent"]:
                revealed[f"trade:{symbol}"].add(seq_of[line["trade_id"]])
    assert set(by_symbol) == {"PF_XBTUSD", "PF_ETHUSD"}
    assert sum(len(seqs) for seqs in revealed.values()) >= TOTAL // 37 - 4

    def stored():
        trades = rows(settings, "bronze.trades", ("symbol", "trade_id"))
        return Counter((row["symbol"], row["trade_id"]) for row in trades)

    wait_until(lambda: set(stored()) == expected, 60, "every trade of the tape in bronze.trades, repairs included")
    assert set(stored().values()) == {1}  # exactly once: duplicated frames and repairs deduplicated

    def gap_rows():
        return rows(settings, "bronze.gaps", ("stream", "first_missing", "last_missing", "missing", "repaired"))

    def recorded():
        found = defaultdict(set)
        for row in gap_rows():
            found[row["stream"]] |= set(range(row["first_missing"], row["last_missing"] + 1))
        return found

    wait_until(lambda: recorded() == revealed, 30, "bronze.gaps to hold exactly the missing seqs")

    total = sum(len(seqs) for seqs in revealed.values())
    wait_until(lambda: sum(r["missing"] for r in gap_rows() if r["repaired"]) == total, 30, "every gap repaired")
    assert all(row["last_missing"] - row["first_missing"] + 1 == row["missing"] for row in gap_rows())

    sent = {(line["symbol"], line["trade_id"]) for line in truth if line["sent"]}

    def raw_trades():
        found = set()
        for row in rows(settings, "bronze.raw_messages", ("channel", "payload")):
            if row["channel"].startswith("trade:"):
                found |= {(t.symbol, t.trade_id) for t in krakenfutures.parse(row["payload"], 0).records}
        return found

    wait_until(lambda: raw_trades() == sent, 30, "the raw trade frames in bronze.raw_messages")
    controls = [json.loads(row["payload"]) for row in rows(settings, "bronze.raw_messages", ("channel", "payload"))]
    assert {"event": "info", "version": 1} in controls
    assert {"event": "subscribed", "feed": "trade", "product_ids": ["PF_XBTUSD", "PF_ETHUSD"]} in controls
