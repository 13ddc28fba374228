"""The normalized record types that travel on the bus and land in bronze.

All times are integer epoch nanoseconds (UTC). Prices and sizes are :class:`decimal.Decimal` parsed
from the wire's text, never through a float.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, Literal

Side = Literal["buy", "sell", "unknown"]
"""The taker (aggressor) side of a trade."""


@dataclasses.dataclass(frozen=True, slots=True)
class Trade:
    """One executed trade. Identity: ``(venue, symbol, trade_id)``."""

    venue: str
    instrument: str
    symbol: str
    trade_id: str
    price: Decimal
    size: Decimal
    side: Side
    ts_event: int
    ts_recv: int

    def to_record(self, ts_ingest: int) -> dict[str, Any]:
        """The Avro record of this trade, stamped with the time it enters the bus."""
        record = dataclasses.asdict(self)
        record["ts_ingest"] = ts_ingest
        return record


@dataclasses.dataclass(frozen=True, slots=True)
class RawMessage:
    """One frame exactly as received on a venue connection."""

    venue: str
    channel: str
    connection_id: str
    seq: int
    ts_recv: int
    payload: bytes

    def to_record(self, ts_ingest: int) -> dict[str, Any]:
        """The Avro record of this frame, stamped with the time it enters the bus."""
        record = dataclasses.asdict(self)
        record["ts_ingest"] = ts_ingest
        return record


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input that could not be processed, with the stage, the error and the raw bytes."""

    venue: str
    stage: str
    error: str
    ts_recv: int
    payload: bytes
    connection_id: str | None = None
    seq: int | None = None
    source: str | None = None

    def to_record(self, ts_ingest: int) -> dict[str, Any]:
        """The Avro record of this dead letter, stamped with the time it enters the bus."""
        record = dataclasses.asdict(self)
        record["ts_ingest"] = ts_ingest
        return record
