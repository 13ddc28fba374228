from streaming.gaps import Observation, SequenceTracker


def test_baseline_then_contiguous_numbers():
    tracker = SequenceTracker()
    assert tracker.observe(("conn", 1), 41) == Observation("first")
    assert [tracker.observe(("conn", 1), n).outcome for n in (42, 43, 44)] == ["next"] * 3
    assert (tracker.gaps, tracker.missing, tracker.duplicates) == (0, 0, 0)


def test_a_skip_is_a_gap_with_the_missing_range():
    tracker = SequenceTracker()
    tracker.observe("BTC-USD", 10)
    gap = tracker.observe("BTC-USD", 14)
    assert gap == Observation("gap", 11, 13) and gap.missing == 3
    assert tracker.observe("BTC-USD", 15).outcome == "next"
    assert (tracker.gaps, tracker.missing) == (1, 3)


def test_repeats_and_late_numbers_are_duplicates_and_do_not_move_the_stream_back():
    tracker = SequenceTracker()
    tracker.observe("k", 5)
    tracker.observe("k", 6)
    assert tracker.observe("k", 6).outcome == "duplicate"
    assert tracker.observe("k", 3).outcome == "duplicate"
    assert tracker.observe("k", 7).outcome == "next"
    assert tracker.duplicates == 2


def test_keys_are_independent_and_reset_starts_a_new_baseline():
    tracker = SequenceTracker()
    tracker.observe("a", 1)
    tracker.observe("b", 100)
    assert tracker.observe("a", 2).outcome == "next"
    tracker.reset("a")
    assert tracker.observe("a", 0).outcome == "first"
    assert tracker.observe("b", 101).outcome == "next"
    tracker.reset()
    assert tracker.observe("b", 5).outcome == "first"


def test_a_horizon_reveals_what_was_not_seen_up_to_it() -> None:
    tracker = SequenceTracker()
    assert tracker.reveal("s", 9).outcome == "next"  # no baseline: nothing known missing, nothing recorded
    assert tracker.observe("s", 5).outcome == "first"
    assert tracker.reveal("s", 5).outcome == "next"  # nothing beyond the last seen
    revealed = tracker.reveal("s", 8)
    assert (revealed.outcome, revealed.missing_from, revealed.missing_to, revealed.missing) == ("gap", 6, 8, 3)
    assert tracker.observe("s", 7).outcome == "duplicate"  # a late arrival of a revealed one: the repair has it
    after = tracker.observe("s", 10)
    assert (after.outcome, after.missing_from, after.missing_to) == ("gap", 9, 9)  # lost right after: still seen
    assert (tracker.gaps, tracker.missing) == (2, 4)
