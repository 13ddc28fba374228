"""Helpers for reading venue wire formats: exact decimals, times, error descriptions.

Pure functions shared by the venue parsers of :mod:`streaming.venues`; every refusal is a
:class:`~streaming.errors.ParseError` whose message names the field and shows (the start of) the value.
The venue modules document which of these conventions each venue uses.

* **Descriptions.** :func:`describe` names a value's JSON type and shows its start, for messages such as
  ``"'p' is a JSON number (1.5), not a decimal string"``. Decimals (numbers decoded with
  ``parse_float=Decimal``) count as JSON numbers and are shown as their text.
* **Decimals.** The store keeps ``decimal(38, 18)``: a non-zero value may have at most
  :data:`MAX_FRACTION_DIGITS` significant fractional digits (trailing zeros do not count) and at most
  :data:`MAX_INTEGER_DIGITS` integer digits (leading zeros do not count). :func:`decimal_text` reads a
  non-negative decimal string exactly (never through a float), with a fast path for plain text that fits;
  :func:`decimal_text_leading_point` also takes a bare leading point (``".48"``); :func:`check_fits` checks a
  :class:`~decimal.Decimal` that was read otherwise (e.g. from a JSON number token).
* **Times.** Every time becomes integer epoch **nanoseconds** in a signed 64-bit range: after the epoch and at
  most ``2**63 - 1`` (2262-04-11T23:47:16.854775807Z). :func:`epoch_ns` scales an integer count of seconds,
  milliseconds or microseconds; :func:`rfc3339_ns` reads RFC 3339 text and :func:`iso8601_ns` the wider
  ISO-8601 profile some venues write, both exactly (integer arithmetic, all 9 fractional digits kept; no leap
  seconds).
"""

from __future__ import annotations

import datetime
import functools
import re
from decimal import Decimal, InvalidOperation

from streaming.errors import ParseError

MAX_INT64 = 2**63 - 1
"""The largest signed 64-bit integer (a long): the bound of ids, sequences and counters."""

MAX_NS = MAX_INT64
"""The latest time, epoch nanoseconds: the largest signed 64-bit integer (2262-04-11T23:47:16.854775807Z)."""

MAX_FRACTION_DIGITS = 18
"""Significant fractional digits ``decimal(38, 18)`` keeps."""

MAX_INTEGER_DIGITS = 20
"""Integer digits ``decimal(38, 18)`` keeps."""

MALFORMED_ERRORS: tuple[type[Exception], ...] = (
    ValueError,  # includes json/orjson JSONDecodeError and UnicodeError
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,  # includes decimal.InvalidOperation and OverflowError
    RecursionError,  # absurdly nested JSON
)
"""What reading a malformed frame can raise; each parser turns these into its ``ParseError``."""

NS_PER_SECOND = 1_000_000_000
NS_PER_MILLISECOND = 1_000_000
NS_PER_MICROSECOND = 1_000

# A plain decimal that fits decimal(38, 18): <= 20 integer digits after leading zeros and <= 18 fractional
# digits before trailing zeros. Anything else takes the slower, explaining path.
_PLAIN_FITTING = re.compile(r"0*[0-9]{1,20}(?:\.[0-9]{0,18}0*)?")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]{1,9})?")
# The same, also with a bare leading point (".48").
_PLAIN_FITTING_POINT = re.compile(r"(?=\.?[0-9])0*[0-9]{0,20}(?:\.[0-9]{0,18}0*)?")
_NUMBER_POINT = re.compile(r"-?(?=\.?[0-9])[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]{1,9})?")

_WALL = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})")
_RFC3339_TAIL = re.compile(r"(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")
_ISO8601_TAIL = re.compile(r"(?:[.,]([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))")
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


# --- descriptions ------------------------------------------------------------------------------


def json_kind(value: object) -> str:
    """The JSON type name of a decoded value.

    Args:
        value: A value as a JSON decoder returns it (``Decimal`` included, for ``parse_float=Decimal``).

    Returns:
        ``"boolean"``, ``"number"`` (int, float, Decimal), ``"string"``, ``"array"``, ``"null"``, or
        ``"object"`` for anything else.
    """
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def describe(value: object) -> str:
    """A short description of a value for an error message.

    Args:
        value: Any decoded JSON value, or ``None`` for a missing field.

    Returns:
        ``"missing or null"`` for ``None``; otherwise ``"a JSON <kind> (<text>)"`` with the value's ``repr``
        (a Decimal's plain text) cut at 40 characters, e.g. ``"a JSON string ('abc')"``.
    """
    if value is None:
        return "missing or null"
    try:
        text = str(value) if type(value) is Decimal else repr(value)
    except (ValueError, RecursionError):  # an int beyond the digit limit, a deeply nested value
        text = "..."
    return f"a JSON {json_kind(value)} ({text[:40]}{'...' if len(text) > 40 else ''})"


