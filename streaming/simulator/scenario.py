"""Fault scenarios of the simulator: which trades to skip, repeat, reorder or follow with garbage.

Pure decisions, no I/O: the server asks :class:`Faults` about the Nth trade it generates (and about
the time, for bursts and silence) and acts on the answer.

| preset | what a collector sees |
|---|---|
| ``steady`` | every trade once, in order |
| ``bursts`` | every 10 s, 2 s at 10x the rate |
| ``disconnects`` | every connection closed every 5 s |
| ``gaps`` | every 50th trade never sent (its id is used: a sequence gap, repairable over REST) |
| ``duplicates`` | every 20th trade sent twice |
| ``out_of_order`` | every 15th trade delivered after the one that follows it |
| ``malformed`` | a malformed frame after every 25th trade |
| ``silence`` | after 10 s the venue stops sending anything (the connection stays open) for 15 s |
| ``all`` | all of the above |

Each explicit ``sim_*`` setting overrides the preset's value of that knob.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ticklake.settings import Settings

_PRESETS: dict[str, dict[str, Any]] = {
    "steady": {},
    "bursts": {"burst_every": 10.0, "burst_seconds": 2.0, "burst_factor": 10.0},
    "disconnects": {"drop_every": 5.0},
    "gaps": {"skip_every": 50},
    "duplicates": {"duplicate_every": 20},
    "out_of_order": {"reorder_every": 15},
    "malformed": {"malformed_every": 25},
    "silence": {"silence_after": 10.0, "silence_seconds": 15.0},
}
_PRESETS["all"] = {knob: value for preset in _PRESETS.values() for knob, value in preset.items()}


@dataclasses.dataclass(frozen=True)
class Faults:
    """The faults of one simulator run (every knob ``None`` or off means a steady venue).

    Attributes:
        skip_every: Every Nth generated trade is never sent (a sequence gap).
        duplicate_every: Every Nth sent trade is sent twice.
        reorder_every: Every Nth trade is held back and delivered after the next trade of its instrument.
        malformed_every: After every Nth trade, a malformed frame.
        drop_every: Every connection is closed this often (seconds).
        burst_every: Every this many seconds a burst starts...
        burst_seconds: ...lasting this long...
        burst_factor: ...at this multiple of the rate.
        silence_after: Seconds after the start when the venue goes silent.
        silence_seconds: How long the silence lasts (``None``: for good).
    """

    skip_every: int | None = None
    duplicate_every: int | None = None
    reorder_every: int | None = None
    malformed_every: int | None = None
    drop_every: float | None = None
    burst_every: float | None = None
    burst_seconds: float = 1.0
    burst_factor: float = 1.0
    silence_after: float | None = None
    silence_seconds: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Faults:
        """The preset ``sim_scenario``, with every explicitly set ``sim_*`` knob taking precedence."""
        values = dict(_PRESETS[settings.sim_scenario])
        explicit = settings.model_fields_set
        for field in dataclasses.fields(cls):
            name = f"sim_{field.name}"
            if name in explicit or (field.name not in values and getattr(settings, name) is not None):
                values[field.name] = getattr(settings, name)
        return cls(**values)

    @staticmethod
    def _every(n: int | None, index: int) -> bool:
        return bool(n) and index % n == 0  # type: ignore[operator]

    def skip(self, generated: int) -> bool:
        """Whether the ``generated``-th trade (1-based) is lost on the wire."""
        return self._every(self.skip_every, generated)

    def duplicate(self, sent: int) -> bool:
        """Whether the ``sent``-th trade (1-based) is sent twice."""
        return self._every(self.duplicate_every, sent)

    def reorder(self, sent: int) -> bool:
        """Whether the ``sent``-th trade (1-based) is held back behind the next one."""
        return self._every(self.reorder_every, sent)

    def malformed(self, sent: int) -> bool:
        """Whether a malformed frame follows the ``sent``-th trade (1-based)."""
        return self._every(self.malformed_every, sent)

    def rate_factor(self, elapsed: float) -> float:
        """The multiple of the configured rate at ``elapsed`` seconds after the start."""
        if self.burst_every is None:
            return 1.0
        phase = elapsed % self.burst_every
        return self.burst_factor if phase >= self.burst_every - self.burst_seconds else 1.0

    def silent(self, elapsed: float) -> bool:
        """Whether the venue sends nothing at ``elapsed`` seconds after the start."""
        if self.silence_after is None or elapsed < self.silence_after:
            return False
        return self.silence_seconds is None or elapsed < self.silence_after + self.silence_seconds
