"""The pure book synchronisation: buffering before the snapshot, stale diffs, the first-diff rule, gaps, resyncs."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

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


def unsequenced(
    kind: Literal["snapshot", "delta"],
    bids: tuple[Level, ...] = (),
    asks: tuple[Level, ...] = (),
    checksum: int | None = None,
) -> BookUpdate:
    """An update of a venue without sequence numbers (Kraken v2, Polymarket): a checksum at most."""
    return BookUpdate(
        venue="binance",
        instrument=INSTRUMENT,
        symbol="BTCUSDT",
        kind=kind,
        bids=bids,
        asks=asks,
        ts_event=1,
        ts_recv=1,
        checksum=checksum,
    )


def best_bid_size(bids: Sequence[Level], asks: Sequence[Level]) -> int:
    """A toy checksum: the best bid's size as an integer."""
    return int(bids[0].size) if bids else 0


def test_a_wire_snapshot_comes_after_the_held_diffs_which_are_published_before_it_and_not_applied() -> None:
    sync = BookSync("binance")
    first = sync.update(unsequenced("delta", bids=(level("9", "1"),)))
    assert first.snapshot_wanted and not first.publish  # no book yet: held back, a resubscribe asked for
    arrived = sync.update(unsequenced("snapshot", bids=(level("10", "4"),)))
    assert [u.kind for u in arrived.publish] == ["delta", "snapshot"]
    assert sync.book(INSTRUMENT).best_bids() == [level("10", "4")]  # the older diff did not touch the snapshot
    rebuilt = replay(list(arrived.publish))
    assert rebuilt.best_bids() == [level("10", "4")]


def test_a_checksum_mismatch_is_a_gap_without_known_ids_and_asks_for_a_new_snapshot() -> None:
    sync = BookSync("binance", checksum=best_bid_size)
    sync.update(unsequenced("snapshot", bids=(level("10", "4"),), checksum=4))
    fine = sync.update(unsequenced("delta", bids=(level("10", "5"),), checksum=5))
    assert fine.publish and fine.gap is None and not fine.snapshot_wanted
    wrong = sync.update(unsequenced("delta", bids=(level("10", "6"),), checksum=7))
    assert wrong.gap == BookGap(INSTRUMENT, "BTCUSDT", 0, 0, "checksum") and wrong.gap.missing == 0
    assert wrong.snapshot_wanted and [u.checksum for u in wrong.publish] == [7]  # published unchanged
    resync = sync.update(unsequenced("snapshot", bids=(level("10", "6"),), checksum=6))
    assert resync.resynced and sync.book(INSTRUMENT).synced


def test_lost_frames_of_a_shared_sequence_desync_the_book_whatever_its_state() -> None:
    sync = BookSync("binance")
    never_seen = sync.desync("ETH-USDT", 5, 6)
    assert never_seen.gap is None and never_seen.snapshot_wanted  # no book yet: nothing to report, still ask
    sync.update(unsequenced("snapshot", bids=(level("10", "4"),)))
    lost = sync.desync(INSTRUMENT, 41, 43)
    assert lost.gap == BookGap(INSTRUMENT, "BTCUSDT", 41, 43, "frames") and lost.gap.missing == 3
    assert lost.snapshot_wanted and not sync.book(INSTRUMENT).synced
    again = sync.desync(INSTRUMENT, 50, 50)  # the snapshot asked for may itself have been lost: ask again
    assert again.gap is None and again.snapshot_wanted
    held = sync.update(unsequenced("delta", bids=(level("11", "1"),)))
    assert not held.publish  # held back until the snapshot
    back = sync.update(unsequenced("snapshot", bids=(level("12", "1"),)))
    assert back.resynced and [u.kind for u in back.publish] == ["delta", "snapshot"]
