"""Avro schemas of the bus records, their binary codec, and the Iceberg schemas derived from them.

The ``*.avsc`` files beside this module are the source of truth. Messages on the bus are Avro
binary (schemaless: one schema per topic, named in the message header ``ticklake.schema``); Iceberg
table schemas are derived from the same Avro records plus the columns a layer adds.
"""

from __future__ import annotations

import functools
import io
import json
from decimal import Decimal
from importlib import resources
from typing import Any, Literal, cast

import fastavro
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    StructType,
)

RecordName = Literal["trade", "raw_message", "dead_letter", "candle", "book_update", "ticker", "lifecycle", "gap"]
RECORD_NAMES: tuple[RecordName, ...] = (
    "trade",
    "raw_message",
    "dead_letter",
    "candle",
    "book_update",
    "ticker",
    "lifecycle",
    "gap",
)


class ContractError(ValueError):
    """A record does not satisfy its contract, or a contract cannot be mapped."""


@functools.cache
def avro_schema_json(name: RecordName) -> dict[str, Any]:
    """The Avro schema of a record type, as parsed JSON."""
    text = resources.files("contracts").joinpath("avro", f"{name}.avsc").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _parsed(name: RecordName) -> Any:
    return fastavro.parse_schema(avro_schema_json(name))


_SCALE = Decimal(1).scaleb(-18)


def _rescaled(value: Any) -> Any:
    """``value`` with every decimal written with more than 18 fractional digits brought to 18.

    Only trailing zeros may go (``1.000...0`` with 24 zeros is 1); a value that needs more digits
    than the contracts' ``decimal(38, 18)`` holds is refused rather than rounded.
    """
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -18:
            rounded = value.quantize(_SCALE)
            if rounded != value:
                raise ContractError(f"{value} has more than 18 fractional digits")
            return rounded
        return value
    if isinstance(value, dict):
        return {key: _rescaled(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rescaled(item) for item in value]
    return value


def encode(name: RecordName, record: dict[str, Any]) -> bytes:
    """Encode a record to Avro binary, validating it against its schema.

    Decimals are written at the contracts' scale 18; one written with more fractional digits, all
    zeros beyond the 18th, is rescaled first (only on that rare path, off the fast one).

    Raises:
        ContractError: The record does not match the schema.
    """
    buffer = io.BytesIO()
    try:
        fastavro.schemaless_writer(buffer, _parsed(name), record, strict=True)
    except ValueError as error:
        if "Scale provided in schema does not match" not in str(error):
            raise ContractError(f"{name}: {error}") from error
        buffer = io.BytesIO()
        try:
            fastavro.schemaless_writer(buffer, _parsed(name), _rescaled(record), strict=True)
        except (ValueError, TypeError, KeyError, AttributeError) as again:
            raise ContractError(f"{name}: {again}") from again
    except (TypeError, KeyError, AttributeError) as error:
        raise ContractError(f"{name}: {error}") from error
    return buffer.getvalue()


def decode(name: RecordName, data: bytes) -> dict[str, Any]:
    """Decode Avro binary written by :func:`encode`.

    Raises:
        ContractError: The bytes are not a valid record of this type.
    """
    try:
        record = cast(dict[str, Any], fastavro.schemaless_reader(io.BytesIO(data), _parsed(name), None))
    except (ValueError, TypeError, EOFError, IndexError, UnicodeDecodeError, OverflowError) as error:
        raise ContractError(f"{name}: cannot decode {len(data)} bytes: {error}") from error
    return record


_PRIMITIVES: dict[str, IcebergType] = {
    "string": StringType(),
    "long": LongType(),
    "int": IntegerType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "bytes": BinaryType(),
}


class _Mapper:
    """Maps Avro types to Iceberg types, numbering nested fields after the top-level ones."""

    def __init__(self, next_id: int) -> None:
        self.next_id = next_id
        self.named: dict[str, Any] = {}

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def map(self, avro_type: Any) -> tuple[IcebergType, bool]:
        """The Iceberg type of an Avro type, and whether it is required."""
        if isinstance(avro_type, list):
            branches = [branch for branch in avro_type if branch != "null"]
            if len(branches) != 1 or len(avro_type) != 2:
                raise ContractError(f"only ['null', T] unions map to Iceberg, got {avro_type}")
            inner, _ = self.map(branches[0])
            return inner, False
        if isinstance(avro_type, dict):
            logical = avro_type.get("logicalType")
            if logical == "decimal":
                return DecimalType(avro_type["precision"], avro_type["scale"]), True
            if logical == "date":
                return DateType(), True
            kind = avro_type["type"]
            if kind == "record":
                self.named[avro_type["name"]] = avro_type
                fields = []
                for field in avro_type["fields"]:
                    field_type, required = self.map(field["type"])
                    fields.append(NestedField(self._id(), field["name"], field_type, required=required))
                return StructType(*fields), True
            if kind == "array":
                element_id = self._id()
                element, element_required = self.map(avro_type["items"])
                return ListType(element_id, element, element_required=element_required), True
            return self.map(kind)
        if avro_type in _PRIMITIVES:
            return _PRIMITIVES[avro_type], True
        if isinstance(avro_type, str) and avro_type in self.named:
            return self.map(self.named[avro_type])
        raise ContractError(f"no Iceberg mapping for Avro type {avro_type!r}")


def iceberg_schema(name: RecordName, extra: tuple[tuple[str, IcebergType, bool], ...] = ()) -> Schema:
    """The Iceberg schema derived from a record's Avro schema plus layer columns.

    Args:
        name: The record type.
        extra: ``(column, type, required)`` columns appended after the contract's fields.

    Returns:
        A schema whose top-level field ids follow the Avro field order, then the extra columns;
        nested fields (list elements, struct members) are numbered after those.
    """
    avro_fields = avro_schema_json(name)["fields"]
    mapper = _Mapper(next_id=len(avro_fields) + len(extra) + 1)
    fields: list[NestedField] = []
    for field in avro_fields:
        field_type, required = mapper.map(field["type"])
        fields.append(
            NestedField(
                field_id=len(fields) + 1,
                name=field["name"],
                field_type=field_type,
                required=required,
                doc=field.get("doc"),
            )
        )
    for column, column_type, required in extra:
        fields.append(NestedField(len(fields) + 1, column, column_type, required=required))
    return Schema(*fields)
