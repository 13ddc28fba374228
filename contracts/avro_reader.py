"""Avro binary decoders specialised per record type: generated once, checked against fastavro.

The bronze sink decodes every message it lands. fastavro's ``schemaless_reader`` walks the schema
for each record and builds a ``dict``, and the decimals then went through a converter to
:class:`~decimal.Decimal`: 42 % of the sink's CPU at 20k trades/s. Here each record type gets two
functions generated from its Avro schema (as :mod:`contracts.avro_writer` does for encoding), one
straight-line block per field reading at a position in the bytes:

* ``into`` appends each field to its **column** (a list per field): nested records as tuples,
  arrays as lists, and every decimal as its **unscaled integer** (the value times 10**18), what an
  Arrow ``decimal128`` column is made of. The sink builds its Arrow columns from those lists without
  a ``dict``, a row or a ``Decimal`` per record (:mod:`streaming.bronze_arrow`); a record that fails
  to decode appends nothing.
* ``decode`` returns the ``dict`` :func:`contracts.schemas.decode` always returned (decimals as
  :class:`~decimal.Decimal`, exactly fastavro's values).

Both are stricter than fastavro where fastavro would let damage through: bytes left over after the
record, a boolean byte other than 0 or 1, a long beyond 64 bits, a length past the end or a
decimal beyond 38 digits (Arrow could not hold it) raise :class:`~contracts.schemas.ContractError`,
so such a message becomes a dead letter instead of a row. Every other input decodes to exactly what
fastavro returns, or fails with it (property-tested against fastavro for every contract).

Supported Avro types, those the contracts use: ``string``, ``bytes``, ``long``, ``boolean``,
``double``, the ``decimal`` logical type on ``bytes`` (scale 18), two-branch unions with ``null``,
arrays and records (nested or named). :func:`record_reader` refuses a schema using anything else,
and a test generates every contract.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from contracts.schemas import _LIMIT, _WIDE, SCALE, ContractError, RecordName, avro_schema_json

Reader = Callable[[bytes], Any]

_from_bytes = int.from_bytes
_PRIMITIVES = frozenset({"null", "boolean", "long", "double", "bytes", "string"})
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


class _Damaged(ValueError):
    """The bytes are not a record of the type (the message says why)."""


_PAIRS = [(pair & 0x7F) | (pair >> 8 & 0x7F) << 7 for pair in range(1 << 16)]
"""The 14 bits two varint bytes carry, by the two bytes read as a little-endian 16-bit integer."""
_HIGH: dict[bytes, int] = {}
"""The bits above the low 28 of recent 9-byte longs, by their last 5 bytes: epoch-ns times share them."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The zigzag long at ``pos`` (its first byte has the continuation bit set).

    A long of 2 or 3 bytes is read at once; a 9-byte long (an epoch-ns time) whose upper bytes were
    seen recently takes two table lookups and a dictionary hit (generated code does that inline);
    any other goes byte by byte.

    Returns:
        The long and the position after it.

    Raises:
        _Damaged: More than 10 bytes, or a value outside the long range.
        IndexError: The bytes end inside the long.
    """
    second = data[pos + 1]
    if second < 0x80:
        n = data[pos] & 0x7F | second << 7
        return (n >> 1) ^ -(n & 1), pos + 2
    third = data[pos + 2]
    if third < 0x80:
        n = data[pos] & 0x7F | (second & 0x7F) << 7 | third << 14
        return (n >> 1) ^ -(n & 1), pos + 3
    low = _from_bytes(data[pos : pos + 4], "little")
    if low & 0x80808080 == 0x80808080:
        high = _HIGH.get(data[pos + 4 : pos + 9])
        if high is not None:
            n = _PAIRS[low & 0xFFFF] | _PAIRS[low >> 16] << 14 | high
            return (n >> 1) ^ -(n & 1), pos + 9
    start, n, shift = pos, 0, 0
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift >= 70:
            raise _Damaged("a long longer than 10 bytes")
    value = (n >> 1) ^ -(n & 1)
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise _Damaged(f"a long out of range: {value}")
    if pos - start == 9:
        if len(_HIGH) >= 4096:
            _HIGH.clear()
        _HIGH[data[start + 4 : pos]] = n >> 28 << 28
    return value, pos


def _damaged(why: str) -> Any:
    raise _Damaged(why)


_HELPERS: dict[str, Any] = {
    "_varint": _varint,
    "_PAIRS": _PAIRS,
    "_HIGH": _HIGH,
    "_Damaged": _Damaged,
    "_damaged": _damaged,
    "_from_bytes": _from_bytes,
    "_Decimal": Decimal,
    "_WIDE": _WIDE,
    "_unpack_double": struct.Struct("<d").unpack_from,
    "_ContractError": ContractError,
}
"""The globals of generated code."""


class _Generator:
    """Writes the source of one record type's reader.

    Every ``*_value`` method emits statements that read one value at ``pos`` in ``data`` (advancing
    ``pos``) and returns the name of the local holding it.

    Args:
        name: The record type (errors name it).
        schema: The record's Avro schema (parsed JSON).
        decimals: ``True``: decimals as :class:`~decimal.Decimal` and records as ``dict``; ``False``:
            unscaled integers and tuples.
    """

    def __init__(self, name: RecordName, schema: dict[str, Any], decimals: bool) -> None:
        self.name = name
        self.schema = schema
        self.decimals = decimals
        self.named: dict[str, dict[str, Any]] = {}
        self.lines: list[str] = []
        self.indent = 0
        self.count = 0

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def local(self, hint: str) -> str:
        """A fresh local name (numbered: field names never clash with the helpers or each other)."""
        self.count += 1
        return f"{''.join(c if c.isalnum() else '_' for c in hint)}_{self.count}"

    def source(self, function: str) -> str:
        """The decoding function ``function(data)``; in columns mode, ``function(*appends)`` binding it."""
        self.indent = 2 if self.decimals else 3
        values = self.fields_values(self.schema, "")
        body = "\n".join(self.lines)
        failed = f"{self.name}: cannot decode {{len(data)}} bytes"
        pad = "    " * (self.indent - 2)
        read = (
            f"{pad}    try:\n"
            f"{pad}        pos = 0\n"
            f"{body}\n"
            f"{pad}        if pos != len(data):\n"
            f"{pad}            raise _Damaged(f'{{len(data) - pos}} bytes after the record')\n"
            f"{pad}    except IndexError:\n"
            f"{pad}        raise _ContractError(f'{failed}: the record ends early') from None\n"
            f"{pad}    except ValueError as error:  # _Damaged, UnicodeDecodeError\n"
            f"{pad}        raise _ContractError(f'{failed}: {{error}}') from None\n"
        )
        if self.decimals:
            return f"def {function}(data):\n{read}    return {self.as_dict(values)}\n"
        appends = [f"append_{name}" for name in values]
        return (
            f"def {function}({', '.join(appends)}):\n"
            f"    def into_{self.name}(data):\n"
            f"{read}"
            + "".join(f"        {append}({value})\n" for append, value in zip(appends, values.values(), strict=True))
            + f"    return into_{self.name}\n"
        )

    @staticmethod
    def as_dict(values: dict[str, str]) -> str:
        """A dict display of the fields' locals."""
        return f"{{{', '.join(f'{name!r}: {value}' for name, value in values.items())}}}"

    def value(self, avro_type: Any, path: str) -> str:
        if isinstance(avro_type, list):
            return self.union_value(avro_type, path)
        if isinstance(avro_type, str):
            if avro_type in self.named:
                return self.record_value(self.named[avro_type], path)
            kind, logical = avro_type, None
        else:
            kind, logical = avro_type["type"], avro_type.get("logicalType")
        if logical == "decimal":
            return self.decimal_value(avro_type, path)
        if isinstance(kind, (dict, list)):
            return self.value(kind, path)
        if kind not in _PRIMITIVES - {"null"} and kind not in {"array", "record"}:
            raise ContractError(f"{path or 'record'}: the reader does not handle Avro type {avro_type!r}")
        method: Callable[[Any, str], str] = getattr(self, f"{kind}_value")
        return method(avro_type, path)

    def long_value(self, _: Any, path: str) -> str:
        out = self.local(path)
        self.emit(f"{out} = data[pos]")
        self.emit(f"if {out} < 0x80:")
        self.emit(f"    {out} = ({out} >> 1) ^ -({out} & 1)")
        self.emit("    pos += 1")
        self.emit("else:")
        self.indent += 1
        low, high = self.local(f"{path}_low"), self.local(f"{path}_high")
        self.emit(f"{high} = _HIGH.get(data[pos + 4 : pos + 9])  # an epoch-ns time: see _varint")
        self.emit(f"{low} = _from_bytes(data[pos : pos + 4], 'little')")
        self.emit(f"if {high} is not None and {low} & 0x80808080 == 0x80808080:")
        self.emit(f"    {out} = _PAIRS[{low} & 0xFFFF] | _PAIRS[{low} >> 16] << 14 | {high}")
        self.emit(f"    {out} = ({out} >> 1) ^ -({out} & 1)")
        self.emit("    pos += 9")
        self.emit("else:")
        self.emit(f"    {out}, pos = _varint(data, pos)")
        self.indent -= 1
        return out

    def _sized(self, path: str) -> str:
        """Statements reading a length prefix and checking it; the local holding the end position."""
        end = self.local(f"{path}_end")
        self.emit(f"{end} = data[pos]")
        self.emit(f"if {end} < 0x80:")
        self.emit("    pos += 1")
        self.emit(f"    {end} = pos + ({end} >> 1) if not {end} & 1 else _damaged('a negative length')")
        self.emit("else:")
        self.emit(f"    {end}, pos = _varint(data, pos)")
        self.emit(f"    {end} = pos + {end} if {end} >= 0 else _damaged('a negative length')")
        self.emit(f"if {end} > len(data):")
        self.emit(f"    raise _Damaged({f'{path}: a length past the end'!r})")
        return end

    def string_value(self, _: Any, path: str) -> str:
        out, end = self.local(path), self._sized(path)
        self.emit(f"{out} = data[pos:{end}].decode()")
        self.emit(f"pos = {end}")
        return out

    def bytes_value(self, _: Any, path: str) -> str:
        out, end = self.local(path), self._sized(path)
        self.emit(f"{out} = data[pos:{end}]")
        self.emit(f"pos = {end}")
        return out

    def double_value(self, _: Any, path: str) -> str:
        out = self.local(path)
        self.emit(
            f"{out} = _unpack_double(data, pos)[0] if pos + 8 <= len(data) else _damaged('the record ends early')"
        )
        self.emit("pos += 8")
        return out

    def boolean_value(self, _: Any, path: str) -> str:
        out = self.local(path)
        self.emit(f"{out} = data[pos]")
        self.emit("pos += 1")
        self.emit(f"{out} = True if {out} == 1 else False if {out} == 0 else _damaged('a boolean byte not 0 or 1')")
        return out

    def decimal_value(self, avro_type: Any, path: str) -> str:
        if avro_type.get("scale") != SCALE or avro_type["type"] != "bytes":
            raise ContractError(f"{path}: decimals must be bytes at scale {SCALE}, got {avro_type}")
        out, end = self.local(path), self._sized(path)
        self.emit(f"{out} = _from_bytes(data[pos:{end}], 'big', signed=True)")
        self.emit(f"pos = {end}")
        self.emit(f"if not -{_LIMIT} < {out} < {_LIMIT}:")
        self.emit(f"    raise _Damaged({f'{path}: a decimal beyond 38 digits'!r})")
        if self.decimals:
            self.emit(f"{out} = _Decimal({out}).scaleb(-{SCALE}, _WIDE)")
        return out

    def union_value(self, branches: list[Any], path: str) -> str:
        """``[null, T]`` or ``[T, null]``: the branch index (a long), then T's value if not null."""
        if len(branches) != 2 or "null" not in branches or branches[0] == branches[1]:
            raise ContractError(f"{path}: only two-branch unions with null are read, got {branches}")
        null_index = branches.index("null")
        out, index = self.local(path), self.local(f"{path}_branch")
        self.emit(f"{index} = data[pos]")
        self.emit("pos += 1")
        self.emit(f"if {index} == {2 * null_index}:")
        self.emit(f"    {out} = None")
        self.emit(f"elif {index} == {2 * (1 - null_index)}:")
        self.indent += 1
        inner = self.value(branches[1 - null_index], path)
        self.emit(f"{out} = {inner}")
        self.indent -= 1
        self.emit("else:")
        self.emit(f"    raise _Damaged({f'{path}: no such union branch'!r})")
        return out

    def array_value(self, avro_type: dict[str, Any], path: str) -> str:
        """Blocks of items, each a count (negative: followed by the block's size in bytes), up to a 0 count."""
        out = self.local(path)
        self.emit(f"{out} = []")
        self.emit("while True:")
        self.indent += 1
        count = self.long_value(None, f"{path}_count")
        self.emit(f"if {count} == 0:")
        self.emit("    break")
        self.emit(f"if {count} < 0:")
        self.indent += 1
        self.emit(f"{count} = -{count}")
        self.long_value(None, f"{path}_block_size")
        self.indent -= 1
        self.emit(f"for _ in range({count}):")
        self.indent += 1
        item = self.value(avro_type["items"], f"{path}_item")
        self.emit(f"{out}.append({item})")
        self.indent -= 2
        return out

    def fields_values(self, schema: dict[str, Any], path: str) -> dict[str, str]:
        """Statements reading a record's fields in order; the local holding each field's value."""
        self.register(schema)
        return {
            field["name"]: self.value(field["type"], f"{path}_{field['name']}" if path else field["name"])
            for field in schema["fields"]
        }

    def record_value(self, schema: dict[str, Any], path: str) -> str:
        values = self.fields_values(schema, path)
        out = self.local(path)
        display = self.as_dict(values) if self.decimals else "(" + "".join(f"{v}, " for v in values.values()) + ")"
        self.emit(f"{out} = {display}")
        return out

    def register(self, schema: dict[str, Any]) -> None:
        if schema.get("type") != "record":
            raise ContractError(f"expected a record schema, got {schema!r}")
        self.named[schema["name"]] = schema
        namespace = schema.get("namespace") or self.schema.get("namespace")
        if namespace and "." not in schema["name"]:
            self.named[f"{namespace}.{schema['name']}"] = schema


