"""The order-book reducer: snapshots, deltas, increments, sequences, checksums, crossed books."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from contracts.records import BookUpdate, Level
from streaming.book import OrderBook
from streaming.venues import kalshi, kraken

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
D = Decimal


def frame(venue: str, name: str) -> bytes:
    for line in (FIXTURES / venue / "frames.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["name"] == name:
            return record["raw"].encode()
    raise KeyError(name)


def book(kind, bids=(), asks=(), **sequence):
    return BookUpdate(
        "binance",
        "BTC-USDT",
        "BTCUSDT",
        kind,
        tuple(Level(D(p), D(s)) for p, s in bids),
        tuple(Level(D(p), D(s)) for p, s in asks),
        1,
        2,
        **sequence,
    )


def test_snapshot_then_deltas_set_absolute_sizes_and_zero_removes():
    ob = OrderBook("binance", "BTC-USDT")
    assert ob.apply(book("snapshot", [("100", "1"), ("99", "2")], [("101", "1")], sequence=10)).status == "ok"
    assert (
        ob.apply(book("delta", [("100", "3"), ("99", "0")], [("102", "5")], first_sequence=11, sequence=12)).status
        == "ok"
    )
    assert ob.best_bids() == [Level(D(100), D(3))]
    assert ob.best_asks() == [Level(D(101), D(1)), Level(D(102), D(5))]
    assert ob.sequence == 12


def test_binance_rule_for_the_first_diff_after_a_snapshot():
    ob = OrderBook("binance", "BTC-USDT")
    ob.apply(book("snapshot", [("100", "1")], [("101", "1")], sequence=100))
    # an event entirely before the snapshot is stale; one straddling lastUpdateId + 1 applies
    assert ob.apply(book("delta", [("100", "9")], first_sequence=90, sequence=100)).status == "stale"
    assert ob.best_bids() == [Level(D(100), D(1))]
    assert ob.apply(book("delta", [("100", "2")], first_sequence=95, sequence=105)).status == "ok"
    result = ob.apply(book("delta", [("100", "4")], first_sequence=107, sequence=110))
    assert (result.status, result.expected, result.received) == ("gap", 106, 107)
    assert result.needs_snapshot and not ob.synced
    assert ob.apply(book("delta", [("100", "5")], first_sequence=111, sequence=112)).status == "unsynced"
    assert ob.apply(book("snapshot", [("100", "6")], [("101", "1")], sequence=200)).status == "ok"
    assert ob.synced and ob.best_bids() == [Level(D(100), D(6))]


def test_prev_sequence_chains_updates():
    ob = OrderBook("binance", "BTC-USDT")
    ob.apply(book("snapshot", [("100", "1")], [("101", "1")], sequence=5))
    assert ob.apply(book("delta", [("100", "2")], sequence=6, prev_sequence=5)).status == "ok"
    assert ob.apply(book("delta", [("100", "3")], sequence=9, prev_sequence=8)).status == "gap"


def test_updates_before_any_snapshot_are_not_applied():
    ob = OrderBook("binance", "BTC-USDT")
    assert ob.apply(book("delta", [("100", "1")], sequence=1)).status == "unsynced"
    assert ob.best_bids() == []


def test_crossed_book_is_reported():
    ob = OrderBook("binance", "BTC-USDT")
    ob.apply(book("snapshot", [("100", "1")], [("101", "1")], sequence=1))
    result = ob.apply(book("delta", [("101.5", "1")], sequence=2))
    assert result.status == "crossed" and not result.needs_snapshot


def test_an_update_of_another_instrument_is_refused():
    with pytest.raises(ValueError, match="BTC-USDT update applied to the binance/ETH-USDT book"):
        OrderBook("binance", "ETH-USDT").apply(book("snapshot"))


def kraken_books(*names):
    updates = []
    for name in names:
        updates.extend(r for r in kraken.parse(frame("kraken", name), 1).records if isinstance(r, BookUpdate))
    return updates


def test_kraken_checksums_verify_on_a_captured_snapshot_and_update():
    updates = kraken_books("book_snapshot_capture_ethusd", "book_update_capture_ethusd")
    ob = OrderBook("kraken", updates[0].instrument, depth=10, checksum=kraken.book_checksum)
    assert [ob.apply(u).status for u in updates] == ["ok", "ok"]


def test_kraken_checksum_mismatch_after_a_lost_update():
    snapshot, update = kraken_books("book_snapshot_capture_ethusd", "book_update_capture_ethusd")
    ob = OrderBook("kraken", snapshot.instrument, depth=10, checksum=kraken.book_checksum)
    ob.apply(snapshot)
    tampered = BookUpdate(**{**{f: getattr(update, f) for f in update.__dataclass_fields__}, "bids": ()})
    if update.bids:
        assert ob.apply(tampered).status == "checksum_mismatch"
    else:
        bumped = BookUpdate(**{**{f: getattr(update, f) for f in update.__dataclass_fields__}, "checksum": 1})
        assert ob.apply(bumped).status == "checksum_mismatch"
    assert not ob.synced


def kalshi_updates(*names):
    updates = []
    for name in names:
        updates.extend(r for r in kalshi.parse(frame("kalshi", name), 1).records if isinstance(r, BookUpdate))
    return updates


def test_kalshi_increments_add_to_sizes_and_negative_results_desync():
    ob = OrderBook("kalshi", "KALSHI:X")

    def kalshi_book(kind, bids, sequence):
        return BookUpdate(
            "kalshi", "KALSHI:X", "X", kind, tuple(Level(D(p), D(s)) for p, s in bids), (), 1, 2, sequence=sequence
        )

    ob.apply(kalshi_book("snapshot", [("0.40", "100"), ("0.39", "5")], 1))
    assert ob.apply(kalshi_book("increment", [("0.40", "-54")], 2)).status == "ok"
    assert ob.apply(kalshi_book("increment", [("0.39", "-5")], 3)).status == "ok"
    assert ob.best_bids() == [Level(D("0.40"), D(46))]
    result = ob.apply(kalshi_book("increment", [("0.40", "-47")], 4))
    assert result.status == "negative" and result.needs_snapshot


def test_kalshi_fixture_deltas_are_increments():
    (update,) = kalshi_updates("orderbook_delta_docs_cents_and_dollars")
    assert update.kind == "increment"
