"""Columns as the generated Avro readers fill them, to Arrow tables shaped like a bronze table.

:meth:`contracts.avro_reader.RecordReader.into` appends each record's fields to lists, one per
column: decimals as unscaled integers, nested records as tuples, arrays as lists. The sink keeps
those lists (its own columns beside them) and builds each Arrow column once per commit: decimals go
straight into ``decimal128`` storage (an integer column read at the table's scale), lists of records
become offsets over child columns. Pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ticklake.timeutil import NS_PER_DAY


def arrow_column(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """One column of reader values as an Arrow array of ``arrow_type``.

    Args:
        values: The column's values: unscaled integers for a decimal, sequences of tuples for a list
            of structs, ``None`` for a null.
        arrow_type: The column's type in the table's Arrow schema.

    Returns:
        The array, exactly of ``arrow_type`` (nested field names, nullability and metadata kept).
    """
    if pa.types.is_decimal(arrow_type):
        # the unscaled integers are the decimal's storage: build them at scale 0, read at the table's scale
        unscaled = pa.array(values, type=pa.decimal128(arrow_type.precision, 0))
        return unscaled.view(arrow_type)
    if pa.types.is_large_list(arrow_type):  # Iceberg lists are large lists in Arrow
        offsets = pa.array(list(itertools.accumulate((len(value) for value in values), initial=0)), type=pa.int64())
        items = [item for value in values for item in value]
        return pa.LargeListArray.from_arrays(offsets, arrow_column(items, arrow_type.value_type), type=arrow_type)
    if pa.types.is_struct(arrow_type):
        fields = list(arrow_type)
        children = list(zip(*values, strict=True)) if values else [()] * len(fields)
        arrays = [arrow_column(child, field.type) for child, field in zip(children, fields, strict=True)]
        return pa.StructArray.from_arrays(arrays, fields=fields)
    return pa.array(values, type=arrow_type)


def columns_to_table(columns: Mapping[str, Sequence[Any]], schema: pa.Schema, time_column: str) -> pa.Table:
    """Columns of reader values to a table of ``schema``, its ``event_date`` derived from ``time_column``.

    Args:
        columns: One sequence of values per column name, all of the same length.
        schema: The table's Arrow schema (its ``event_date`` is computed, every other field read).
        time_column: The epoch-ns column the event date comes from (UTC).

    Raises:
        KeyError: A schema field (other than ``event_date``) is not among ``columns``.
    """
    arrays: dict[str, pa.Array] = {
        field.name: arrow_column(columns[field.name], field.type) for field in schema if field.name != "event_date"
    }
    days = pc.divide(arrays[time_column], pa.scalar(NS_PER_DAY, pa.int64()))
    arrays["event_date"] = pc.cast(pc.cast(days, pa.int32()), pa.date32())
    return pa.table([arrays[field.name] for field in schema], schema=schema)
