"""Exceptions of the serving layer.

Each error carries the HTTP status and the machine-readable ``code`` it is answered with; the app
turns them into the API's error shape ``{"error": {"code", "message", "parameter"}}``.
"""

from __future__ import annotations

from ticklake.errors import TicklakeError


class ServeError(TicklakeError):
    """Base class of the errors the API answers on purpose."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        """Create the error.

        Args:
            message: Human-readable explanation, safe to show to clients (no stack trace, no secret).
            parameter: The request parameter at fault, if any.
        """
        super().__init__(message)
        self.message = message
        self.parameter = parameter


class InvalidParameterError(ServeError):
    """A request parameter has a value the API cannot use."""

    status_code = 422
    code = "invalid_parameter"


class InvalidRangeError(InvalidParameterError):
    """The time range is empty or reversed (``start`` must be before ``end``)."""

    code = "invalid_range"


class InvalidAsOfError(ServeError):
    """The ``as_of`` time-travel point is not a time or snapshot id, or the table has no snapshot there."""

    status_code = 400
    code = "invalid_as_of"


class CatalogUnavailableError(ServeError):
    """The Iceberg catalog cannot be opened or does not answer."""

    status_code = 503
    code = "catalog_unavailable"


_SHOWN_LIMIT = 80


def invalid_value_message(parameter: str, value: object, reason: str) -> str:
    """The API's wording for a bad parameter value: names the parameter, shows the value and why.

    Args:
        parameter: The parameter's name, e.g. ``start``.
        value: What the client sent (shown truncated).
        reason: Why it is rejected, ideally with an example of a good value.

    Returns:
        E.g. ``invalid value 'abc' for 'limit': input should be a valid integer``.
    """
    text = str(value)
    if len(text) > _SHOWN_LIMIT:
        text = text[: _SHOWN_LIMIT - 3] + "..."
    return f"invalid value '{text}' for '{parameter}': {reason}"
