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


class _BusRecord:
    """A record that travels on the bus: its Avro record is its fields plus the ingest time."""

    __slots__ = ()

    def to_record(self, ts_ingest: int) -> dict[str, Any]:
        """The Avro record, stamped with the time the record enters the bus (epoch ns).

        A shallow copy of the fields (``dataclasses.asdict`` deep-copies and costs 20 times more on the
        collector's hot path); records with nested values override this.
        """
        record = {name: getattr(self, name) for name in self.__dataclass_fields__}  # type: ignore[attr-defined]
        record["ts_ingest"] = ts_ingest
        return record


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


@dataclasses.dataclass(frozen=True, slots=True)
class Level:
    """One price level of a book update: the new absolute size at that price (0 removes it)."""

    price: Decimal
    size: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class BookUpdate(_BusRecord):
    """An order-book update of one instrument, with the venue's sequence and checksum.

    ``kind`` says how to apply the levels: ``snapshot`` replaces the book; ``delta`` sets each level's
    absolute size (0 removes it); ``increment`` adds each level's signed size to the current one
    (venues such as Kalshi send quantity changes, not sizes).
    """

    venue: str
    instrument: str
    symbol: str
    kind: Literal["snapshot", "delta", "increment"]
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_event: int
    ts_recv: int
    first_sequence: int | None = None
    sequence: int | None = None
    prev_sequence: int | None = None
    checksum: int | None = None

    def to_record(self, ts_ingest: int) -> dict[str, Any]:
        """The Avro record, levels as ``{"price", "size"}`` mappings."""
        record = _BusRecord.to_record(self, ts_ingest)
        record["bids"] = [{"price": level.price, "size": level.size} for level in self.bids]
        record["asks"] = [{"price": level.price, "size": level.size} for level in self.asks]
        return record


@dataclasses.dataclass(frozen=True, slots=True)
class Ticker(_BusRecord):
    """Top of book and market statistics; measures a venue does not send stay ``None``."""

    venue: str
    instrument: str
    symbol: str
    ts_event: int
    ts_recv: int
    best_bid: Decimal | None = None
    best_bid_size: Decimal | None = None
    best_ask: Decimal | None = None
    best_ask_size: Decimal | None = None
    last_price: Decimal | None = None
    volume_24h: Decimal | None = None
    funding_rate: Decimal | None = None
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    open_interest: Decimal | None = None
    sequence: int | None = None


LifecycleEvent = Literal[
    "created", "opened", "paused", "resumed", "closed", "determined", "settled", "status", "tick_size"
]


@dataclasses.dataclass(frozen=True, slots=True)
class Lifecycle(_BusRecord):
    """A market lifecycle event (prediction markets, listings, venue status)."""

    venue: str
    instrument: str
    symbol: str
    event: LifecycleEvent
    ts_event: int
    ts_recv: int
    status: str | None = None
    result: str | None = None
    details: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Gap(_BusRecord):
    """Sequence numbers a venue stream skipped (first..last missing, inclusive)."""

    venue: str
    stream: str
    connection_id: str
    first_missing: int
    last_missing: int
    missing: int
    ts_recv: int
    repaired: bool = False


Record = Trade | BookUpdate | Ticker | Lifecycle
"""Any normalized record a venue parser produces."""
