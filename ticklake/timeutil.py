"""Time helpers. ticklake stores every timestamp as integer nanoseconds since the Unix epoch, UTC."""

from __future__ import annotations

import datetime as dt
import time

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND


def now_ns() -> int:
    """The wall-clock time in epoch nanoseconds."""
    return time.time_ns()


def ns_to_date(ts_ns: int) -> dt.date:
    """The UTC calendar day of an epoch-nanosecond timestamp."""
    return dt.date(1970, 1, 1) + dt.timedelta(days=ts_ns // NS_PER_DAY)


def date_to_ns(day: dt.date) -> int:
    """Epoch nanoseconds of midnight UTC at the start of ``day``."""
    return (day - dt.date(1970, 1, 1)).days * NS_PER_DAY


def datetime_to_ns(value: dt.datetime) -> int:
    """Epoch nanoseconds of an aware datetime (microsecond precision).

    Raises:
        ValueError: The datetime is naive.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: a timezone is required")
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000


def ns_to_datetime(ts_ns: int) -> dt.datetime:
    """An aware UTC datetime of an epoch-nanosecond timestamp (truncated to microseconds)."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ts_ns // 1_000)


def ns_to_iso(ts_ns: int) -> str:
    """ISO-8601 text with nanoseconds and a ``Z`` suffix, e.g. ``2026-11-21T10:00:00.000000001Z``."""
    seconds, nanos = divmod(ts_ns, NS_PER_SECOND)
    base = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"
