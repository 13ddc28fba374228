"""Data contracts: record types, their Avro schemas, the Iceberg schemas derived from them, naming."""

from contracts.records import DeadLetter, RawMessage, Side, Trade

__all__ = ["DeadLetter", "RawMessage", "Side", "Trade"]
