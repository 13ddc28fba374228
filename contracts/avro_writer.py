"""Avro binary encoders specialised per record type: generated once, byte-identical to fastavro.

:func:`contracts.schemas.encode` used to convert a record's decimals (``to_wire``) and hand it to
fastavro's ``schemaless_writer``, which walks the schema for every record and resolves each union by
validating the value against every branch. Here each record type gets a Python function generated
from its Avro schema (as :mod:`dataclasses` does for ``__init__``): one straight-line block per field
that checks the value's exact type and appends its bytes, decimals converted inline.

Four paths, one result:

* The **fast path** (the generated function) takes only the values records are made of: a plain
  ``dict`` with exactly the schema's fields; ``str``, ``bytes``, ``int`` in the long range, ``float``,
  ``True``/``False``, ``Decimal`` that fits ``decimal(38, 18)``, ``None`` in nullable fields and
  ``list`` of plain ``dict`` levels. It writes the same bytes as fastavro, and raises on anything else.
* The **attribute path** (generated too) encodes a record *object* of :mod:`contracts.records` without
  building its dict: it reads the fields straight from the object's attributes (a nested record's from
  its items' attributes, in a tuple or list), ``ts_ingest`` from its argument. It writes exactly what
  the fast path writes for ``record.to_record(ts_ingest)``, and hands anything else to it.
* The **values path** (generated too) takes the fields as arguments, in schema order, for a caller that
  has the values and no record object to build (the collector's raw copy of every frame). It writes
  exactly what the fast path writes for the dict of those values, and hands anything else to it.
* The **slow path** handles whatever the fast path declined, with the semantics ``encode`` always
  had: field by field, the field's decimal converter from :mod:`contracts.schemas` and then fastavro's
  writer on that one field (a record's encoding is the concatenation of its fields'). So a value
  fastavro used to accept (``bytearray`` for bytes, an ``int`` for a double...) is still accepted
  with the same bytes, and an invalid one raises :class:`~contracts.schemas.ContractError` naming
  the record and the field. A record that is not a ``dict`` goes through the former path whole.

Supported Avro types, exactly those the contracts use: ``string``, ``bytes``, ``long``, ``boolean``,
``double``, the ``decimal`` logical type on ``bytes`` (scale 18), two-branch unions with ``null``,
arrays, and records (nested or named). A schema using anything else keeps the fastavro path.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import io
import keyword
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal, NoReturn

import fastavro

from contracts.schemas import (
    _LIMIT,
    _WIDE,
    SCALE,
    ContractError,
    RecordName,
    _converter,
    _fastavro_encode,
    _to_unscaled_bytes,
    _wire_type,
    avro_schema_json,
)

Encoder = Callable[[Any], bytes]
AttributeEncoder = Callable[[Any, int], bytes]
"""Encodes a record object stamped with an ingest time: ``(record, ts_ingest)``."""
ValuesEncoder = Callable[..., bytes]
"""Encodes a record given its field values as arguments, in schema order."""
Reads = Literal["dict", "attributes", "values"]
"""Where a generated encoder reads the fields: a dict, a record object's attributes, its arguments."""

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class _OffPath(Exception):
    """The fast path does not take this value; the slow path decides."""


class _Unsupported(Exception):
    """The schema uses an Avro type the generator does not handle."""


def _off_path() -> NoReturn:
    raise _OffPath


