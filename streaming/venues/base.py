"""What every venue parser returns."""

from __future__ import annotations

import dataclasses
from typing import Literal

from contracts.records import Record

Control = Literal["ack", "error", "heartbeat"]


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedFrame:
    """The result of parsing one frame.

    Attributes:
        channel: The stream or channel the frame belongs to (``""`` when it has none).
        records: The normalized records the frame carried (empty for control frames).
        control: For control frames (acks, errors, heartbeats), their kind; ``None`` for data.
    """

    channel: str
    records: tuple[Record, ...] = ()
    control: Control | None = None
