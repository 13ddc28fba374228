"""Parse captured frames offline (``ticklake parse``): normalized records and rejects as JSON lines."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from streaming.errors import ParseError
from streaming.venues.registry import PARSERS
from ticklake.timeutil import now_ns


def _frame_of(line: str) -> tuple[bytes, int | None]:
    """The frame bytes of one input line: a bare frame, or a JSON object with a ``raw`` field."""
    stripped = line.strip()
    if stripped.startswith("{") and '"raw"' in stripped:
        try:
            wrapper = json.loads(stripped)
        except json.JSONDecodeError:
            return stripped.encode(), None
        if isinstance(wrapper, dict) and isinstance(wrapper.get("raw"), str):
            ts = wrapper.get("ts_recv")
            return wrapper["raw"].encode(), ts if isinstance(ts, int) else None
    return stripped.encode(), None


def _jsonable(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(record).__name__}
    for key, value in dataclasses.asdict(record).items():
        out[key] = str(value) if isinstance(value, Decimal) else value
    return out


def parse_lines(venue: str, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Parse each non-empty line; yield one JSON object per record, control frame or reject."""
    parse = PARSERS[venue]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        frame, ts_recv = _frame_of(line)
        try:
            parsed = parse(frame, ts_recv if ts_recv is not None else now_ns())
        except ParseError as error:
            yield {"line": number, "error": str(error), "raw": frame.decode("utf-8", "replace")}
            continue
        if parsed.control is not None:
            yield {"line": number, "control": parsed.control, "channel": parsed.channel}
        for record in parsed.records:
            yield {"line": number, **_jsonable(record)}
