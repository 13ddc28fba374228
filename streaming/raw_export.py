"""Export raw frames from ``bronze.raw_messages`` as a replayable recording (JSON lines, in arrival order)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import And, EqualTo, Reference
from pyiceberg.expressions.literals import literal

from contracts.tables import BRONZE_RAW


def recording_line(venue: str, ts_recv: int, payload: bytes) -> str:
    """One recording line (with the newline): ``raw`` for UTF-8 frames, ``raw_b64`` for the others."""
    record: dict[str, object] = {"venue": venue, "ts_recv": ts_recv}
    try:
        record["raw"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        record["raw_b64"] = base64.b64encode(payload).decode("ascii")
    return json.dumps(record, ensure_ascii=False) + "\n"


def export_raw_messages(catalog: Catalog, venue: str, day: dt.date, out: Path, *, limit: int | None = None) -> int:
    """Write a venue's raw frames of one UTC day to ``out``, ordered by connection and sequence within arrival time.

    Returns:
        How many frames were written.
    """
    try:
        table = catalog.load_table(BRONZE_RAW.identifier)
    except NoSuchTableError:
        return 0
    rows = (
        table.scan(
            row_filter=And(
                EqualTo(term=Reference("venue"), value=literal(venue)),
                EqualTo(term=Reference("event_date"), value=literal(day)),
            ),
            selected_fields=("ts_recv", "connection_id", "seq", "payload"),
        )
        .to_arrow()
        .sort_by([("ts_recv", "ascending"), ("connection_id", "ascending"), ("seq", "ascending")])
    )
    if limit is not None:
        rows = rows.slice(0, limit)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        times, payloads = rows.column("ts_recv").to_pylist(), rows.column("payload").to_pylist()
        for ts_recv, payload in zip(times, payloads, strict=True):
            handle.write(recording_line(venue, ts_recv, payload))
    return len(times)
