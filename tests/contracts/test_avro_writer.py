"""The generated encoders write exactly what fastavro wrote, and refuse exactly what it refused."""

import collections
import dataclasses
import enum
import io
import math
import struct
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from avro_values import RECORDS
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contracts.avro_writer import record_encoder
from contracts.records import BookUpdate, DeadLetter, Gap, Level, Lifecycle, RawMessage, Ticker, Trade
from contracts.schemas import RECORD_NAMES, ContractError, _codec, avro_schema_json, decode, encode

EXAMPLES = hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fastavro_reference(name: str, record: Any) -> bytes:
    """The encoding ``encode`` had before the generated encoders: ``to_wire``, then fastavro's writer."""
    wire, to_wire, _ = _codec(name)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, wire, to_wire(record) if to_wire else record, strict=True)
    return buffer.getvalue()


TS = 1_790_000_000_123_456_789
LEVELS = tuple(Level(Decimal("63123.4") + i, Decimal("0.5")) for i in range(50))
CANDLE = {
    "venue": "binance",
    "instrument": "BTC-USDT",
    "interval": "1m",
    "window_start": TS,
    "window_end": TS + 60 * 10**9,
    **{key: Decimal("63123.45") for key in ("open", "high", "low", "close", "volume", "buy_volume", "sell_volume")},
    "quote_volume": 1234.5,
    "vwap": 63120.25,
    "trade_count": 12,
    "first_trade_id": "1",
    "last_trade_id": "12",
    "revision": 1,
}
SAMPLES: dict[str, dict[str, Any]] = {
    "trade": Trade("binance", "BTC-USDT", "BTCUSDT", "42", Decimal("63123.45"), Decimal("0.001"), "sell", TS, TS),
    "raw_message": RawMessage("binance", "btcusdt@trade", "c-1", 7, TS, b'{"e":"trade"}'),
    "dead_letter": DeadLetter("kraken", "parse", "boom", TS, b"\xff", seq=3),
    "candle": CANDLE,
    "book_update": BookUpdate(
        "kraken", "BTC-USD", "BTC/USD", "snapshot", LEVELS, LEVELS[:3], TS, TS, checksum=2**32 - 1
    ),
    "ticker": Ticker("binance", "BTC-USDT", "BTCUSDT", TS, TS, best_bid=Decimal("1.5"), sequence=9),
    "lifecycle": Lifecycle("kalshi", "KX-1", "KX-1", "settled", TS, TS, result="yes"),
    "gap": Gap("binance", "trades:BTCUSDT", "c-1", 5, 9, 5, TS, repaired=True),
}
OBJECTS = {name: item for name, item in SAMPLES.items() if not isinstance(item, dict)}
"""The bus record objects of the samples (every record type but the candle)."""
SAMPLES = {name: item if isinstance(item, dict) else item.to_record(TS + 1) for name, item in SAMPLES.items()}


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of a valid record as the collector and aggregator build them."""
    return {key: list(value) if isinstance(value, list) else value for key, value in SAMPLES[name].items()}


def same(left: Any, right: Any) -> bool:
    """Equal, a NaN equal to a NaN."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, dict):
        return isinstance(right, dict) and left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return isinstance(right, list) and len(left) == len(right) and all(map(same, left, right))
    return bool(left == right)


@pytest.mark.parametrize("name", RECORD_NAMES)
@EXAMPLES
@given(data=st.data())
def test_valid_records_encode_byte_identical_to_fastavro_and_decode_back(name, data):
    record = data.draw(RECORDS[name])
    encoded = encode(name, record)
    assert encoded == _fastavro_reference(name, record)
    fast = record_encoder(name).fast
    assert fast is not None and fast(record) == encoded  # the generated path took it, not the fallback
    assert same(decode(name, encoded), record)


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_every_record_type_has_a_generated_encoder(name):
    encoder = record_encoder(name)
    assert encoder.fast is not None and f"def encode_{name}(record):" in encoder.source


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_records_as_the_collector_builds_them_take_the_fast_path(name):
    record = sample(name)
    fast = record_encoder(name).fast
    assert fast is not None and fast(record) == _fastavro_reference(name, record)
    assert same(decode(name, encode(name, record)), record)


