"""The normalized record types that travel on the bus and land in bronze.

All times are integer epoch nanoseconds (UTC). Prices and sizes are :class:`decimal.Decimal` parsed
from the wire's text, never through a float.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, Literal, cast

Side = Literal["buy", "sell", "unknown"]
"""The taker (aggressor) side of a trade."""


class _BusRecord:
    """A record that travels on the bus: its Avro record is its fields plus the ingest time."""

    __slots__ = ()

    def to_record(self, ts_ingest: int) -> dict[str, Any]:
        """The Avro record, stamped with the time the record enters the bus (epoch ns)."""
        record = dataclasses.asdict(self)  # type: ignore[call-overload]
        record["ts_ingest"] = ts_ingest
        return cast(dict[str, Any], record)


@dataclasses.dataclass(frozen=True, slots=True)
class Trade(_BusRecord):
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


@dataclasses.dataclass(frozen=True, slots=True)
class RawMessage(_BusRecord):
    """One frame exactly as received on a venue connection."""

    venue: str
    channel: str
    connection_id: str
    seq: int
    ts_recv: int
    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter(_BusRecord):
    """Input that could not be processed, with the stage, the error and the raw bytes."""

    venue: str
    stage: str
    error: str
    ts_recv: int
    payload: bytes
    connection_id: str | None = None
    seq: int | None = None
    source: str | None = None