# --- decimals ----------------------------------------------------------------------------------


def fraction_digits(value: Decimal) -> int:
    """The significant fractional digits of a finite decimal: its fractional digits without trailing zeros.

    Args:
        value: A finite Decimal.

    Returns:
        The count, 0 or less for whole numbers (``Decimal("1.500")`` -> 1, ``Decimal("1E+3")`` -> -3).
    """
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return -(exponent + trailing_zeros)


def check_fits(value: Decimal, label: str) -> None:
    """Refuse a finite decimal that ``decimal(38, 18)`` cannot hold exactly.

    Args:
        value: A finite Decimal (zero always fits).
        label: What the message calls the value, e.g. ``"'p'='1.5'"``.

    Raises:
        ParseError: More than :data:`MAX_FRACTION_DIGITS` significant fractional digits (checked first), or
            more than :data:`MAX_INTEGER_DIGITS` integer digits.
    """
    if not value:
        return
    fraction = fraction_digits(value)
    if fraction > MAX_FRACTION_DIGITS:
        raise ParseError(f"{label} has {fraction} fractional digits; the store keeps {MAX_FRACTION_DIGITS}")
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise ParseError(f"{label} has {value.adjusted() + 1} integer digits; the store keeps {MAX_INTEGER_DIGITS}")


def decimal_text(text: object, key: str) -> Decimal:
    """A non-negative decimal string as an exact Decimal that fits ``decimal(38, 18)``.

    Args:
        text: The field's value: digits with an optional fraction and exponent (``"0.00000123"``,
            ``"5.1E-05"``, ``"00012.5"``); ``"-0"`` counts as negative.
        key: The field name, for messages.

    Returns:
        ``Decimal(text)``: the wire's own digits and exponent.

    Raises:
        ParseError: Not a string, not a finite decimal (``NaN``, ``Infinity``, ``".5"``, ``"1e400"`` beyond
            the range), negative, or not within ``decimal(38, 18)`` (see :func:`check_fits`).
    """
    if type(text) is str and _PLAIN_FITTING.fullmatch(text) is not None:
        return Decimal(text)
    return _decimal_text_slow(text, key, _NUMBER)


def decimal_text_leading_point(text: object, key: str) -> Decimal:
    """As :func:`decimal_text`, also accepting a bare leading point: ``".48"`` is ``Decimal("0.48")``.

    Raises:
        ParseError: As for :func:`decimal_text` (``"."`` alone is refused).
    """
    if type(text) is str and _PLAIN_FITTING_POINT.fullmatch(text) is not None:
        return Decimal(text)
    return _decimal_text_slow(text, key, _NUMBER_POINT)


