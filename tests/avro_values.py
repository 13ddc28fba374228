"""Hypothesis strategies for valid values of every contract's Avro schema, drawn from the schemas themselves."""

from decimal import Context, Decimal
from typing import Any

from hypothesis import strategies as st

from contracts.schemas import RECORD_NAMES, avro_schema_json

WIDE = Context(prec=80)  # exact: the default context would round a 38-digit value to 28 digits


@st.composite
def decimals(draw: st.DrawFn) -> Decimal:
    """Any decimal(38, 18) value, written with 0 to 18 fractional digits, trailing zeros or an exponent."""
    places = draw(st.integers(0, 18))
    coefficient = draw(st.integers(-(10 ** (20 + places)) + 1, 10 ** (20 + places) - 1))
    value = Decimal(coefficient).scaleb(-places, WIDE)
    form = draw(st.sampled_from(["plain", "zeros", "normalized"]))
    if form == "zeros":  # more fractional digits, all zeros: rescaled, not refused
        zeros = draw(st.integers(1, 30))
        value = Decimal(coefficient * 10**zeros).scaleb(-places - zeros, WIDE)
    elif form == "normalized":  # e.g. 1.2E+5
        value = value.normalize(WIDE)
    return value


EDGE_DECIMALS = [
    Decimal("99999999999999999999.999999999999999999"),
    Decimal("-99999999999999999999.999999999999999999"),
    Decimal("0.000000000000000001"),
    Decimal("-0.000000000000000001"),
    Decimal("-0"),
    Decimal("0E+30"),
    Decimal("-128E-18"),
    Decimal("127E-18"),
    Decimal("-129E-18"),
    Decimal("32768E-18"),
    Decimal("-32768E-18"),
]

EDGE_LONGS = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, 2**27, 2**28, 2**35, -(2**35), 2**62, 2**63 - 1, -(2**63)]


def values(avro_type: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid Python values of an Avro type of the contracts."""
    if isinstance(avro_type, list):
        return st.one_of(*(values(branch, named) for branch in avro_type))
    if isinstance(avro_type, str):
        if avro_type in named:
            return values(named[avro_type], named)
        return {
            "null": st.none(),
            "string": st.text(max_size=80) | st.sampled_from(["binance", "BTC-USDT", "buy", "é€𝄞", "x" * 70]),
            "bytes": st.binary(max_size=300),
            "long": st.integers(-(2**63), 2**63 - 1) | st.sampled_from(EDGE_LONGS),
            "boolean": st.booleans(),
            "double": st.floats(allow_nan=True, allow_infinity=True),
        }[avro_type]
    if avro_type.get("logicalType") == "decimal":
        return decimals() | st.sampled_from(EDGE_DECIMALS)
    kind = avro_type["type"]
    if kind == "array":
        return st.lists(values(avro_type["items"], named), max_size=6)
    if kind == "record":
        named[avro_type["name"]] = avro_type
        fields = {field["name"]: values(field["type"], named) for field in avro_type["fields"]}
        return st.fixed_dictionaries(fields)
    return values(kind, named)


RECORDS = {name: values(avro_schema_json(name), {}) for name in RECORD_NAMES}
"""A strategy of valid records (plain dicts) per record type."""