def _uvarint(n: int) -> bytes:
    """Avro's variable-length encoding of a non-negative integer: 7 bits a byte, low bits first."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_LOW = tuple(_uvarint(n) for n in range(1 << 14))
"""The varint of every value below 2**14 (one or two bytes)."""
_LOW_MORE = tuple(bytes((n & 0x7F | 0x80, n >> 7 | 0x80)) for n in range(1 << 14))
"""Any 14 bits as the two varint bytes they make when more bytes follow."""
_SIZE = _LOW[::2]
"""The length prefix (a zigzag long: twice the length) of every length below 2**13."""
_HIGH: dict[int, bytes] = {}
"""Varints of the bits above the low 28 of recent longs: epoch-ns times share them for ~0.13 s."""


def _string(value: str, cache: dict[str, bytes]) -> bytes:
    """A string's length and UTF-8 bytes, remembered in its field's ``cache`` if it is short.

    Venue, instrument, symbol, side, channel... take few values: a dictionary hit (the string's hash
    is cached on it) costs less than encoding. The cache is cleared when full (1024 strings of at
    most 64 bytes), so a field of unique values (trade ids) pays one insertion per record, no memory.
    """
    data = value.encode()
    size = len(data)
    encoded = (_SIZE[size] if size < 0x2000 else _uvarint(size << 1)) + data
    if size <= 64:
        if len(cache) >= 1024:
            cache.clear()
        cache[value] = encoded
    return encoded


def _high(value: int) -> bytes:
    """The varint of ``value``, remembered in :data:`_HIGH` (kept small: cleared when full)."""
    if len(_HIGH) >= 4096:
        _HIGH.clear()
    encoded = _HIGH[value] = _uvarint(value)
    return encoded


_RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))

_HELPERS: dict[str, Any] = {
    "_Decimal": Decimal,
    "_WIDE": _WIDE,
    "_OffPath": _OffPath,
    "_off_path": _off_path,
    "_uvarint": _uvarint,
    "_LOW": _LOW,
    "_SIZE": _SIZE,
    "_string": _string,
    "_LOW_MORE": _LOW_MORE,
    "_HIGH": _HIGH,
    "_high": _high,
    "_pack_double": struct.Struct("<d").pack,
}
"""The globals of generated code."""


class _Generator:
    """Writes the source of one record type's fast path.

    Every ``_value`` method emits statements that check the value held in a local and leave its
    encoding in one or more locals (the "pieces"), which the function joins at the end.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.named: dict[str, dict[str, Any]] = {}
        self.lines: list[str] = []
        self.globals: dict[str, Any] = {}
        self.indent = 1
        self.used: set[str] = set()
        self.reads: Reads = "dict"

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def local(self, hint: str) -> str:
        """A fresh local name readable in the generated source (never a keyword, builtin or helper)."""
        base = "".join(c if c.isalnum() else "_" for c in hint).strip("_") or "v"
        if base[0].isdigit():
            base = f"v_{base}"
        name, n = base, 1
        while name in self.used or name in _RESERVED:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name

    def source(self, function: str, fallback: str | None, reads: Reads = "dict") -> str:
        """The source of one encoder function, reading the fields where ``reads`` says.

        ``function(record)`` of a dict; ``function(record, ts_ingest)`` of a record object (``attributes``: its
        fields read as attributes, a nested record's from its items', ``ts_ingest`` from the argument); or
        ``function(<field>, ...)`` of the fields' values in schema order (``values``).

        Args:
            function: The function's name.
            fallback: An expression any exception on the fast path returns instead (``None``: none).
            reads: Where the fields are read.

        Raises:
            _Unsupported: The schema uses an Avro type the generator does not handle, has no ``ts_ingest``
                (``attributes``), or a field name that cannot be an argument (``values``).
        """
        names = [field["name"] for field in self.schema["fields"]]
        if reads == "attributes" and "ts_ingest" not in names:
            raise _Unsupported("the attribute path stamps ts_ingest, which the schema does not have")
        if reads == "values" and not all(name.isidentifier() and name not in _RESERVED for name in names):
            raise _Unsupported(f"the values path takes the fields as arguments, which {names} cannot all be")
        self.lines, self.indent, self.reads = [], 2 if fallback else 1, reads
        self.used = {"dict": {"record"}, "attributes": {"record", "ts_ingest"}, "values": set(names)}[reads]
        pieces = self.record_value(self.schema, "record", "")
        self.emit(f"return b''.join(({', '.join(pieces)},))")
        arguments = {"dict": "record", "attributes": "record, ts_ingest", "values": ", ".join(names)}[reads]
        head = [f"def {function}({arguments}):"]
        if fallback:
            head.append("    try:")
            self.lines.append("    except Exception:")
            self.lines.append(f"        return {fallback}")
        return "\n".join([*head, *self.lines]) + "\n"

    def value(self, avro_type: Any, var: str, path: str) -> list[str]:
        """Statements for the value in local ``var`` of type ``avro_type``; the names of its pieces."""
        if isinstance(avro_type, list):
            return self.union_value(avro_type, var, path)
        if isinstance(avro_type, str):
            if avro_type in self.named:
                return self.record_value(self.named[avro_type], var, path)
            kind, logical = avro_type, None
        else:
            kind, logical = avro_type["type"], avro_type.get("logicalType")
        if logical == "decimal":
            return self.decimal_value(avro_type, var, path)
        if isinstance(kind, (dict, list)):
            return self.value(kind, var, path)
        method = getattr(self, f"{kind}_value", None)
        if method is None or kind in {"union", "decimal"}:
            raise _Unsupported(f"{path or 'record'}: Avro type {avro_type!r}")
        pieces: list[str] = method(avro_type, var, path)
        return pieces

    def string_value(self, _: Any, var: str, path: str) -> list[str]:
        out = self.local(f"{path}_string")
        cache = self.cache(f"_{out}s")
        self.emit(f"if type({var}) is not str:")
        self.emit("    raise _OffPath")
        self.emit(f"{out} = {cache}.get({var}) or _string({var}, {cache})")
        return [out]

    def bytes_value(self, _: Any, var: str, path: str) -> list[str]:
        size = self.local(f"{path}_size")
        self.emit(f"if type({var}) is not bytes:")
        self.emit("    raise _OffPath")
        self.emit(f"{size} = {self.length(var)}")
        return [size, var]

    def cache(self, name: str) -> str:
        """A dictionary the generated code keeps between calls, as a global of that name."""
        self.globals.setdefault(name, {})
        return name

    @staticmethod
    def length(var: str) -> str:
        """An expression for the length prefix of ``var``."""
        return f"_SIZE[len({var})] if len({var}) < 0x2000 else _uvarint(len({var}) << 1)"

    def long_value(self, _: Any, var: str, path: str) -> list[str]:
        """The zigzag varint in three pieces (the low 14 bits, the next 14, the rest), joined with the record's."""
        zigzag = self.local(f"{path}_zigzag")
        low, middle, high = self.local(f"{path}_low"), self.local(f"{path}_middle"), self.local(f"{path}_high")
        self.emit(f"if type({var}) is not int:")
        self.emit("    raise _OffPath")
        self.emit(f"{zigzag} = {var} << 1 if {var} >= 0 else ~({var} << 1)  # (n << 1) ^ (n >> 63) in the long range")
        self.emit(f"if {zigzag} < 0x4000:")
        self.emit(f"    {low}, {middle}, {high} = _LOW[{zigzag}], b'', b''")
        self.emit(f"elif {zigzag} < 0x10000000:")
        self.emit(f"    {low}, {middle}, {high} = _LOW_MORE[{zigzag} & 0x3FFF], _LOW[{zigzag} >> 14], b''")
        self.emit(
            f"elif {zigzag} <= 0xFFFFFFFFFFFFFFFF:  # 4 low bytes from the tables, the high bits' varint remembered"
        )
        self.emit(f"    {low} = _LOW_MORE[{zigzag} & 0x3FFF]")
        self.emit(f"    {middle} = _LOW_MORE[({zigzag} >> 14) & 0x3FFF]")
        self.emit(f"    {high} = _HIGH.get({zigzag} >> 28) or _high({zigzag} >> 28)")
        self.emit("else:  # outside the long range")
        self.emit("    raise _OffPath")
        return [low, middle, high]

    def double_value(self, _: Any, var: str, path: str) -> list[str]:
        out = self.local(f"{path}_double")
        self.emit(f"if type({var}) is not float:")
        self.emit("    raise _OffPath")
        self.emit(f"{out} = _pack_double({var})")
        return [out]

    def boolean_value(self, _: Any, var: str, path: str) -> list[str]:
        out = self.local(f"{path}_bool")
        self.emit(f"{out} = b'\\x01' if {var} is True else b'\\x00' if {var} is False else _off_path()")
        return [out]

    def decimal_value(self, avro_type: Any, var: str, path: str) -> list[str]:
        """Exactly ``schemas._to_unscaled_bytes``; anything it would refuse goes off the fast path."""
        if avro_type.get("scale") != SCALE or avro_type["type"] != "bytes":
            raise _Unsupported(f"{path}: decimals must be bytes at scale {SCALE}, got {avro_type}")
        scaled, unscaled = self.local(f"{path}_scaled"), self.local(f"{path}_unscaled")
        data, size = self.local(f"{path}_bytes"), self.local(f"{path}_size")
        self.emit(f"if type({var}) is not _Decimal:")
        self.emit("    raise _OffPath")
        self.emit(f"{scaled} = {var}.scaleb({SCALE}, _WIDE)")
        self.emit(f"{unscaled} = int({scaled})")
        self.emit(f"if {unscaled} != {scaled} or not -{_LIMIT} < {unscaled} < {_LIMIT}:")
        self.emit("    raise _OffPath")
        self.emit(f"{data} = {unscaled}.to_bytes(({unscaled}.bit_length() + 8) // 8, 'big', signed=True)")
        self.emit(f"{size} = _SIZE[len({data})]  # at most 17 bytes")
        return [size, data]

    def union_value(self, branches: list[Any], var: str, path: str) -> list[str]:
        """``[null, T]`` or ``[T, null]``: the branch index, then T's pieces (empty for ``None``)."""
        if len(branches) != 2 or "null" not in branches or branches[0] == branches[1]:
            raise _Unsupported(f"{path}: only two-branch unions with null are generated, got {branches}")
        null_index = branches.index("null")
        other = branches[1 - null_index]
        primitive = isinstance(other, str) and other in _PRIMITIVES
        if not (primitive or (isinstance(other, dict) and other.get("logicalType") == "decimal")):
            raise _Unsupported(f"{path}: only a primitive or a decimal besides null is generated, got {branches}")
        index = self.local(f"{path}_branch")
        outer, self.lines = self.lines, []
        self.indent += 1
        pieces = self.value(other, var, path)
        self.indent -= 1
        inner, self.lines = self.lines, outer
        self.emit(f"if {var} is None:")
        self.emit(f"    {index} = {_uvarint(2 * null_index)!r}")
        for piece in pieces:  # the value's own local among them: nothing reads it after its pieces
            self.emit(f"    {piece} = b''")
        self.emit("else:")
        self.emit(f"    {index} = {_uvarint(2 * (1 - null_index))!r}")
        self.lines.extend(inner)
        return [index, *pieces]

    def array_value(self, avro_type: dict[str, Any], var: str, path: str) -> list[str]:
        """One block (count, items) then the zero count that ends the array, as fastavro writes it.

        A ``list``; on the attribute path a ``tuple`` or ``list`` (``to_record`` makes a list of either).
        """
        out, parts, item = self.local(f"{path}_array"), self.local(f"{path}_parts"), self.local(f"{path}_item")
        if self.reads == "attributes":
            self.emit(f"if type({var}) is not tuple and type({var}) is not list:")
        else:
            self.emit(f"if type({var}) is not list:")
        self.emit("    raise _OffPath")
        self.emit(f"if {var}:")
        self.indent += 1
        self.emit(f"{parts} = [{self.length(var)}]")
        self.emit(f"for {item} in {var}:")
        self.indent += 1
        pieces = self.value(avro_type["items"], item, f"{path}_item")
        self.emit(f"{parts} += ({', '.join(pieces)},)")
        self.indent -= 1
        self.emit(f"{parts}.append(b'\\x00')")
        self.emit(f"{out} = b''.join({parts})")
        self.indent -= 1
        self.emit("else:")
        self.emit(f"    {out} = b'\\x00'")
        return [out]

    def record_value(self, schema: dict[str, Any], var: str, path: str) -> list[str]:
        """A plain dict with exactly the record's fields, each encoded in schema order.

        On the attribute path: any object, its fields read as attributes (the top record's ``ts_ingest`` is
        the argument), as ``to_record`` reads them. On the values path, the top record's fields are the
        arguments (a nested record is a dict).
        """
        self.register(schema)
        fields = schema["fields"]
        top = not path
        if self.reads == "dict" or (self.reads == "values" and not top):
            self.emit(f"if type({var}) is not dict or len({var}) != {len(fields)}:")
            self.emit("    raise _OffPath")
        pieces: list[str] = []
        for field in fields:
            name = field["name"]
            field_path = f"{path}_{name}" if path else name
            if top and (self.reads == "values" or (self.reads == "attributes" and name == "ts_ingest")):
                pieces.extend(self.value(field["type"], name, field_path))  # an argument
                continue
            field_var = self.local(field_path)
            if self.reads != "attributes":
                self.emit(f"{field_var} = {var}[{name!r}]")
            elif name.isidentifier() and not keyword.iskeyword(name):
                self.emit(f"{field_var} = {var}.{name}")
            else:
                self.emit(f"{field_var} = getattr({var}, {name!r})")
            pieces.extend(self.value(field["type"], field_var, field_path))
        return pieces

    def register(self, schema: dict[str, Any]) -> None:
        if schema.get("type") != "record":
            raise _Unsupported(f"expected a record schema, got {schema!r}")
        self.named[schema["name"]] = schema
        namespace = schema.get("namespace") or self.schema.get("namespace")
        if namespace and "." not in schema["name"]:
            self.named[f"{namespace}.{schema['name']}"] = schema