def test_long_strings_payloads_and_arrays_past_the_prefix_tables():
    ts = 1_790_000_000_123_456_789
    raw = RawMessage("binance", "c" * 9000, "c-1", 2**40, ts, bytes(range(256)) * 400).to_record(ts)
    levels = tuple(Level(Decimal(i).scaleb(-3), Decimal(i)) for i in range(9000))
    book = BookUpdate("kraken", "BTC-USD", "BTC/USD", "snapshot", levels, levels, ts, ts).to_record(ts)
    letter = DeadLetter("kraken", "parse", "é" * 5000, ts, b"", source="€" * 70).to_record(ts)
    for name, record in [("raw_message", raw), ("book_update", book), ("dead_letter", letter)]:
        fast = record_encoder(name).fast
        assert fast is not None and fast(record) == _fastavro_reference(name, record), name
        assert encode(name, record) == _fastavro_reference(name, record)


def test_string_caches_stay_correct_past_their_size():
    records = [RawMessage("binance", f"ch{i % 1500}", f"c-{i}", i, i, b"").to_record(i) for i in range(3000)]
    for record in records * 2:
        assert encode("raw_message", record) == _fastavro_reference("raw_message", record)


# --- values off the fast path: exactly what fastavro accepted, with its bytes ----------------------------


class Small(enum.IntEnum):
    FIVE = 5


class Text(str):
    pass


class Blob(bytes):
    pass


class Number(float):
    pass


class Record(dict):
    pass


ODD_VALUES = [
    True,
    False,
    None,
    0,
    -7,
    2**63,
    -(2**63) - 1,
    2**70,
    1.5,
    -2.0,
    float("nan"),
    Number(2.5),
    Small.FIVE,
    Decimal("1.5"),
    Decimal("NaN"),
    Decimal("1E+20"),
    Decimal("1E-19"),
    "",
    "x",
    "1.5",
    "nan",
    Text("t"),
    "\ud800",
    b"b",
    Blob(b"bb"),
    bytearray(b"ba"),
    memoryview(b"mv"),
    ("long", 3),
    ("string", "t"),
    ("bytes", b"x"),
    ("null", None),
    [],
    (),
    {},
    object(),
]


def odd_field_values(name: str) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """A valid record with one field (or one level's field) replaced by an unusual value."""
    fields = [field["name"] for field in avro_schema_json(name)["fields"]]

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
        record = draw(RECORDS[name])
        field = draw(st.sampled_from(fields))
        odd = draw(st.sampled_from(ODD_VALUES))
        level = record.get(field)
        if isinstance(level, list) and level and draw(st.booleans()):
            inner = draw(st.sampled_from(["price", "size"]))
            level[0] = {**level[0], inner: odd}
        else:
            record[field] = odd
        return record, field

    return build()


@pytest.mark.parametrize("name", RECORD_NAMES)
@EXAMPLES
@given(data=st.data())
def test_unusual_values_are_accepted_or_refused_exactly_as_fastavro_did(name, data):
    record, field = data.draw(odd_field_values(name))
    try:
        expected = _fastavro_reference(name, record)
    except Exception:
        with pytest.raises(ContractError, match=field):
            encode(name, record)
    else:
        assert encode(name, record) == expected


@pytest.mark.parametrize(
    "container",
    [lambda r: Record(r), lambda r: collections.OrderedDict(r), lambda r: list(r.items())],
    ids=["dict subclass", "OrderedDict", "not a mapping"],
)
@pytest.mark.parametrize("name", ["trade", "raw_message", "book_update"])
def test_records_that_are_not_plain_dicts_behave_as_before(name, container):
    record = container(sample(name))
    try:
        expected = _fastavro_reference(name, record)
    except Exception:
        with pytest.raises(ContractError):
            encode(name, record)
    else:
        assert encode(name, record) == expected


