from decimal import Decimal

import pytest

from contracts.records import BookUpdate, Level, Trade
from contracts.schemas import ContractError, decode, encode

TRADE = Trade("binance", "BTC-USDT", "BTCUSDT", "1", Decimal("0.00000123"), Decimal("12000000000"), "buy", 1, 2)


def test_trade_round_trip_keeps_exact_decimals():
    record = decode("trade", encode("trade", TRADE.to_record(3)))
    assert record["price"] == Decimal("0.00000123") and record["size"] == Decimal("12000000000")
    assert record["ts_ingest"] == 3


def test_trailing_zeros_beyond_scale_are_rescaled_not_refused():
    record = TRADE.to_record(3) | {"price": Decimal("1." + "0" * 24)}
    assert decode("trade", encode("trade", record))["price"] == Decimal(1)


def test_a_19th_significant_fractional_digit_is_refused_not_rounded():
    record = TRADE.to_record(3) | {"price": Decimal("1.0000000000000000001")}
    with pytest.raises(ContractError, match="more than 18 fractional digits"):
        encode("trade", record)


def test_book_update_round_trip():
    book = BookUpdate(
        "kraken", "BTC-USD", "BTC/USD", "delta", (Level(Decimal("1.5"), Decimal(0)),), (), 1, 2, sequence=9
    )
    record = decode("book_update", encode("book_update", book.to_record(3)))
    assert record["bids"] == [{"price": Decimal("1.5"), "size": Decimal(0)}]
    assert record["asks"] == [] and record["sequence"] == 9 and record["checksum"] is None


def test_missing_field_is_a_contract_error():
    record = TRADE.to_record(3)
    del record["side"]
    with pytest.raises(ContractError):
        encode("trade", record)


@pytest.mark.parametrize(
    "value",
    [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("1E+20"), Decimal("-1E+20"), 1.5, "1.5"],
)
def test_non_finite_oversized_or_non_decimal_values_are_refused(value):
    record = TRADE.to_record(3)
    record["price"] = value
    with pytest.raises(ContractError, match="trade"):
        encode("trade", record)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("99999999999999999999.999999999999999999"),  # the largest decimal(38, 18)
        Decimal("-99999999999999999999.999999999999999999"),
        Decimal("-0.000000000000000001"),
        Decimal("0"),
        Decimal("-128E-18"),  # two's complement edge: a byte of its own
        Decimal("127E-18"),
    ],
)
def test_extreme_decimals_round_trip_exactly(value):
    record = TRADE.to_record(3)
    record["size"] = value
    decoded = decode("trade", encode("trade", record))
    assert decoded["size"] == value
    assert decoded["size"].as_tuple().exponent == -18


def test_the_wire_is_avro_decimal_bytes_readable_by_a_plain_fastavro_reader():
    import io

    import fastavro

    from contracts.schemas import avro_schema_json

    schema = fastavro.parse_schema(avro_schema_json("trade"))
    data = encode("trade", TRADE.to_record(3))
    read = fastavro.schemaless_reader(io.BytesIO(data), schema, None)
    assert (read["price"], read["size"]) == (TRADE.price, TRADE.size)
