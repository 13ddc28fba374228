"""Canonical instrument naming.

Spot pairs are ``BASE-QUOTE`` in upper case (``BTC-USDT``). Venue modules map their own symbols to
and from this form; this module only validates and splits canonical names.
"""

from __future__ import annotations

import re

_SPOT = re.compile(r"^([A-Z0-9]+)-([A-Z0-9]+)$")


def split_spot(instrument: str) -> tuple[str, str]:
    """Split a canonical spot instrument into base and quote.

    Raises:
        ValueError: The name is not ``BASE-QUOTE`` in upper case.
    """
    match = _SPOT.match(instrument)
    if match is None:
        raise ValueError(f"{instrument!r} is not a canonical BASE-QUOTE instrument such as 'BTC-USDT'")
    return match.group(1), match.group(2)


def is_canonical(instrument: str) -> bool:
    """Whether ``instrument`` is a canonical instrument name."""
    return _SPOT.match(instrument) is not None