def test_level_records_in_tuples_or_dict_subclasses_behave_as_before():
    record = BookUpdate("kraken", "BTC-USD", "BTC/USD", "delta", (), (), 1, 2).to_record(3)
    record["bids"] = ({"price": Decimal(1), "size": Decimal(2)}, Record(price=Decimal(3), size=Decimal("0.5")))
    assert encode("book_update", record) == _fastavro_reference("book_update", record)


# --- invalid records: a ContractError naming the field ---------------------------------------------------

TRADE = Trade("binance", "BTC-USDT", "BTCUSDT", "1", Decimal("0.00000123"), Decimal(12), "buy", 1, 2)


def trade(**changes: Any) -> dict[str, Any]:
    return TRADE.to_record(3) | changes


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_a_missing_field_names_it(name):
    record = sample(name)
    for field in list(record):
        incomplete = {key: value for key, value in record.items() if key != field}
        with pytest.raises(ContractError, match=rf"{name}: field '{field}' is missing"):
            encode(name, incomplete)


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_an_extra_field_names_it(name):
    record = sample(name) | {"surplus": 1}
    with pytest.raises(ContractError, match=rf"{name}: field 'surplus' is not in the schema"):
        encode(name, record)


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_a_value_of_the_wrong_type_names_its_field(name):
    record = sample(name)
    booleans = {field["name"] for field in avro_schema_json(name)["fields"] if field["type"] == "boolean"}
    for field in record.keys() - booleans:
        with pytest.raises(ContractError, match=rf"{name}: field '{field}'"):
            encode(name, record | {field: object()})


def test_a_boolean_takes_any_value_s_truth_as_fastavro_did():
    gap = sample("gap")
    for value, expected in [(object(), True), (None, False), ("", False), ("no", True), (2, True), ([], False)]:
        assert encode("gap", gap | {"repaired": value}) == encode("gap", gap | {"repaired": expected})


@pytest.mark.parametrize(
    ("changes", "field", "why"),
    [
        ({"price": Decimal("1E+20")}, "price", "does not fit decimal"),
        ({"price": Decimal("-1E+20")}, "price", "does not fit decimal"),
        ({"size": Decimal("1.0000000000000000001")}, "size", "more than 18 fractional digits"),
        ({"size": Decimal("NaN")}, "size", "not a finite decimal"),
        ({"size": Decimal("-Infinity")}, "size", "not a finite decimal"),
        ({"price": 1.5}, "price", "is not a Decimal"),
        ({"price": "1.5"}, "price", "is not a Decimal"),
        ({"price": None}, "price", "is not a Decimal"),
        ({"venue": 1}, "venue", "string"),
        ({"venue": b"binance"}, "venue", "string"),
        ({"venue": "\ud800"}, "venue", "surrogates"),
        ({"ts_event": "1"}, "ts_event", "integer"),
        ({"ts_event": None}, "ts_event", ""),
        ({"ts_event": 2**63}, "ts_event", ""),  # fastavro's OverflowError escaped encode before
        ({"ts_event": -(2**63) - 1}, "ts_event", ""),
    ],
)
def test_invalid_trade_values_name_the_field(changes, field, why):
    with pytest.raises(ContractError, match=rf"trade: field '{field}': .*{why}"):
        encode("trade", trade(**changes))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "1"),
        ("seq", True),
        ("seq", 2**63),
        ("seq", 1.0),
        ("source", 1),
        ("source", b"x"),
        ("connection_id", ("long", 1)),
        ("payload", "text"),
        ("payload", None),
    ],
)
def test_invalid_nullable_and_bytes_values_name_the_field(field, value):
    letter = DeadLetter("kraken", "parse", "boom", 1, b"x").to_record(2)
    with pytest.raises(ContractError, match=rf"dead_letter: field '{field}'"):
        encode("dead_letter", letter | {field: value})


