"""The pure book synchronisation: buffering before the snapshot, stale diffs, the first-diff rule, gaps, resyncs."""

from __future__ import annotations

from decimal import Decimal

from contracts.records import BookUpdate, Level
from streaming.book import OrderBook
from streaming.book_sync import BookGap, BookSync

INSTRUMENT = "BTC-USDT"


def level(price: str, size: str) -> Level:
    return Level(Decimal(price), Decimal(size))


def diff(first: int, last: int, bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()) -> BookUpdate:
    return BookUpdate(
        venue="binance",
        instrument=INSTRUMENT,
        symbol="BTCUSDT",
        kind="delta",
        bids=bids,
        asks=asks,
        ts_event=first,
        ts_recv=first,
        first_sequence=first,
        sequence=last,
    )


def snapshot(last_update_id: int, bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()) -> BookUpdate:
    return BookUpdate(
        venue="binance",
        instrument=INSTRUMENT,
        symbol="BTCUSDT",
        kind="snapshot",
        bids=bids,
        asks=asks,
        ts_event=1,
        ts_recv=1,
        sequence=last_update_id,
    )


def replay(updates: list[BookUpdate]) -> OrderBook:
    """What a consumer of the book topic rebuilds, in publish order."""
    book = OrderBook("binance", INSTRUMENT)
    for update in updates:
        book.apply(update)
    return book


def test_diffs_are_buffered_until_the_snapshot_then_stale_ones_dropped_and_the_first_diff_bridges() -> None:
    sync = BookSync("binance")
    published: list[BookUpdate] = []
    first = sync.update(diff(100, 105, bids=(level("10", "1"),)))
    assert first.snapshot_wanted and not first.publish  # held back, one snapshot asked for
    second = sync.update(diff(106, 110, bids=(level("10", "2"),), asks=(level("12", "3"),)))
    assert not second.snapshot_wanted and not second.publish  # the fetch is already wanted
    third = sync.update(diff(111, 111, asks=(level("12", "0"), level("13", "4"))))
    assert not third.publish
    # lastUpdateId 107: 100..105 is stale, 106..110 bridges it (106 <= 108 <= 110), 111 continues.
    done = sync.snapshot(snapshot(107, bids=(level("10", "1"), level("9", "5")), asks=(level("12", "1"),)))
    assert done.publish[0].kind == "snapshot" and [u.sequence for u in done.publish[1:]] == [105, 110, 111]
    assert done.gap is None and not done.snapshot_wanted and not done.resynced
    published += done.publish
    book = sync.book(INSTRUMENT)
    assert book.synced and book.sequence == 111
    assert book.best_bids() == [level("10", "2"), level("9", "5")]
    assert book.best_asks() == [level("13", "4")]
    following = sync.update(diff(112, 112, bids=(level("9", "0"),)))
    assert following.publish == (diff(112, 112, bids=(level("9", "0"),)),)
    published += following.publish
    rebuilt = replay(published)
    assert (rebuilt.bids, rebuilt.asks, rebuilt.sequence) == (book.bids, book.asks, book.sequence)


def test_a_snapshot_older_than_the_buffer_is_fetched_again() -> None:
    sync = BookSync("binance")
    sync.update(diff(100, 105))
    again = sync.snapshot(snapshot(90))  # 91..99 would be missing: Binance's step 4, fetch again
    assert again.snapshot_wanted and not again.publish and again.gap is None
    assert not sync.book(INSTRUMENT).synced
    done = sync.snapshot(snapshot(99))  # 99 + 1 == U: the diff continues it exactly
    assert [u.kind for u in done.publish] == ["snapshot", "delta"] and sync.book(INSTRUMENT).sequence == 105


def test_a_gap_is_reported_with_the_missing_ids_and_resynced_from_a_new_snapshot() -> None:
    sync = BookSync("binance")
    sync.update(diff(10, 12))
    published = list(sync.snapshot(snapshot(11, bids=(level("5", "1"),))).publish)
    published += sync.update(diff(13, 15, bids=(level("5", "2"),))).publish
    broken = sync.update(diff(19, 20, bids=(level("6", "1"),)))
    assert broken.gap == BookGap(INSTRUMENT, "BTCUSDT", 16, 18)
    assert broken.gap.stream == "book:BTCUSDT" and broken.gap.missing == 3
    assert broken.snapshot_wanted and not broken.publish  # the diff waits for the snapshot
    held = sync.update(diff(21, 21, asks=(level("7", "1"),)))
    assert not held.publish and not held.snapshot_wanted and held.gap is None
    resync = sync.snapshot(snapshot(20, bids=(level("5", "2"), level("6", "1"))))
    assert resync.resynced and resync.gap is None
    assert [(u.kind, u.sequence) for u in resync.publish] == [("snapshot", 20), ("delta", 20), ("delta", 21)]
    published += resync.publish
    book = sync.book(INSTRUMENT)
    assert book.synced and book.sequence == 21 and book.best_asks() == [level("7", "1")]
    rebuilt = replay(published)
    assert (rebuilt.bids, rebuilt.asks, rebuilt.sequence) == (book.bids, book.asks, book.sequence)


def test_a_hole_inside_the_buffer_after_the_snapshot_is_a_gap_too() -> None:
    sync = BookSync("binance")
    sync.update(diff(10, 12))
    sync.update(diff(16, 17))  # 13..15 never arrived
    outcome = sync.snapshot(snapshot(11))
    assert [u.sequence for u in outcome.publish] == [11, 12]
    assert outcome.gap == BookGap(INSTRUMENT, "BTCUSDT", 13, 15) and outcome.snapshot_wanted
    final = sync.snapshot(snapshot(16))
    assert [u.sequence for u in final.publish] == [16, 17] and final.resynced and sync.book(INSTRUMENT).synced


def test_a_failed_snapshot_is_asked_for_again_with_the_next_diff() -> None:
    sync = BookSync("binance")
    assert sync.update(diff(1, 1)).snapshot_wanted
    assert sync.snapshot_failed(INSTRUMENT).publish == ()
    retry = sync.update(diff(2, 2))
    assert retry.snapshot_wanted and not retry.publish
    assert [u.sequence for u in sync.snapshot(snapshot(1)).publish] == [1, 1, 2]


def test_the_hold_back_is_bounded_and_books_are_per_instrument() -> None:
    sync = BookSync("binance", max_buffer=2)
    sync.update(diff(1, 1))
    sync.update(diff(2, 2))
    released = sync.update(diff(3, 3))
    assert [u.sequence for u in released.publish] == [1]  # the oldest goes out unapplied
    other = BookUpdate(
        venue="binance", instrument="ETH-USDT", symbol="ETHUSDT", kind="delta", bids=(), asks=(), ts_event=1,
        ts_recv=1, first_sequence=5, sequence=5,
    )  # fmt: skip
    assert sync.update(other).snapshot_wanted
    assert set(sync.instruments) == {INSTRUMENT, "ETH-USDT"}
