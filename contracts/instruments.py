"""Canonical instrument naming, the same across venues.

| kind | form | example |
|---|---|---|
| spot pair | ``BASE-QUOTE`` | ``BTC-USDT`` |
| perpetual swap | ``BASE-QUOTE-PERP`` | ``BTC-USD-PERP`` |
| dated future | ``BASE-QUOTE-YYYYMMDD`` (expiry, UTC) | ``BTC-USD-20261225`` |
| prediction contract | ``VENUE:ID`` (the venue's market or outcome-token id) | ``KALSHI:KXBTCD-25NOV2117-T95999.99`` |

Assets are upper case and use the common code (``BTC``, not Kraken's ``XBT``). Venue modules map
their own symbols to and from these names; this module only validates and splits them.
"""

from __future__ import annotations

import re
from typing import Literal

InstrumentKind = Literal["spot", "perpetual", "future", "prediction"]

_SPOT = re.compile(r"^([A-Z0-9]+)-([A-Z0-9]+)$")
_PERP = re.compile(r"^([A-Z0-9]+)-([A-Z0-9]+)-PERP$")
_FUTURE = re.compile(r"^([A-Z0-9]+)-([A-Z0-9]+)-(\d{8})$")
_PREDICTION = re.compile(r"^(KALSHI|POLYMARKET):([A-Za-z0-9._-]{1,128})$")

PREDICTION_VENUES = {"kalshi": "KALSHI", "polymarket": "POLYMARKET"}
"""Venue id -> prefix of its prediction-market instruments."""


def split_spot(instrument: str) -> tuple[str, str]:
    """Split a canonical spot instrument into base and quote.

    Raises:
        ValueError: The name is not ``BASE-QUOTE`` in upper case.
    """
    match = _SPOT.match(instrument)
    if match is None:
        raise ValueError(f"{instrument!r} is not a canonical BASE-QUOTE instrument such as 'BTC-USDT'")
    return match.group(1), match.group(2)


def kind_of(instrument: str) -> InstrumentKind:
    """The kind of a canonical instrument.

    Raises:
        ValueError: The name is not canonical.
    """
    if _PERP.match(instrument):
        return "perpetual"
    if _FUTURE.match(instrument):
        return "future"
    if _SPOT.match(instrument):
        return "spot"
    if _PREDICTION.match(instrument):
        return "prediction"
    raise ValueError(
        f"{instrument!r} is not a canonical instrument: BASE-QUOTE, BASE-QUOTE-PERP, BASE-QUOTE-YYYYMMDD "
        "or VENUE:ID (e.g. 'BTC-USDT', 'BTC-USD-PERP', 'KALSHI:KXBTCD-25NOV2117-T95999.99')"
    )


def is_canonical(instrument: str) -> bool:
    """Whether ``instrument`` is a canonical instrument name."""
    try:
        kind_of(instrument)
    except ValueError:
        return False
    return True


def prediction_instrument(venue: str, market_id: str) -> str:
    """The canonical name of a prediction-market contract.

    Raises:
        ValueError: The venue has no prediction markets, or the id has characters outside ``[A-Za-z0-9._-]``.
    """
    name = f"{PREDICTION_VENUES[venue]}:{market_id}" if venue in PREDICTION_VENUES else ""
    if not _PREDICTION.match(name):
        raise ValueError(f"cannot name a {venue} contract {market_id!r}")
    return name