@pytest.mark.parametrize(
    "bids",
    [
        [{"price": Decimal(1)}],
        [{"price": Decimal(1), "size": Decimal(1), "extra": 1}],
        [{"price": Decimal(1), "size": 1.0}],
        [{"price": Decimal("1E-19"), "size": Decimal(1)}],
        [[Decimal(1), Decimal(1)]],
        "not levels",
        None,
    ],
)
def test_invalid_levels_name_the_array_field(bids):
    record = BookUpdate("kraken", "BTC-USD", "BTC/USD", "delta", (), (), 1, 2).to_record(3) | {"bids": bids}
    with pytest.raises(ContractError, match=r"book_update: field 'bids'"):
        encode("book_update", record)


def test_invalid_ticker_and_candle_values_name_the_field():
    ticker = Ticker("binance", "BTC-USDT", "BTCUSDT", 1, 2).to_record(3)
    with pytest.raises(ContractError, match=r"ticker: field 'mark_price': .*is not a Decimal"):
        encode("ticker", ticker | {"mark_price": 1.5})
    candle = sample("candle")
    with pytest.raises(ContractError, match=r"candle: field 'vwap'"):
        encode("candle", candle | {"vwap": "fast"})
    with pytest.raises(ContractError, match=r"candle: field 'revision'"):
        encode("candle", candle | {"revision": 1.5j})


def test_a_record_that_is_not_a_mapping_is_a_contract_error():
    for name in RECORD_NAMES:
        with pytest.raises(ContractError, match=name):
            encode(name, [("venue", "binance")])


# --- record objects: the attribute path writes what their dict writes ------------------------------------

BUS_RECORDS = {
    "trade": Trade,
    "raw_message": RawMessage,
    "dead_letter": DeadLetter,
    "book_update": BookUpdate,
    "ticker": Ticker,
    "lifecycle": Lifecycle,
    "gap": Gap,
}


def as_object(name: str, record: dict[str, Any]) -> tuple[Any, Any]:
    """The record object whose ``to_record(ts_ingest)`` is ``record`` (levels as ``Level``), and ``ts_ingest``."""
    fields = {key: value for key, value in record.items() if key != "ts_ingest"}
    for side in ("bids", "asks"):
        levels = fields.get(side)
        if isinstance(levels, list) and all(isinstance(level, dict) and len(level) == 2 for level in levels):
            fields[side] = tuple(Level(level["price"], level["size"]) for level in levels)
    return BUS_RECORDS[name](**fields), record["ts_ingest"]


def test_every_bus_record_has_its_schema_s_fields_and_an_attribute_encoder():
    assert set(BUS_RECORDS) == set(RECORD_NAMES) - {"candle"}
    for name, record_type in BUS_RECORDS.items():
        schema_fields = [field["name"] for field in avro_schema_json(name)["fields"]]
        assert {field.name for field in dataclasses.fields(record_type)} | {"ts_ingest"} == set(schema_fields), name
        encoder = record_encoder(name)
        assert encoder.attributes is not None and encoder.attributes_fast is not None, name
        assert f"def encode_{name}_attributes(record, ts_ingest):" in encoder.source
    assert record_encoder("candle").attributes is None  # no ts_ingest to stamp


@pytest.mark.parametrize("name", BUS_RECORDS)
def test_record_objects_as_the_collector_builds_them_take_the_attribute_path(name):
    record_object = OBJECTS[name]
    encoder = record_encoder(name)
    assert encoder.attributes_fast is not None
    expected = _fastavro_reference(name, record_object.to_record(TS + 2))
    assert encoder.attributes_fast(record_object, TS + 2) == expected
    assert encoder.attributes is not None and encoder.attributes(record_object, TS + 2) == expected


