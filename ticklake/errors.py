"""Exceptions of the ticklake core package."""


class TicklakeError(Exception):
    """Base class of every error ticklake raises on purpose."""


class ConfigError(TicklakeError):
    """The configuration is invalid; the message names the setting."""
