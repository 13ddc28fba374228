"""Sequence-gap detection: a pure tracker of contiguous sequence numbers per stream.

Venues number their messages in different scopes — per connection (Coinbase Advanced Trade
``sequence_num``), per subscription (Kalshi ``sid``/``seq``), per product (Kraken Futures book
``seq``, Coinbase Exchange ``trade_id``), per symbol (Binance trade ids). The collector picks the
scope key and the number from each venue module (e.g. ``coinbase.sequence_of``,
``kalshi.subscription_sequence``) and feeds them here; the tracker says whether the number continues
the stream, repeats an old one, or skips ahead (a gap: the missing range is what to repair).

The first number seen for a key is its baseline; :meth:`SequenceTracker.reset` forgets a key (on
reconnect or resubscribe, where numbering restarts). Some frames do not carry a number of the stream
but say how far it has got (a Coinbase Exchange heartbeat's ``last_trade_id``): :meth:`SequenceTracker.reveal`
takes such a **horizon** — everything up to it exists, so what was not seen up to it is a gap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Literal

Outcome = Literal["first", "next", "duplicate", "gap"]


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """What one sequence number means for its stream.

    Attributes:
        outcome: ``first`` (baseline), ``next`` (contiguous), ``duplicate`` (not newer than the last),
            or ``gap`` (numbers were skipped).
        missing_from: First missing number of a gap (inclusive).
        missing_to: Last missing number of a gap (inclusive).
    """

    outcome: Outcome
    missing_from: int | None = None
    missing_to: int | None = None

    @property
    def missing(self) -> int:
        """How many numbers a gap skipped (0 otherwise)."""
        if self.missing_from is None or self.missing_to is None:
            return 0
        return self.missing_to - self.missing_from + 1


class SequenceTracker:
    """The last sequence number per stream key, and what each new one means."""

    def __init__(self) -> None:
        self._last: dict[Hashable, int] = {}
        self.gaps = 0
        self.missing = 0
        self.duplicates = 0

    def observe(self, key: Hashable, sequence: int) -> Observation:
        """Record ``sequence`` for ``key`` and classify it (an old number does not move the stream back)."""
        last = self._last.get(key)
        if last is None:
            self._last[key] = sequence
            return Observation("first")
        if sequence <= last:
            self.duplicates += 1
            return Observation("duplicate")
        self._last[key] = sequence
        if sequence == last + 1:
            return Observation("next")
        observation = Observation("gap", last + 1, sequence - 1)
        self.gaps += 1
        self.missing += observation.missing
        return observation

    def reveal(self, key: Hashable, horizon: int) -> Observation:
        """Record that the stream has reached ``horizon`` (inclusive) without the number itself arriving.

        Numbers after the last one seen up to the horizon are a gap; the horizon becomes the last number
        (those numbers arriving later are duplicates: the gap's repair fetches them). No baseline yet:
        nothing is known to be missing, and the horizon is not one either (a stream starts at the first
        number seen).

        Returns:
            The gap, or ``next`` when nothing is known to be missing.
        """
        last = self._last.get(key)
        if last is None or horizon <= last:
            return Observation("next")
        self._last[key] = horizon
        observation = Observation("gap", last + 1, horizon)
        self.gaps += 1
        self.missing += observation.missing
        return observation

    def reset(self, key: Hashable | None = None) -> None:
        """Forget one key (or all): its next number is a new baseline."""
        if key is None:
            self._last.clear()
        else:
            self._last.pop(key, None)