@pytest.mark.parametrize("name", BUS_RECORDS)
@EXAMPLES
@given(data=st.data())
def test_record_objects_encode_byte_identical_to_their_dict(name, data):
    record_object, ts_ingest = as_object(name, data.draw(RECORDS[name]))
    encoder = record_encoder(name)
    expected = _fastavro_reference(name, record_object.to_record(ts_ingest))
    assert encoder.attributes is not None and encoder.attributes(record_object, ts_ingest) == expected
    assert encoder.attributes_fast is not None and encoder.attributes_fast(record_object, ts_ingest) == expected


@pytest.mark.parametrize("name", BUS_RECORDS)
@EXAMPLES
@given(data=st.data())
def test_unusual_attribute_values_are_accepted_or_refused_as_their_dict_was(name, data):
    record, _field = data.draw(odd_field_values(name))
    record_object, ts_ingest = as_object(name, record)
    encoder = record_encoder(name)
    assert encoder.attributes is not None
    try:
        expected = encode(name, record_object.to_record(ts_ingest))
    except Exception as error:
        with pytest.raises(type(error)):
            encoder.attributes(record_object, ts_ingest)
    else:
        assert encoder.attributes(record_object, ts_ingest) == expected


def test_levels_in_a_list_or_of_another_type_encode_as_their_dict():
    class Quote:  # not a Level: to_record reads its price and size all the same
        def __init__(self, price: Any, size: Any) -> None:
            self.price, self.size = price, size

    levels = [Quote(Decimal(1), Decimal(2)), Level(Decimal(3), Decimal("0.5"))]
    update = dataclasses.replace(OBJECTS["book_update"], bids=levels, asks=iter(levels))  # type: ignore[arg-type]
    expected = _fastavro_reference("book_update", dataclasses.replace(update, asks=levels).to_record(TS))
    encoder = record_encoder("book_update")
    assert encoder.attributes is not None
    assert encoder.attributes(dataclasses.replace(update, asks=levels), TS) == expected
    assert encoder.attributes(update, TS) == expected  # an iterator: off the attribute path, through to_record


# --- field values as arguments: the values path writes what their dict writes ---------------------------------

VALUES_RECORDS = [name for name in RECORD_NAMES if name != "candle"]  # its field 'open' cannot be an argument


def test_every_record_type_but_the_candle_has_a_values_encoder():
    for name in VALUES_RECORDS:
        encoder = record_encoder(name)
        assert encoder.values is not None and encoder.values_fast is not None, name
        arguments = ", ".join(field["name"] for field in avro_schema_json(name)["fields"])
        assert f"def encode_{name}_values({arguments}):" in encoder.source
    assert record_encoder("candle").values is None


@pytest.mark.parametrize("name", VALUES_RECORDS)
@EXAMPLES
@given(data=st.data())
def test_field_values_encode_byte_identical_to_their_dict(name, data):
    record = data.draw(RECORDS[name])
    encoder = record_encoder(name)
    assert encoder.values is not None and encoder.values_fast is not None
    expected = _fastavro_reference(name, record)
    assert encoder.values(*(record[field["name"]] for field in avro_schema_json(name)["fields"])) == expected
    assert encoder.values(**record) == expected
    assert encoder.values_fast(**record) == expected  # the generated path took it


@pytest.mark.parametrize("name", VALUES_RECORDS)
@EXAMPLES
@given(data=st.data())
def test_unusual_field_values_are_accepted_or_refused_as_their_dict_was(name, data):
    record, field = data.draw(odd_field_values(name))
    encoder = record_encoder(name)
    assert encoder.values is not None
    try:
        expected = _fastavro_reference(name, record)
    except Exception:
        with pytest.raises(ContractError, match=field):
            encoder.values(**record)
    else:
        assert encoder.values(**record) == expected


def test_doubles_keep_every_bit():
    candle = sample("candle")
    for bits in (0x7FF8000000000001, 0xFFF8000000000000, 0x8000000000000000, 1):
        (value,) = struct.unpack("<d", struct.pack("<Q", bits))
        record = candle | {"vwap": value}
        assert encode("candle", record) == _fastavro_reference("candle", record)
