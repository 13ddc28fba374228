"""Printing lake rows for people and pipes (``ticklake read``): JSON lines or a terminal table."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
from rich.table import Table as RichTable

from ticklake.errors import LakeReadError
from ticklake.lake import AsOf

_SNAPSHOT_ID = re.compile(r"-?\d+")


def parse_as_of(text: str) -> AsOf:
    """A snapshot id (digits) or an ISO-8601 time; a time without an offset, or a bare date, is UTC.

    Raises:
        LakeReadError: Neither.
    """
    value = text.strip()
    if _SNAPSHOT_ID.fullmatch(value):
        return int(value)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise LakeReadError(
            f"--as-of {text!r} is neither a snapshot id nor an ISO-8601 time such as 2026-11-21T10:00:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def plain(value: Any) -> Any:
    """A JSON-ready form of a lake value: exact decimals as text, dates as ISO text, bytes as UTF-8 text.

    Bytes that are not UTF-8 become ``{"base64": ...}``.
    """
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def json_lines(rows: pa.Table) -> Iterator[str]:
    """One JSON object per row, columns in table order."""
    for batch in rows.to_batches():
        for row in batch.to_pylist():
            yield json.dumps({key: plain(value) for key, value in row.items()}, ensure_ascii=False)


def rich_table(rows: pa.Table, title: str) -> RichTable:
    """A terminal table of the rows (long texts are shortened)."""
    view = RichTable(title=title, show_lines=False)
    for name in rows.column_names:
        view.add_column(name, overflow="fold")
    for row in rows.to_pylist():
        cells = []
        for name in rows.column_names:
            shown = plain(row[name])
            text = "" if shown is None else shown if isinstance(shown, str) else json.dumps(shown)
            cells.append(text if len(text) <= 80 else text[:77] + "...")
        view.add_row(*cells)
    return view
