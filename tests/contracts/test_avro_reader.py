"""The generated decoders read exactly what fastavro read, and refuse damage fastavro let through."""

from decimal import Decimal
from typing import Any

import pytest
from avro_values import RECORDS, WIDE
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contracts.avro_reader import record_reader
from contracts.schemas import RECORD_NAMES, SCALE, ContractError, _fastavro_decode, avro_schema_json, decode, encode

EXAMPLES = hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(left: Any, right: Any) -> bool:
    """Equal, NaN equal to NaN, decimals equal in value and in exponent (``1.0`` is not ``1.00``)."""
    if isinstance(left, float) and isinstance(right, float) and left != left and right != right:
        return True
    if isinstance(left, Decimal) and isinstance(right, Decimal):
        return left == right and left.as_tuple().exponent == right.as_tuple().exponent
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


def _named(avro_type: Any, named: dict[str, Any]) -> dict[str, Any]:
    """Every named record type defined in ``avro_type``, by name (a reference may come before a value)."""
    if isinstance(avro_type, list):
        for branch in avro_type:
            _named(branch, named)
    elif isinstance(avro_type, dict):
        if avro_type.get("type") == "record":
            named[avro_type["name"]] = avro_type
            for field in avro_type["fields"]:
                _named(field["type"], named)
        elif avro_type.get("type") == "array":
            _named(avro_type["items"], named)
    return named


def _as_row(value: Any, avro_type: Any, named: dict[str, Any]) -> Any:
    """A decoded value as ``row`` gives it: records as tuples, decimals as unscaled integers."""
    if not named:
        _named(avro_type, named)
    if value is None:
        return None
    if isinstance(avro_type, list):
        (branch,) = [branch for branch in avro_type if branch != "null"]
        return _as_row(value, branch, named)
    if isinstance(avro_type, str):
        return _as_row(value, named[avro_type], named) if avro_type in named else value
    if avro_type.get("logicalType") == "decimal":
        return int(value.scaleb(SCALE, WIDE))
    if avro_type["type"] == "array":
        return [_as_row(item, avro_type["items"], named) for item in value]
    if avro_type["type"] == "record":
        return tuple(_as_row(value[field["name"]], field["type"], named) for field in avro_type["fields"])
    return value


def _columns(name: str) -> dict[str, list[Any]]:
    return {field: [] for field in record_reader(name).fields}


def _row(name: str, data: bytes) -> tuple[Any, ...]:
    """The values ``into`` appends to each column for one record, in schema order."""
    columns = _columns(name)
    record_reader(name).into(columns)(data)
    assert all(len(values) == 1 for values in columns.values())
    return tuple(values[0] for values in columns.values())


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_every_contract_has_generated_readers(name: str) -> None:
    reader = record_reader(name)
    assert reader.fields == tuple(field["name"] for field in avro_schema_json(name)["fields"])
    assert reader.source.startswith(f"def bind_{name}(append_")


@pytest.mark.parametrize("name", RECORD_NAMES)
@EXAMPLES
@given(data=st.data())
def test_decode_reads_what_fastavro_read(name: str, data: st.DataObject) -> None:
    record = data.draw(RECORDS[name])
    encoded = encode(name, record)
    expected = _fastavro_decode(name, encoded)
    assert _same(decode(name, encoded), expected)
    assert _same(list(_row(name, encoded)), list(_as_row(expected, avro_schema_json(name), {})))


@st.composite
def damaged(draw: st.DrawFn, name: str) -> bytes:
    """A valid encoding of ``name`` with bytes flipped, cut, inserted or appended."""
    encoded = bytearray(encode(name, draw(RECORDS[name])))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "append"]))
        at = draw(st.integers(0, len(encoded)))
        if how == "flip" and at < len(encoded):
            encoded[at] = draw(st.integers(0, 255))
        elif how == "cut":
            del encoded[at:]
        elif how == "insert":
            encoded[at:at] = draw(st.binary(min_size=1, max_size=4))
        else:
            encoded += draw(st.binary(min_size=1, max_size=4))
    return bytes(encoded)