def _inline_named(avro_type: Any, named: dict[str, Any], defined: set[str]) -> Any:
    """``avro_type`` standing alone: a named type defined by an earlier field is written out in full.

    Every named type met is recorded in ``named``; ``defined`` holds those already written in this
    type (a reference to them stays a reference).
    """
    if isinstance(avro_type, list):
        return [_inline_named(branch, named, defined) for branch in avro_type]
    if isinstance(avro_type, str):
        if avro_type in _PRIMITIVES or avro_type not in named or named[avro_type]["name"] in defined:
            return avro_type
        return _inline_named(named[avro_type], named, defined)
    copied = dict(avro_type)
    if copied.get("type") in {"record", "enum", "fixed"}:
        named[copied["name"]] = avro_type
        defined.add(copied["name"])
    if "fields" in copied:
        copied["fields"] = [
            {**field, "type": _inline_named(field["type"], named, defined)} for field in copied["fields"]
        ]
    for key in ("items", "values"):
        if key in copied:
            copied[key] = _inline_named(copied[key], named, defined)
    return copied


def _field_writer(
    record: RecordName, schema: dict[str, Any], field: dict[str, Any], named: dict[str, Any], wire_named: dict[str, Any]
) -> Encoder:
    """The slow path of one field: its decimal converter, then fastavro's writer on that field alone.

    ``named`` and ``wire_named`` carry the named types of the fields before (as written in the
    schema, and with decimals as bytes); this field's are added to them.
    """
    name, avro_type = field["name"], field["type"]
    convert = _converter(avro_type, named, _to_unscaled_bytes)
    alone = _inline_named(_wire_type(avro_type), wire_named, set())
    wrapper = fastavro.parse_schema(
        {
            "type": "record",
            "name": schema["name"],
            "namespace": schema.get("namespace", ""),
            "fields": [{"name": name, "type": alone}],
        }
    )

    def write(value: Any) -> bytes:
        buffer = io.BytesIO()
        try:
            fastavro.schemaless_writer(buffer, wrapper, {name: convert(value) if convert else value}, strict=True)
        except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError) as error:
            raise ContractError(f"{record}: field {name!r}: {error}") from error
        return buffer.getvalue()

    return write


