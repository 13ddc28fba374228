"""Avro schemas of the bus records, their binary codec, and the Iceberg schemas derived from them.

The ``*.avsc`` files beside this module are the source of truth. Messages on the bus are Avro
binary (schemaless: one schema per topic, named in the message header ``ticklake.schema``); Iceberg
table schemas are derived from the same Avro records plus the columns a layer adds.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation
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


SCALE = 18
"""Fractional digits of every decimal in the contracts (``decimal(38, 18)``)."""

_WIDE = Context(prec=80)  # exact scaling of any decimal(38, 18) value, and more
_LIMIT = 10**38

Converter = Callable[[Any], Any]


def _to_unscaled_bytes(value: Any) -> bytes:
    """A decimal as Avro's decimal bytes at scale 18: the unscaled integer, two's complement big-endian.

    A value with more fractional digits is accepted only if they are all zeros (``1.000...0`` with 24
    zeros is 1); one that needs them, or more than 38 digits, or is not finite, is refused rather than
    rounded.

    Raises:
        ContractError: The value is not a decimal that fits ``decimal(38, 18)`` exactly.
    """
    if not isinstance(value, Decimal):
        raise ContractError(f"{value!r} is not a Decimal")
    try:
        scaled = value.scaleb(SCALE, _WIDE)
        unscaled = int(scaled)
    except (ValueError, OverflowError, InvalidOperation) as error:
        raise ContractError(f"{value} is not a finite decimal") from error
    if unscaled != scaled:
        raise ContractError(f"{value} has more than {SCALE} fractional digits")
    if not -_LIMIT < unscaled < _LIMIT:
        raise ContractError(f"{value} does not fit decimal(38, {SCALE})")
    return unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)


def _from_unscaled_bytes(data: bytes) -> Decimal:
    return Decimal(int.from_bytes(data, "big", signed=True)).scaleb(-SCALE, _WIDE)


def _converter(avro_type: Any, named: dict[str, Any], leaf: Converter) -> Converter | None:
    """A function applying ``leaf`` to every decimal inside values of ``avro_type`` (``None``: it holds none)."""
    if isinstance(avro_type, list):  # a union: only ['null', T] is used by the contracts
        inner = [_converter(branch, named, leaf) for branch in avro_type if branch != "null"]
        if len(inner) != 1 or inner[0] is None:
            return None
        convert = inner[0]
        return lambda value: None if value is None else convert(value)
    if isinstance(avro_type, str):
        return _converter(named[avro_type], named, leaf) if avro_type in named else None
    if avro_type.get("logicalType") == "decimal":
        if avro_type.get("scale") != SCALE:
            raise ContractError(f"decimals must have scale {SCALE}, got {avro_type}")
        return leaf
    if avro_type["type"] == "array":
        item = _converter(avro_type["items"], named, leaf)
        return None if item is None else (lambda values: [item(value) for value in values])
    if avro_type["type"] != "record":
        return None
    named[avro_type["name"]] = avro_type
    fields: dict[str, Converter] = {}
    for field in avro_type["fields"]:
        field_converter = _converter(field["type"], named, leaf)
        if field_converter is not None:
            fields[field["name"]] = field_converter
    if not fields:
        return None

    def record(value: Any) -> Any:
        if not isinstance(value, dict):
            raise ContractError(f"expected a record, got {type(value).__name__}")
        converted = dict(value)
        for name, convert in fields.items():
            if name in converted:
                converted[name] = convert(converted[name])
        return converted

    return record


def _wire_type(avro_type: Any) -> Any:
    """The Avro type with every decimal logical type replaced by its underlying ``bytes``."""
    if isinstance(avro_type, list):
        return [_wire_type(branch) for branch in avro_type]
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") == "decimal":
            return "bytes"
        copied = dict(avro_type)
        if "fields" in copied:
            copied["fields"] = [{**field, "type": _wire_type(field["type"])} for field in copied["fields"]]
        if "items" in copied:
            copied["items"] = _wire_type(copied["items"])
        return copied
    return avro_type


@functools.cache
def _codec(name: RecordName) -> tuple[Any, Converter | None, Converter | None]:
    """The parsed wire schema (decimals as plain bytes) and the decimal converters to and from it.

    fastavro's decimal logical type goes digit by digit in Python; converting the decimals here and
    writing the schema's underlying bytes gives the same binary at a fraction of the cost.
    """
    schema = avro_schema_json(name)
    wire = fastavro.parse_schema(_wire_type(schema))
    return wire, _converter(schema, {}, _to_unscaled_bytes), _converter(schema, {}, _from_unscaled_bytes)


def encode(name: RecordName, record: dict[str, Any]) -> bytes:
    """Encode a record to Avro binary, validating it against its schema.

    Decimals are written at the contracts' scale 18; one written with more fractional digits, all
    zeros beyond the 18th, is rescaled; one that needs them is refused. The encoder is generated per
    record type (:mod:`contracts.avro_writer`) and writes the same bytes fastavro did.

    Raises:
        ContractError: The record does not match the schema (the message names the field).
    """
    return _encoder(name)(record)


@functools.cache
def _encoder(name: RecordName) -> Callable[[Any], bytes]:
    from contracts.avro_writer import record_encoder  # here: avro_writer imports this module

    return record_encoder(name).encode


def _fastavro_encode(name: RecordName, record: Any) -> bytes:
    """The former :func:`encode`: decimals converted, then fastavro's writer on the wire schema.

    :mod:`contracts.avro_writer` still uses it for a record that is not a ``dict``.
    """
    wire, to_wire, _ = _codec(name)
    buffer = io.BytesIO()
    try:
        fastavro.schemaless_writer(buffer, wire, to_wire(record) if to_wire else record, strict=True)
    except ContractError as error:
        raise ContractError(f"{name}: {error}") from error
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ContractError(f"{name}: {error}") from error
    return buffer.getvalue()


def decode(name: RecordName, data: bytes) -> dict[str, Any]:
    """Decode Avro binary written by :func:`encode`.

    The decoder is generated per record type (:mod:`contracts.avro_reader`) and returns what
    fastavro did; it refuses damage fastavro let through (bytes after the record, for one).

    Raises:
        ContractError: The bytes are not a valid record of this type.
    """
    return cast(dict[str, Any], _decoder(name)(data))


@functools.cache
def _decoder(name: RecordName) -> Callable[[bytes], Any]:
    from contracts.avro_reader import record_reader  # here: avro_reader imports this module

    return record_reader(name).decode


def _fastavro_decode(name: RecordName, data: bytes) -> dict[str, Any]:
    """The former :func:`decode`: fastavro's reader on the wire schema, then the decimals converted.

    The reference the generated decoders are tested against.
    """
    wire, _, from_wire = _codec(name)
    try:
        record = cast(dict[str, Any], fastavro.schemaless_reader(io.BytesIO(data), wire, None))
    except (ValueError, TypeError, EOFError, IndexError, UnicodeDecodeError, OverflowError) as error:
        raise ContractError(f"{name}: cannot decode {len(data)} bytes: {error}") from error
    return cast(dict[str, Any], from_wire(record)) if from_wire else record


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
