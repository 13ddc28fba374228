"""Direct tests of the shared wire-format helpers (:mod:`streaming.venues.wire`)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streaming.errors import ParseError
from streaming.venues import wire

BASE_NS = 1_695_628_177_000_000_000  # 2023-09-25T07:49:37Z


# --- descriptions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "boolean"),
        (1, "number"),
        (1.5, "number"),
        (Decimal("1.5"), "number"),
        ("x", "string"),
        ([], "array"),
        (None, "null"),
        ({}, "object"),
    ],
)
def test_json_kind(value: object, kind: str) -> None:
    assert wire.json_kind(value) == kind


def test_describe() -> None:
    assert wire.describe(None) == "missing or null"
    assert wire.describe("abc") == "a JSON string ('abc')"
    assert wire.describe(Decimal("0.12290")) == "a JSON number (0.12290)"
    assert wire.describe("x" * 60) == f"a JSON string ({repr('x' * 60)[:40]}...)"


# --- decimals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal("0")),
        ("0.00000123", Decimal("0.00000123")),
        ("00012.5", Decimal("12.5")),
        ("5.1E-05", Decimal("0.000051")),
        ("1E+3", Decimal("1000")),
        ("0.000000000000000001", Decimal("1E-18")),
        ("1.000000000000000000000000", Decimal("1")),  # trailing zeros beyond 18 places still fit
        ("99999999999999999999.999999999999999999", Decimal("99999999999999999999.999999999999999999")),
        ("0.1234567890123456780000", Decimal("0.123456789012345678")),
    ],
)
def test_decimal_text_accepts(text: str, expected: Decimal) -> None:
    value = wire.decimal_text(text, "p")
    assert value == expected and value.as_tuple() == Decimal(text).as_tuple()
    assert wire.decimal_text_leading_point(text, "p").as_tuple() == Decimal(text).as_tuple()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0.0000000000000000001", "19 fractional digits"),
        ("1.1234567890123456789", "19 fractional digits"),
        ("123456789012345678901", "21 integer digits"),
        ("1E+20", "21 integer digits"),
        ("-0", "negative"),
        ("-1.5", "negative"),
        ("NaN", "not a finite decimal"),
        ("Infinity", "not a finite decimal"),
        ("1e400", "401 integer digits"),
        ("1e-400", "400 fractional digits"),
        ("", "not a finite decimal"),
        ("1.5 ", "not a finite decimal"),
        ("\uff11", "not a finite decimal"),  # a full-width digit
    ],
)
def test_decimal_text_refuses(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        wire.decimal_text(text, "p")
    with pytest.raises(ParseError, match=match):
        wire.decimal_text_leading_point(text, "p")


@pytest.mark.parametrize("value", [1.5, 1, None, True, ["1"]])
def test_decimal_text_refuses_non_strings(value: object) -> None:
    with pytest.raises(ParseError, match=r"'p' is .*, not a decimal string"):
        wire.decimal_text(value, "p")


def test_leading_point_only_where_asked() -> None:
    assert wire.decimal_text_leading_point(".48", "price").as_tuple() == Decimal("0.48").as_tuple()
    assert wire.decimal_text_leading_point(".5e-3", "price") == Decimal("0.0005")
    with pytest.raises(ParseError):
        wire.decimal_text(".48", "price")
    for text in (".", "-.5", "..5"):
        with pytest.raises(ParseError):
            wire.decimal_text_leading_point(text, "price")


def test_fraction_digits_and_check_fits() -> None:
    assert wire.fraction_digits(Decimal("1.500")) == 1
    assert wire.fraction_digits(Decimal("1E+3")) == -3
    wire.check_fits(Decimal("0E-40"), "zero")  # zero always fits
    wire.check_fits(Decimal("1.000000000000000000000"), "x")
    with pytest.raises(ParseError, match=r"^'q'=1 has 19 fractional digits; the store keeps 18$"):
        wire.check_fits(Decimal("1E-19"), "'q'=1")
    with pytest.raises(ParseError, match="21 integer digits; the store keeps 20"):
        wire.check_fits(Decimal("1E+20"), "x")


# --- integer times -----------------------------------------------------------------------------


def test_epoch_ns() -> None:
    assert wire.epoch_ns(1_695_628_177_000, "ts_ms", wire.NS_PER_MILLISECOND, "milliseconds") == BASE_NS
    assert wire.epoch_ns(1_695_628_177, "ts", wire.NS_PER_SECOND, "seconds") == BASE_NS
    assert wire.epoch_ns(wire.MAX_NS // 1000, "t", wire.NS_PER_MICROSECOND, "microseconds") > 0
    for value in (0, -1, wire.MAX_NS // wire.NS_PER_SECOND + 1, 1_695_628_177_000):
        with pytest.raises(ParseError, match="out of range for epoch seconds"):
            wire.epoch_ns(value, "ts", wire.NS_PER_SECOND, "seconds")
    for value in (True, 1.5, "1695628177", None):
        with pytest.raises(ParseError, match=r"'ts' is .*, not an integer of epoch seconds"):
            wire.epoch_ns(value, "ts", wire.NS_PER_SECOND, "seconds")


# --- text times --------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", range(10))
def test_fractions_of_0_to_9_digits(digits: int) -> None:
    fraction = "123456789"[:digits]
    text = "2023-09-25T07:49:37" + (f".{fraction}" if digits else "") + "Z"
    expected = BASE_NS + (int(fraction.ljust(9, "0")) if digits else 0)
    assert wire.rfc3339_ns(text) == expected
    assert wire.iso8601_ns(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-09-25T09:49:37+02:00", BASE_NS),
        ("2023-09-25T02:19:37.25-05:30", BASE_NS + 250_000_000),
        ("2023-09-25T07:49:37-00:00", BASE_NS),
        ("2023-09-25t07:49:37.5z", BASE_NS + 500_000_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000_000),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("2262-04-11T23:47:16.854775807Z", wire.MAX_NS),
    ],
)
def test_rfc3339_and_iso8601_agree(text: str, expected: int) -> None:
    assert wire.rfc3339_ns(text) == expected
    assert wire.iso8601_ns(text, "time") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-09-25 07:49:37Z", BASE_NS),
        ("2023-09-25T07:49:37,5Z", BASE_NS + 500_000_000),
        ("2023-09-25T09:49:37+0200", BASE_NS),
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T01:00:00+01:00", 0),
    ],
)
def test_iso8601_only(text: str, expected: int) -> None:
    assert wire.iso8601_ns(text) == expected
    with pytest.raises(ParseError):
        wire.rfc3339_ns(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2023-09-25",
        "2023-09-25T07:49:37",  # no zone
        "2023-09-25T07:49:37.Z",
        "2023-09-25T07:49:37.1234567890Z",  # 10 digits
        "2023-09-25T07:49Z",
        "2023-9-25T07:49:37Z",
        "2023-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2023-09-25T24:00:00Z",
        "2023-09-25T07:60:00Z",
        "2016-12-31T23:59:60Z",  # leap second
        "2023-09-25T07:49:37+24:00",
        "2023-09-25T07:49:37+05:60",
        "2023-09-25T07:49:37+2",
        "0000-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999999Z",
        "1970-01-01T00:30:00+01:00",
        "2262-04-11T23:47:16.854775808Z",  # beyond a signed 64-bit count of ns
        "9999-12-31T23:59:59Z",
        "\uff12\uff10\uff12\uff13-09-25T07:49:37Z",  # full-width digits
        "2023-09-25T07:49:37.\uff17Z",
        " 2023-09-25T07:49:37Z",
        "2023-09-25T07:49:37Z ",
        "2023-09-25T07:49:37.1e3Z",
        "1695628177",
    ],
)
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(ParseError):
        wire.rfc3339_ns(text)
    with pytest.raises(ParseError):
        wire.iso8601_ns(text)


def test_rfc3339_refuses_the_epoch_itself() -> None:
    with pytest.raises(ParseError, match="out of range"):
        wire.rfc3339_ns("1970-01-01T00:00:00Z")


def test_time_messages_name_the_field() -> None:
    with pytest.raises(ParseError, match=r"^time 'timestamp' is a JSON number \(1\), not an RFC 3339 string$"):
        wire.rfc3339_ns(1, "timestamp")
    with pytest.raises(ParseError, match=r"^time 'time' is missing or null, not an ISO-8601 string$"):
        wire.iso8601_ns(None, "time")
    with pytest.raises(ParseError, match=r"^time 'ts' '2262-04-12T00:00:00Z' is out of range"):
        wire.rfc3339_ns("2262-04-12T00:00:00Z", "ts")
    with pytest.raises(ParseError, match="impossible UTC offset"):
        wire.iso8601_ns("2023-09-25T07:49:37+24:00")
