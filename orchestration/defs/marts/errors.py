"""Exceptions of the marts build."""

from __future__ import annotations

from ticklake.errors import TicklakeError


class MartsError(TicklakeError):
    """The marts cannot be prepared, built or published; the message says which and why."""
