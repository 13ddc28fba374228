"""Streaming: venue parsers, WebSocket transport, collectors, Kafka, the bronze sink, the simulator."""
