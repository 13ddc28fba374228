"""Time helpers: epoch nanoseconds (UTC) to and from dates, datetimes and ISO text."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from ticklake.timeutil import (
    NS_PER_DAY,
    NS_PER_SECOND,
    date_to_ns,
    datetime_to_ns,
    now_ns,
    ns_to_date,
    ns_to_datetime,
    ns_to_iso,
)

UTC = dt.UTC
# 2026-11-21T10:00:00Z
TEN_AM = 1_795_255_200 * NS_PER_SECOND


def test_constants() -> None:
    assert NS_PER_SECOND == 10**9
    assert NS_PER_DAY == 86_400 * 10**9


def test_now_ns_is_wall_clock_nanoseconds() -> None:
    before = time.time_ns()
    value = now_ns()
    after = time.time_ns()
    assert isinstance(value, int)
    assert before <= value <= after


def test_epoch_and_known_instants() -> None:
    assert ns_to_date(0) == dt.date(1970, 1, 1)
    assert ns_to_datetime(0) == dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert ns_to_iso(0) == "1970-01-01T00:00:00.000000000Z"
    assert ns_to_datetime(TEN_AM) == dt.datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert ns_to_iso(TEN_AM + 1) == "2026-11-21T10:00:00.000000001Z"
    assert ns_to_iso(TEN_AM + 123_456_789) == "2026-11-21T10:00:00.123456789Z"
    assert ns_to_date(TEN_AM) == dt.date(2026, 11, 21)


@pytest.mark.parametrize(
    "day",
    [dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2099, 3, 1)],
)
def test_day_boundaries(day: dt.date) -> None:
    start = date_to_ns(day)
    assert start == datetime_to_ns(dt.datetime(day.year, day.month, day.day, tzinfo=UTC))
    assert start % NS_PER_DAY == 0
    assert ns_to_date(start) == day
    assert ns_to_date(start + NS_PER_DAY - 1) == day  # last nanosecond of the day
    assert ns_to_date(start + NS_PER_DAY) == day + dt.timedelta(days=1)
    if start > 0:
        assert ns_to_date(start - 1) == day - dt.timedelta(days=1)
    assert ns_to_iso(start) == f"{day.isoformat()}T00:00:00.000000000Z"
    assert ns_to_iso(start + NS_PER_DAY - 1) == f"{day.isoformat()}T23:59:59.999999999Z"


def test_date_to_ns_known_value() -> None:
    assert date_to_ns(dt.date(2026, 11, 21)) == TEN_AM - 10 * 3600 * NS_PER_SECOND
    assert date_to_ns(dt.date(1970, 1, 2)) == NS_PER_DAY


def test_datetime_to_ns_keeps_microseconds_and_honours_offsets() -> None:
    aware = dt.datetime(2026, 11, 21, 10, 0, 0, 123_456, tzinfo=UTC)
    assert datetime_to_ns(aware) == TEN_AM + 123_456_000
    plus_two = dt.datetime(2026, 11, 21, 12, 0, 0, 123_456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert datetime_to_ns(plus_two) == datetime_to_ns(aware)
    minus_five = dt.datetime(2026, 11, 21, 4, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30)))
    assert datetime_to_ns(minus_five) == TEN_AM


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        datetime_to_ns(dt.datetime(2026, 11, 21, 10))

    class NoOffset(dt.tzinfo):
        def utcoffset(self, _value: dt.datetime | None) -> dt.timedelta | None:
            return None

    with pytest.raises(ValueError, match="naive"):
        datetime_to_ns(dt.datetime(2026, 11, 21, 10, tzinfo=NoOffset()))


def test_datetime_round_trip_truncates_below_microseconds() -> None:
    value = TEN_AM + 123_456_789
    back = ns_to_datetime(value)
    assert back.tzinfo is not None and back.utcoffset() == dt.timedelta(0)
    assert back == dt.datetime(2026, 11, 21, 10, 0, 0, 123_456, tzinfo=UTC)
    assert datetime_to_ns(back) == value - 789
    for ts in (0, 1, 999, 1_000, TEN_AM, TEN_AM + NS_PER_DAY - 1, 4_102_444_800 * NS_PER_SECOND):
        assert datetime_to_ns(ns_to_datetime(ts)) == ts - ts % 1_000


def test_iso_text_is_consistent_with_the_datetime() -> None:
    for ts in (1, TEN_AM + 5, TEN_AM + NS_PER_SECOND - 1, 1_546_417_273_198_000_000):
        text = ns_to_iso(ts)
        assert text.endswith("Z") and len(text) == len("2026-11-21T10:00:00.000000000Z")
        parsed = dt.datetime.fromisoformat(text[:26] + "+00:00")  # microseconds part
        assert parsed == ns_to_datetime(ts)
        assert int(text[20:29]) == ts % NS_PER_SECOND


def test_before_the_epoch_floors_consistently() -> None:
    assert ns_to_date(-1) == dt.date(1969, 12, 31)
    assert ns_to_iso(-1) == "1969-12-31T23:59:59.999999999Z"
    assert ns_to_datetime(-1) == dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert date_to_ns(dt.date(1969, 12, 31)) == -NS_PER_DAY
