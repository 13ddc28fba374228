"""Streaming: venue parsers, WebSocket transport, collectors, Kafka helpers, the bronze sink, the simulator."""
