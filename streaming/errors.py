"""Exceptions of the streaming package."""

from ticklake.errors import TicklakeError


class StreamingError(TicklakeError):
    """Base class of streaming errors."""


class ParseError(StreamingError):
    """A frame could not be parsed into records; the frame goes to the dead letters."""


class BrokerError(StreamingError):
    """The Kafka broker could not be started, reached or used."""
