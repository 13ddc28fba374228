"""Data contracts: record types, their Avro schemas, the Iceberg schemas derived from them, naming."""

from contracts.records import BookUpdate, DeadLetter, Level, Lifecycle, RawMessage, Record, Side, Ticker, Trade

__all__ = ["BookUpdate", "DeadLetter", "Level", "Lifecycle", "RawMessage", "Record", "Side", "Ticker", "Trade"]