def _slow_encoder(record: RecordName, schema: dict[str, Any]) -> Encoder:
    """The semantics ``encode`` always had, field by field, naming the field in every error."""
    named: dict[str, Any] = {}
    wire_named: dict[str, Any] = {}
    writers = [(field["name"], _field_writer(record, schema, field, named, wire_named)) for field in schema["fields"]]
    names = [name for name, _ in writers]
    copies_dicts = _converter(schema, {}, _to_unscaled_bytes) is not None  # its to_wire copied the record

    def slow(value: Any) -> bytes:
        if type(value) is not dict:
            if not (copies_dicts and isinstance(value, dict)):
                return _fastavro_encode(record, value)
            value = dict(value)
        missing = [name for name in names if name not in value]
        if missing:
            raise ContractError(f"{record}: field {missing[0]!r} is missing")
        if len(value) != len(names):
            extra = ", ".join(sorted(repr(key) for key in value if key not in names))
            raise ContractError(f"{record}: field {extra} is not in the schema")
        return b"".join(write(value[name]) for name, write in writers)

    return slow


@dataclasses.dataclass(frozen=True)
class RecordEncoder:
    """The encoders of one record type.

    Attributes:
        name: The record type.
        encode: The encoder ``contracts.schemas.encode`` uses: the fast path, falling back to the slow one.
        fast: The generated fast path alone (``None`` if the schema is not supported): raises on any
            value it does not take, without saying why.
        slow: The field-by-field path through the decimal converters and fastavro.
        attributes: ``(record, ts_ingest)``: the same bytes as ``encode(record.to_record(ts_ingest))`` for a
            record object of :mod:`contracts.records`, read from its attributes; any value the attribute path
            does not take goes that way (``None`` if the schema is not supported or has no ``ts_ingest``).
        attributes_fast: The generated attribute path alone (``None`` likewise): raises on any value it does
            not take.
        values: ``(<field>, ...)``: the same bytes as ``encode`` of the dict of these field values, given in
            schema order; any value the values path does not take goes that way (``None`` if the schema is not
            supported).
        values_fast: The generated values path alone (``None`` likewise): raises on any value it does not take.
        source: The generated source of ``encode``, ``attributes`` and ``values`` (empty if the schema is not
            supported).
    """

    name: RecordName
    encode: Encoder
    fast: Encoder | None
    slow: Encoder
    attributes: AttributeEncoder | None
    attributes_fast: AttributeEncoder | None
    values: ValuesEncoder | None
    values_fast: ValuesEncoder | None
    source: str