@pytest.mark.parametrize("name", RECORD_NAMES)
@EXAMPLES
@given(data=st.data())
def test_damage_is_refused_or_read_as_fastavro_reads_it(name: str, data: st.DataObject) -> None:
    """What the generated decoder accepts, fastavro reads the same; what fastavro refuses, it refuses."""
    encoded = data.draw(damaged(name))
    try:
        got = decode(name, encoded)
    except ContractError as error:
        assert str(error).startswith(f"{name}: cannot decode {len(encoded)} bytes")
        columns = _columns(name)
        with pytest.raises(ContractError):
            record_reader(name).into(columns)(encoded)
        assert not any(columns.values())  # all fields or none
        return
    assert _same(got, _fastavro_decode(name, encoded))
    assert _same(list(_row(name, encoded)), list(_as_row(got, avro_schema_json(name), {})))


TRADE = {
    "venue": "binance",
    "instrument": "BTC-USDT",
    "symbol": "BTCUSDT",
    "trade_id": "42",
    "price": Decimal("63123.45"),
    "size": Decimal("0.001"),
    "side": "buy",
    "ts_event": 1_790_000_000_123_456_789,
    "ts_recv": 1_790_000_000_223_456_789,
    "ts_ingest": 1_790_000_000_323_456_789,
}


def test_a_trade_row_holds_unscaled_decimals_in_schema_order() -> None:
    row = _row("trade", encode("trade", TRADE))
    assert row == (
        "binance",
        "BTC-USDT",
        "BTCUSDT",
        "42",
        63123_450000000000000000,
        1_000000000000000,
        "buy",
        1_790_000_000_123_456_789,
        1_790_000_000_223_456_789,
        1_790_000_000_323_456_789,
    )


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda data: data + b"\x00", "1 bytes after the record"),
        (lambda data: data[:-1], "the record ends early"),
        (lambda data: data[:20], "a length past the end"),
    ],
)
def test_damage_fastavro_let_through_is_refused(damage: Any, why: str) -> None:
    encoded = damage(encode("trade", TRADE))
    with pytest.raises(ContractError, match=f"^trade: cannot decode {len(encoded)} bytes: .*{why}"):
        decode("trade", encoded)


def _field_bytes(value: Decimal) -> bytes:
    """A decimal field as encoded: the length (zigzag, one byte here), then the unscaled big-endian bytes."""
    unscaled = int(value.scaleb(SCALE, WIDE))
    data = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
    return bytes([2 * len(data)]) + data


def test_a_decimal_beyond_38_digits_is_refused() -> None:
    """fastavro returns it; Arrow's decimal128(38, 18) could not hold it, so the sink would fail to commit."""
    encoded = encode("trade", TRADE)
    price = _field_bytes(TRADE["price"])
    wide = (10**38).to_bytes(17, "big", signed=True)
    forged = encoded.replace(price, bytes([2 * len(wide)]) + wide, 1)
    assert _fastavro_decode("trade", forged)["price"] == Decimal(10**38).scaleb(-SCALE, WIDE)
    with pytest.raises(ContractError, match="price: a decimal beyond 38 digits"):
        decode("trade", forged)


def test_a_boolean_byte_other_than_0_or_1_is_refused() -> None:
    """fastavro reads any non-zero byte as True; here it is damage (a gap's ``repaired``)."""
    gap = {
        "venue": "binance",
        "stream": "trades:BTCUSDT",
        "connection_id": "c-1",
        "first_missing": 7,
        "last_missing": 9,
        "missing": 3,
        "repaired": True,
        "ts_recv": 0,
        "ts_ingest": 0,
    }
    encoded = encode("gap", gap)
    assert decode("gap", encoded)["repaired"] is True
    assert encoded[-3:] == b"\x01\x00\x00"  # the boolean, then two longs of one byte
    forged = encoded[:-3] + b"\x02\x00\x00"
    assert _fastavro_decode("gap", forged)["repaired"] is True
    with pytest.raises(ContractError, match="a boolean byte not 0 or 1"):
        decode("gap", forged)
