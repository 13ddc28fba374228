"""End to end on Kraken spot (WebSocket v2): simulator, collector (`capture --venue kraken`) and sink as real
processes. Trades the wire lost are revealed by the next trade id of their pair, recorded in bronze.gaps and
repaired from ``/0/public/Trades``: bronze.trades ends up with every trade of the tape exactly once, and
bronze.raw_messages with every frame."""

from collections import Counter, defaultdict
from decimal import Decimal

from testkit import free_port, wait_for_tape, wait_until

from contracts.records import Trade
from streaming.venues import kraken
from ticklake.lake import open_catalog
from ticklake.settings import get_settings

TOTAL = 2000


def test_kraken_gaps_are_recorded_and_repaired_end_to_end(broker, processes, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.jsonl"
    for name, value in {
        "TICKLAKE_VENUES": '["kraken"]',
        "TICKLAKE_SIM_PORT": str(free_port()),
        "TICKLAKE_SIM_RATE": "250",
        "TICKLAKE_SIM_MAX_TRADES": str(TOTAL),
        "TICKLAKE_SIM_SKIP_EVERY": "37",
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth_file),
        "TICKLAKE_SINK_BATCH_SECONDS": "0.3",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    processes.start("sim", "sim")
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "kraken")

    def rows(table, fields):
        catalog = open_catalog(settings)
        if not catalog.table_exists(table):
            return []
        return catalog.load_table(table).scan(selected_fields=fields).to_arrow().to_pylist()

    truth = wait_for_tape(truth_file, TOTAL, 60)
    assert {t["venue"] for t in truth} == {"kraken"} and {t["symbol"] for t in truth} == {"BTC/USD", "ETH/USD"}
    sent = defaultdict(set)
    for t in truth:
        if t["sent"]:
            sent[t["symbol"]].add(int(t["trade_id"]))
    # A lost trade is known once a later trade of its pair arrives: every one between a pair's first and last
    # delivered trade. Lost trades after the last delivered one (the tail) cannot be known by anyone.
    expected = {
        (t["symbol"], t["trade_id"]): t
        for t in truth
        if t["sent"] or min(sent[t["symbol"]]) < int(t["trade_id"]) < max(sent[t["symbol"]])
    }
    unknowable = [t for t in truth if (t["symbol"], t["trade_id"]) not in expected]
    assert all(not t["sent"] and int(t["trade_id"]) > max(sent[t["symbol"]]) for t in unknowable)
    assert len(unknowable) <= 2  # at most one lost trade at the tail of each pair (one trade in 37 is lost)
    missing = {key for key, t in expected.items() if not t["sent"]}
    assert len(missing) >= 40  # the wire lost trades that the collector must repair
    for symbol in sent:  # a pair's trade ids are consecutive on the tape
        on_tape = sorted(int(t["trade_id"]) for t in truth if t["symbol"] == symbol)
        assert on_tape == list(range(on_tape[0], on_tape[-1] + 1))

    trade_fields = ("venue", "instrument", "symbol", "trade_id", "price", "size", "side", "ts_event")
    wait_until(lambda: len(rows("bronze.trades", ("venue",))) >= len(expected), 60, "every trade in bronze.trades")
    stored = rows("bronze.trades", trade_fields)
    identities = Counter((r["venue"], r["symbol"], r["trade_id"]) for r in stored)
    assert max(identities.values()) == 1, "a trade was written twice"
    assert set(identities) == {("kraken", symbol, trade_id) for symbol, trade_id in expected}
    for row in stored:
        t = expected[(row["symbol"], row["trade_id"])]
        assert (row["instrument"], row["side"], row["ts_event"]) == (t["instrument"], t["side"], t["ts_event"])
        assert row["price"] == Decimal(t["price"]) and row["size"] == Decimal(t["size"])

    # bronze.gaps: exactly the ids the wire lost, each gap repaired in full
    lost = defaultdict(set)
    for symbol, trade_id in missing:
        lost[symbol].add(int(trade_id))

    def recorded():
        found = defaultdict(set)
        for row in rows("bronze.gaps", ("venue", "stream", "first_missing", "last_missing", "repaired")):
            assert row["venue"] == "kraken" and row["stream"].startswith("trades:")
            found[row["stream"].removeprefix("trades:")] |= set(range(row["first_missing"], row["last_missing"] + 1))
        return found

    wait_until(lambda: recorded() == lost, 30, "bronze.gaps to hold exactly the lost ids")

    def repaired():
        gaps = rows("bronze.gaps", ("missing", "repaired"))
        return sum(g["missing"] for g in gaps if g["repaired"])

    wait_until(lambda: repaired() == len(missing), 30, "every gap to be marked repaired")

    # bronze.raw_messages: the greeting, the acks, and every delivered trade in a raw trade frame
    def raw_trades():
        found = set()
        channels = Counter()
        for row in rows("bronze.raw_messages", ("venue", "channel", "payload")):
            assert row["venue"] == "kraken"
            channels[row["channel"]] += 1
            for record in kraken.parse(row["payload"], 0).records:
                if isinstance(record, Trade):
                    found.add((record.symbol, record.trade_id))
        return found, channels

    sent_keys = {key for key, t in expected.items() if t["sent"]}
    wait_until(lambda: raw_trades()[0] >= sent_keys, 30, "every delivered trade in bronze.raw_messages")
    found, channels = raw_trades()
    assert found <= set(expected)
    assert channels["status"] >= 1 and channels["trade"] >= len(sent_keys) + 2  # + the acks