@dataclasses.dataclass(frozen=True)
class RecordReader:
    """The decoders of one record type.

    Attributes:
        name: The record type.
        decode: Bytes to a ``dict`` (decimals as :class:`~decimal.Decimal`), as fastavro decodes.
        fields: The record's field names, in schema order.
        bind_columns: ``bind_columns(*appends)``, one ``append`` per field in schema order: a function
            reading a record's bytes and passing each field's value to its ``append`` (decimals as
            unscaled integers, nested records as tuples, arrays as lists), all or none of them.
        source: The generated source of ``bind_columns``.
    """

    name: RecordName
    decode: Reader
    fields: tuple[str, ...]
    bind_columns: Callable[..., Reader]
    source: str

    def into(self, columns: dict[str, list[Any]]) -> Reader:
        """A function appending each record it reads to ``columns`` (one list per field name)."""
        return self.bind_columns(*(columns[field].append for field in self.fields))


@functools.cache
def record_reader(name: RecordName) -> RecordReader:
    """The decoders of a record type, generated from its Avro schema on first use.

    Raises:
        ContractError: The schema uses an Avro type the generator does not handle.
    """
    schema = avro_schema_json(name)
    namespace: dict[str, Any] = dict(_HELPERS)
    sources = {}
    for function, decimals in ((f"bind_{name}", False), (f"decode_{name}", True)):
        sources[function] = _Generator(name, schema, decimals).source(function)
        exec(compile(sources[function], f"<avro_reader {function}>", "exec"), namespace)
    return RecordReader(
        name=name,
        decode=namespace[f"decode_{name}"],
        fields=tuple(field["name"] for field in schema["fields"]),
        bind_columns=namespace[f"bind_{name}"],
        source=sources[f"bind_{name}"],
    )