@functools.cache
def record_encoder(name: RecordName) -> RecordEncoder:
    """The encoders of a record type, generated from its Avro schema on first use.

    Args:
        name: The record type.

    Returns:
        Its :class:`RecordEncoder`; if the schema uses an Avro type the generator does not handle,
        ``encode`` is the former fastavro path.
    """
    schema = avro_schema_json(name)
    slow = _slow_encoder(name, schema)
    generator = _Generator(schema)
    try:
        sources = {
            f"encode_{name}_fast": generator.source(f"encode_{name}_fast", fallback=None),
            f"encode_{name}": generator.source(f"encode_{name}", fallback="_slow(record)"),
        }
    except _Unsupported:
        return RecordEncoder(name, functools.partial(_fastavro_encode, name), None, slow, None, None, None, None, "")
    as_dict = ", ".join(f"{field['name']!r}: {field['name']}" for field in schema["fields"])
    variants: list[tuple[str, Reads, str]] = [
        ("attributes", "attributes", f"encode_{name}(record.to_record(ts_ingest))"),
        ("values", "values", f"encode_{name}({{{as_dict}}})"),
    ]
    for variant, reads, fallback in variants:
        try:
            sources[f"encode_{name}_{variant}_fast"] = generator.source(f"encode_{name}_{variant}_fast", None, reads)
            sources[f"encode_{name}_{variant}"] = generator.source(f"encode_{name}_{variant}", fallback, reads)
        except _Unsupported:
            continue
    namespace: dict[str, Any] = {**_HELPERS, **generator.globals, "_slow": slow}
    for function, source in sources.items():
        exec(compile(source, f"<avro_writer {function}>", "exec"), namespace)
    return RecordEncoder(
        name,
        encode=namespace[f"encode_{name}"],
        fast=namespace[f"encode_{name}_fast"],
        slow=slow,
        attributes=namespace.get(f"encode_{name}_attributes"),
        attributes_fast=namespace.get(f"encode_{name}_attributes_fast"),
        values=namespace.get(f"encode_{name}_values"),
        values_fast=namespace.get(f"encode_{name}_values_fast"),
        source="".join(source for function, source in sources.items() if not function.endswith("_fast")),
    )