def _decimal_text_slow(text: object, key: str, number: re.Pattern[str]) -> Decimal:
    """Validate a decimal that is not plain text fitting decimal(38, 18), explaining any refusal."""
    if type(text) is not str:
        raise ParseError(f"{key!r} is {describe(text)}, not a decimal string")
    if number.fullmatch(text) is None:
        raise ParseError(f"{key!r} is not a finite decimal number: {text[:40]!r}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ParseError(f"{key!r} is not a decimal number: {text[:40]!r}") from None
    if value.is_signed():
        raise ParseError(f"{key!r} is negative: {text[:40]!r}")
    check_fits(value, f"{key!r}={text[:40]!r}")
    return value


# --- times -------------------------------------------------------------------------------------


def epoch_ns(value: object, key: str, unit_ns: int, unit: str) -> int:
    """An integer count of epoch units as epoch nanoseconds.

    Args:
        value: The field's value: a JSON integer (not a boolean).
        key: The field name, for messages.
        unit_ns: Nanoseconds per unit, e.g. :data:`NS_PER_MILLISECOND`.
        unit: The unit's name for messages, e.g. ``"milliseconds"``.

    Returns:
        ``value * unit_ns``.

    Raises:
        ParseError: Not an integer, or the time is not after the epoch and at most :data:`MAX_NS` (so a
            millisecond value in a seconds field is refused, never misread).
    """
    if type(value) is not int:
        raise ParseError(f"time {key!r} is {describe(value)}, not an integer of epoch {unit}")
    ns = value * unit_ns
    if not 0 < ns <= MAX_NS:
        raise ParseError(f"time {key!r}={value} is out of range for epoch {unit}")
    return ns


def rfc3339_ns(text: object, key: str | None = None) -> int:
    """An RFC 3339 time as integer epoch nanoseconds, exactly.

    Args:
        text: ``YYYY-MM-DDTHH:MM:SS``, an optional ``.`` and 1 to 9 fractional digits, then ``Z`` or
            ``±HH:MM``, e.g. ``"2023-09-25T07:49:37.708706Z"``; ``T`` and ``Z`` may be lower case, digits are
            ASCII.
        key: The field name, for messages; ``None`` for a bare time.

    Returns:
        Nanoseconds since 1970-01-01T00:00:00Z.

    Raises:
        ParseError: Not that form, not a real date or time of day (no leap second), or not after the epoch
            and at most :data:`MAX_NS`.
    """
    if type(text) is str and text[10:11] != " ":
        return _timestamp_ns(text, key, _RFC3339_TAIL, 1)
    if type(text) is not str:
        raise ParseError(f"{_subject(key)} is {describe(text)}, not an RFC 3339 string")
    raise ParseError(f"{_subject(key, text)} is not RFC 3339 like '2023-09-25T07:49:37.708706Z'")


def iso8601_ns(text: object, key: str | None = None) -> int:
    """An ISO-8601 UTC time as integer epoch nanoseconds, exactly: RFC 3339 and a few more spellings.

    Args:
        text: As for :func:`rfc3339_ns`, and also a space instead of ``T``, a ``,`` instead of ``.``, an
            offset ``±HHMM``, and the epoch itself, e.g. ``"2026-09-30 02:39:53,5+0200"`` or
            ``"1970-01-01T00:00:00Z"``.
        key: The field name, for messages; ``None`` for a bare time.

    Returns:
        Nanoseconds since 1970-01-01T00:00:00Z.

    Raises:
        ParseError: Not that form, not a real date or time of day (no leap second), or outside
            [1970-01-01, :data:`MAX_NS`].
    """
    if type(text) is not str:
        raise ParseError(f"{_subject(key)} is {describe(text)}, not an ISO-8601 string")
    return _timestamp_ns(text, key, _ISO8601_TAIL, 0)


def _timestamp_ns(text: str, key: str | None, tail_pattern: re.Pattern[str], minimum: int) -> int:
    try:
        seconds = _wall_seconds(text[:19])
    except ValueError as error:
        raise ParseError(f"{_subject(key, text)} is not ISO-8601 like '2023-09-25T07:49:37.708706Z': {error}") from None
    tail = text[19:]
    digits = tail[1:-1]
    if tail[-1:] == "Z" and tail[:1] == "." and 0 < len(digits) <= 9 and digits.isdigit() and digits.isascii():
        ns = seconds * NS_PER_SECOND + int(digits.ljust(9, "0"))  # the common form, without a regex
    else:
        match = tail_pattern.fullmatch(tail)
        if match is None:
            raise ParseError(
                f"{_subject(key, text)} does not end in an optional '.<1-9 digits>' and 'Z' or a UTC offset"
            )
        fraction, sign, offset_hours, offset_minutes = match.groups()
        if sign is not None:
            hours, minutes = int(offset_hours), int(offset_minutes)
            if hours > 23 or minutes > 59:
                raise ParseError(f"{_subject(key, text)} has an impossible UTC offset")
            offset = hours * 3_600 + minutes * 60
            seconds = seconds - offset if sign == "+" else seconds + offset
        ns = seconds * NS_PER_SECOND + (int(fraction.ljust(9, "0")) if fraction else 0)
    if not minimum <= ns <= MAX_NS:
        after = "after " if minimum else ""
        raise ParseError(f"{_subject(key, text)} is out of range: {after}1970-01-01 .. 2262-04-11")
    return ns


@functools.lru_cache(maxsize=16384)
def _wall_seconds(head: str) -> int:
    """Seconds from 1970-01-01T00:00:00 to a ``YYYY-MM-DD[Tt ]HH:MM:SS`` wall time (memoized: seconds repeat).

    Raises:
        ValueError: Not that form, or no such date or time of day.
    """
    match = _WALL.fullmatch(head)
    if match is None:
        raise ValueError("no 'YYYY-MM-DDTHH:MM:SS'")
    year, month, day, hour, minute, second = map(int, match.groups())
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("no such time of day")
    days = datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL  # ValueError: no such date
    return days * 86_400 + hour * 3_600 + minute * 60 + second


def _subject(key: str | None, text: str | None = None) -> str:
    """How a message names a time field and its value."""
    name = "time" if key is None else f"time {key!r}"
    return name if text is None else f"{name} {text[:40]!r}"
