"""Exceptions of the ticklake core package."""


class TicklakeError(Exception):
    """Base class of every error ticklake raises on purpose."""


class ConfigError(TicklakeError):
    """The configuration is invalid; the message names the setting."""


class LakeReadError(TicklakeError):
    """A lake table cannot be read as asked: unknown table, bad row filter, or no snapshot for a time travel."""
