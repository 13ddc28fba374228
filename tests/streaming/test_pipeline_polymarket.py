"""End to end on Polymarket: trades the market channel never delivered -- skipped frames, a silence ended by
itself, frames lost to disconnects -- reach bronze by the feed's catch-up after reconnects: every trade on the
simulator's tape lands in bronze.trades exactly once, with the stream's trade ids."""

import json
from collections import Counter
from decimal import Decimal

from testkit import free_port, wait_for_tape, wait_until

from ticklake.lake import open_catalog
from ticklake.settings import get_settings

TOTAL = 2000
SECOND = 1_000_000_000


def bronze_rows(settings, table, columns):
    catalog = open_catalog(settings)
    if not catalog.table_exists(table):
        return []
    return catalog.load_table(table).scan(selected_fields=columns).to_arrow().to_pylist()


def identities(rows):
    return Counter((r["venue"], r["symbol"], r["trade_id"]) for r in rows)


def test_trades_lost_on_the_wire_are_caught_up_after_reconnects(broker, processes, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.jsonl"
    for key, value in {
        "TICKLAKE_VENUES": '["polymarket"]',
        "TICKLAKE_SIM_PORT": str(free_port()),
        "TICKLAKE_SIM_RATE": "150",  # per instrument: 300 trades/s
        "TICKLAKE_SIM_MAX_TRADES": str(TOTAL),
        "TICKLAKE_SIM_SKIP_EVERY": "41",  # never sent, and no sequence tells
        "TICKLAKE_SIM_DROP_EVERY": "2",  # the disconnects scenario
        "TICKLAKE_SIM_SILENCE_AFTER": "4",  # the silence scenario: the venue stops sending...
        "TICKLAKE_SIM_SILENCE_SECONDS": "1.5",  # ...and resumes by itself
        "TICKLAKE_WS_STALE_SECONDS": "0.7",
        "TICKLAKE_WS_BACKOFF_MAX": "1",
        "TICKLAKE_SIM_GROUND_TRUTH": str(truth_file),
        "TICKLAKE_SINK_BATCH_SECONDS": "0.3",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    processes.start("sink", "sink")
    processes.start("collector", "capture", "--venue", "polymarket")  # retries until the simulator listens
    processes.start("sim", "sim")

    tape = wait_for_tape(truth_file, TOTAL, 60)
    lost = [t for t in tape if not t["sent"]]
    assert len(lost) >= TOTAL // 41  # skipped, plus whatever the silence swallowed
    expected = {(t["venue"], t["symbol"], t["trade_id"]) for t in tape}
    assert len(expected) == TOTAL

    columns = ("venue", "symbol", "instrument", "trade_id", "price", "size", "side", "ts_event")
    wait_until(
        lambda: set(identities(bronze_rows(settings, "bronze.trades", columns))) >= expected,
        60,
        "every trade of the tape in bronze.trades, the lost ones too",
    )
    rows = bronze_rows(settings, "bronze.trades", columns)
    stored = identities(rows)
    assert set(stored) == expected, "a trade that is not on the tape"
    assert max(stored.values()) == 1, "a trade was written twice"
    by_id = {(r["symbol"], r["trade_id"]): r for r in rows}
    for t in tape:
        row = by_id[(t["symbol"], t["trade_id"])]
        assert (row["instrument"], row["price"], row["size"], row["side"]) == (
            t["instrument"],
            Decimal(t["price"]),
            Decimal(t["size"]),
            t["side"],
        )
        # live: the stream's millisecond time; caught up: the Data API's whole second
        assert row["ts_event"] in (t["ts_event"], t["ts_event"] // SECOND * SECOND), t
    for t in lost:  # these can only have come from the Data API
        assert by_id[(t["symbol"], t["trade_id"])]["ts_event"] == t["ts_event"] // SECOND * SECOND

    # every frame is kept raw, across the many connections; no sequence means no gap records
    wait_until(lambda: bronze_rows(settings, "bronze.raw_messages", ("venue",)), 30, "raw frames in bronze")
    raw = bronze_rows(settings, "bronze.raw_messages", ("venue", "connection_id", "seq", "payload"))
    assert {r["venue"] for r in raw} == {"polymarket"}
    assert len({(r["connection_id"], r["seq"]) for r in raw}) == len(raw)
    assert len({r["connection_id"] for r in raw}) >= 3  # reconnects: drops and stale silences
    first_frames = [json.loads(r["payload"]) for r in raw if r["seq"] == 0]
    assert all(frame[0]["event_type"] == "book" for frame in first_frames)  # every connection opens with the books
    live = sum(r["payload"].startswith(b'{"event_type":"last_trade_price"') for r in raw)
    assert TOTAL // 2 <= live <= TOTAL - len(lost)  # most trades came live; some died with closing connections
    gaps = bronze_rows(settings, "bronze.gaps", ("venue",))
    assert not [g for g in gaps if g["venue"] == "polymarket"]
