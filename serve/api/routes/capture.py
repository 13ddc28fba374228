"""Capture quality per venue: sequence gaps (found, missing, repaired) and dead letters.

``/v1/capture`` answers JSON; ``/metrics`` (outside ``/v1``, where scrapers look) answers the same
counts in the Prometheus text format. Both read ``bronze.gaps`` and ``bronze.dead_letters`` (small
tables: a row per gap or per rejected frame), ``/v1/capture`` optionally from a given UTC day on.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Query, Response
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, GreaterThanOrEqual, Reference
from pyiceberg.expressions.literals import literal

from contracts.tables import BRONZE_DEAD_LETTERS, BRONZE_GAPS, TableDef
from serve.api.deps import LakeDep
from serve.api.models import CaptureResponse, VenueCapture

router = APIRouter(tags=["capture"])
metrics_router = APIRouter(tags=["capture"])


def _read(lake: LakeDep, table: TableDef, columns: tuple[str, ...], since: dt.date | None) -> pa.Table:
    try:
        loaded = lake.catalog().load_table(table.identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return pa.table({column: [] for column in columns})
    row_filter: BooleanExpression = AlwaysTrue()
    if since is not None:
        row_filter = GreaterThanOrEqual(term=Reference("event_date"), value=literal(since))
    return loaded.scan(row_filter=row_filter, selected_fields=columns).to_arrow()


def capture_counts(lake: LakeDep, since: dt.date | None) -> dict[str, VenueCapture]:
    """The capture counts of every venue that has gaps or dead letters."""
    counts: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"gaps": 0, "missing": 0, "repaired_gaps": 0, "book_gaps": 0, "dead_letters": {}}
    )
    gaps = _read(lake, BRONZE_GAPS, ("venue", "stream", "first_missing", "last_missing", "missing", "repaired"), since)
    # A gap is published when found and again once repaired: count each (venue, stream, range) once.
    found: dict[tuple[str, str, int, int], tuple[int, bool]] = {}
    for row in gaps.to_pylist():
        key = (row["venue"], row["stream"], row["first_missing"], row["last_missing"])
        missing, repaired = found.get(key, (row["missing"], False))
        found[key] = (missing, repaired or bool(row["repaired"]))
    for (venue, stream, *_), (missing, repaired) in found.items():
        if stream.startswith("book:"):  # healed by a new snapshot, not by fetching what was missed
            counts[venue]["book_gaps"] += 1
            continue
        counts[venue]["gaps"] += 1
        counts[venue]["missing"] += missing
        counts[venue]["repaired_gaps"] += int(repaired)
    letters = _read(lake, BRONZE_DEAD_LETTERS, ("venue", "stage"), since)
    for row in letters.to_pylist():
        stages = counts[row["venue"]]["dead_letters"]
        stages[row["stage"]] = stages.get(row["stage"], 0) + 1
    return {venue: VenueCapture(**values) for venue, values in sorted(counts.items())}


Since = Annotated[
    dt.date | None, Query(description="Count from this UTC day on (YYYY-MM-DD); default: everything kept.")
]


@router.get("/capture", summary="Gaps and dead letters per venue")
def get_capture(lake: LakeDep, since: Since = None) -> CaptureResponse:
    """Sequence gaps found (with the trades they missed and how many gaps were repaired) and dead letters by stage."""
    return CaptureResponse(since=since, venues=capture_counts(lake, since))


def prometheus_text(venues: dict[str, VenueCapture]) -> str:
    """The counts in the Prometheus text exposition format (version 0.0.4)."""
    lines = [
        "# HELP ticklake_gaps_total Sequence gaps found on a venue stream.",
        "# TYPE ticklake_gaps_total counter",
        *(f'ticklake_gaps_total{{venue="{v}"}} {c.gaps}' for v, c in venues.items()),
        "# HELP ticklake_gap_missing_total Messages or trades the gaps skipped.",
        "# TYPE ticklake_gap_missing_total counter",
        *(f'ticklake_gap_missing_total{{venue="{v}"}} {c.missing}' for v, c in venues.items()),
        "# HELP ticklake_gaps_repaired_total Gaps completely repaired from the venue's REST history.",
        "# TYPE ticklake_gaps_repaired_total counter",
        *(f'ticklake_gaps_repaired_total{{venue="{v}"}} {c.repaired_gaps}' for v, c in venues.items()),
        "# HELP ticklake_book_gaps_total Order books found out of sync: sequence gap or checksum (each resnapshotted).",
        "# TYPE ticklake_book_gaps_total counter",
        *(f'ticklake_book_gaps_total{{venue="{v}"}} {c.book_gaps}' for v, c in venues.items()),
        "# HELP ticklake_dead_letters_total Frames rejected, by stage.",
        "# TYPE ticklake_dead_letters_total counter",
        *(
            f'ticklake_dead_letters_total{{venue="{v}",stage="{stage}"}} {n}'
            for v, c in venues.items()
            for stage, n in sorted(c.dead_letters.items())
        ),
    ]
    return "\n".join(lines) + "\n"


@metrics_router.get("/metrics", summary="Capture counts for Prometheus", response_class=Response)
def get_metrics(lake: LakeDep) -> Response:
    """The counts of ``/v1/capture`` (everything kept) in the Prometheus text format."""
    return Response(prometheus_text(capture_counts(lake, None)), media_type="text/plain; version=0.0.4")
