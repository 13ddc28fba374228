"""Reader columns become exactly the Arrow tables the sink built from decoded dicts."""

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from avro_values import RECORDS
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contracts.avro_reader import record_reader
from contracts.schemas import decode, encode
from streaming.bronze_arrow import arrow_column, columns_to_table
from streaming.sink import ROUTES
from ticklake.timeutil import NS_PER_DAY

EXAMPLES = hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _from_dicts(records: list[dict[str, Any]], schema: pa.Schema, time_column: str) -> pa.Table:
    """The table as the sink built it before rows: one ``pa.array`` of decoded values per column."""
    columns = {
        field.name: pa.array([r[field.name] for r in records], type=field.type)
        for field in schema
        if field.name != "event_date"
    }
    days = pc.divide(columns[time_column], pa.scalar(NS_PER_DAY, pa.int64()))
    columns["event_date"] = pc.cast(pc.cast(days, pa.int32()), pa.date32())
    return pa.table([columns[field.name] for field in schema], schema=schema)


@pytest.mark.parametrize("route", ROUTES, ids=[route.kind for route in ROUTES])
@EXAMPLES
@given(data=st.data())
def test_columns_make_the_table_decoded_dicts_made(route: Any, data: st.DataObject) -> None:
    schema = route.table.schema().as_arrow()
    reader = record_reader(route.record)
    headers = tuple(column for _, column in route.header_columns)
    columns: dict[str, list[Any]] = {name: [] for name in (*reader.fields, "kafka_partition", "kafka_offset", *headers)}
    read_into = reader.into(columns)
    records = data.draw(st.lists(RECORDS[route.record], min_size=1, max_size=8))
    dicts = []
    for offset, record in enumerate(records):
        encoded = encode(route.record, record)
        extra = {column: data.draw(st.none() | st.text(max_size=20)) for column in headers}
        read_into(encoded)
        for name, value in {"kafka_partition": 3, "kafka_offset": offset, **extra}.items():
            columns[name].append(value)
        dicts.append({**decode(route.record, encoded), "kafka_partition": 3, "kafka_offset": offset, **extra})
    table = columns_to_table(columns, schema, route.time_column)
    assert table.schema == schema
    expected = _from_dicts(dicts, schema, route.time_column)
    assert repr(table.to_pylist()) == repr(expected.to_pylist())  # repr: NaN matches NaN, 1.0 is not 1.00


def test_decimals_keep_their_scale_and_nulls() -> None:
    column = arrow_column([1, None, -(10**38) + 1], pa.decimal128(38, 18))
    assert column.type == pa.decimal128(38, 18)
    assert column.to_pylist()[1] is None
    assert str(column[0].as_py()) == "1E-18"
    assert str(column[2].as_py()) == "-99999999999999999999.999999999999999999"


def test_empty_lists_and_no_items_at_all() -> None:
    level = pa.struct([pa.field("price", pa.decimal128(38, 18), False), pa.field("size", pa.decimal128(38, 18), False)])
    kind = pa.large_list(pa.field("element", level, False))
    column = arrow_column([[], []], kind)
    assert column.type == kind
    assert column.to_pylist() == [[], []]
