"""Schema compatibility: is a new Avro schema BACKWARD compatible with a released one?

BACKWARD means a consumer using the new schema can read everything written with the old one, so
consumers can be upgraded before producers and bronze written under the old contract stays
readable. The rules are Avro's schema-resolution rules, with the new schema as reader:

* a field the new schema adds needs a default; a field it drops is fine;
* a field kept under the same name must resolve: same type, or a promotion Avro allows
  (int -> long/float/double, long -> float/double, float -> double, string <-> bytes);
* unions: every branch the old schema could write must resolve to a branch of the new one;
* decimals keep their scale and may only grow their precision; enums may only gain symbols;
  fixed keeps its size; arrays and maps resolve by their items and values.

Released contracts live in ``contracts/released/<version>/``; the newest version is the baseline.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _unwrap(schema: Any) -> Any:
    """``{"type": "long"}`` -> ``"long"`` and ``{"type": [...]}`` -> ``[...]`` (logical types stay)."""
    if isinstance(schema, dict) and "logicalType" not in schema:
        inner = schema.get("type")
        if isinstance(inner, list) or inner in _PRIMITIVES:
            return inner
    return schema


class _Resolver:
    """Walks a writer (old) and reader (new) schema pair, collecting every incompatibility."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.writer_names: dict[str, Any] = {}
        self.reader_names: dict[str, Any] = {}
        self._seen: set[tuple[str, str]] = set()

    def _deref(self, schema: Any, names: dict[str, Any]) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return names.get(_short(schema), schema)
        if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
            names.setdefault(_short(schema["name"]), schema)
        return schema

    @staticmethod
    def _kind(schema: Any) -> str:
        if isinstance(schema, list):
            return "union"
        if isinstance(schema, dict):
            if schema.get("logicalType") == "decimal":
                return "decimal"
            kind = schema["type"]
            return kind if isinstance(kind, str) else "union"
        return str(schema)

    def _matches(self, writer: Any, reader: Any) -> bool:
        """Whether writer resolves to reader, without recording problems."""
        probe = _Resolver()
        probe.writer_names, probe.reader_names = self.writer_names, self.reader_names
        probe.resolve(writer, reader, "")
        return not probe.problems

    def resolve(self, writer: Any, reader: Any, path: str) -> None:
        writer = _unwrap(self._deref(writer, self.writer_names))
        reader = _unwrap(self._deref(reader, self.reader_names))
        w_kind, r_kind = self._kind(writer), self._kind(reader)
        if w_kind == "union":
            for branch in writer:
                self.resolve(branch, reader, path)
            return
        if r_kind == "union":
            if not any(self._matches(writer, branch) for branch in reader):
                self.problems.append(f"{path or 'schema'}: old type {w_kind} matches no branch of the new union")
            return
        if w_kind != r_kind:
            if r_kind not in _PROMOTIONS.get(w_kind, set()):
                self.problems.append(f"{path or 'schema'}: type changed from {w_kind} to {r_kind}")
            return
        if w_kind == "decimal":
            if writer.get("scale", 0) != reader.get("scale", 0):
                self.problems.append(
                    f"{path}: decimal scale changed from {writer.get('scale', 0)} to {reader.get('scale', 0)}"
                )
            if reader["precision"] < writer["precision"]:
                self.problems.append(
                    f"{path}: decimal precision shrank from {writer['precision']} to {reader['precision']}"
                )
        elif w_kind == "record":
            self._record(writer, reader, path)
        elif w_kind == "enum":
            missing = sorted(set(writer["symbols"]) - set(reader["symbols"]))
            if missing and "default" not in reader:
                self.problems.append(f"{path}: enum symbols removed without a default: {missing}")
        elif w_kind == "fixed":
            if writer["size"] != reader["size"]:
                self.problems.append(f"{path}: fixed size changed from {writer['size']} to {reader['size']}")
        elif w_kind == "array":
            self.resolve(writer["items"], reader["items"], f"{path}[]")
        elif w_kind == "map":
            self.resolve(writer["values"], reader["values"], f"{path}{{}}")

    def _record(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> None:
        key = (_short(writer["name"]), _short(reader["name"]))
        if key in self._seen:
            return
        self._seen.add(key)
        if _short(writer["name"]) != _short(reader["name"]) and _short(writer["name"]) not in reader.get("aliases", []):
            self.problems.append(f"{path or 'schema'}: record renamed from {writer['name']} to {reader['name']}")
        old_fields = {field["name"]: field for field in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", [])]
            old = next((old_fields[name] for name in names if name in old_fields), None)
            where = f"{path}.{field['name']}" if path else field["name"]
            if old is None:
                if "default" not in field:
                    self.problems.append(f"{where}: new field without a default")
                continue
            self.resolve(old["type"], field["type"], where)


def backward_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why data written with ``old`` cannot be read with ``new`` (empty when BACKWARD compatible)."""
    resolver = _Resolver()
    resolver.resolve(old, new, "")
    return resolver.problems


def released_dir() -> Path:
    """The folder holding released contract versions."""
    return Path(str(resources.files("contracts").joinpath("released")))


def released_versions() -> list[int]:
    """Released versions, oldest first."""
    folder = released_dir()
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()) if folder.is_dir() else []


def check_against_release(current_dir: Path | None = None) -> dict[str, list[str]]:
    """Compare every current contract with the newest released one.

    Args:
        current_dir: Folder of the current ``*.avsc`` files (default: ``contracts/avro``).

    Returns:
        Record name -> problems, for every record that breaks BACKWARD compatibility. A record
        that the release does not have is new and fine; a released record that is gone is a problem.
    """
    current_dir = current_dir or Path(str(resources.files("contracts").joinpath("avro")))
    versions = released_versions()
    if not versions:
        return {}
    release = released_dir() / str(versions[-1])
    problems: dict[str, list[str]] = {}
    for released in sorted(release.glob("*.avsc")):
        current = current_dir / released.name
        if not current.exists():
            problems[released.stem] = [f"removed (released in version {versions[-1]})"]
            continue
        found = backward_problems(json.loads(released.read_text()), json.loads(current.read_text()))
        if found:
            problems[released.stem] = found
    return problems
