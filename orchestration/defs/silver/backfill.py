"""Backfill of the silver partitions of a date range, in process, with the code location's own definitions."""

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence

from dagster import AssetKey, DagsterInstance, materialize
from dagster_shared.error import SerializableErrorInfo

from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.assets import SILVER_ASSETS, SILVER_KEYS
from orchestration.defs.silver.checks import SILVER_CHECKS
from orchestration.defs.silver.partitions import daily_partitions
from ticklake.errors import TicklakeError


class BackfillError(TicklakeError):
    """A backfill request is invalid: bad range, dates outside the partitions, unknown assets."""


@dataclasses.dataclass(frozen=True)
class PartitionOutcome:
    """What the backfill of one partition did.

    Attributes:
        partition: The partition key (``YYYY-MM-DD``).
        success: Whether every selected asset materialized.
        seconds: Wall time of the partition.
        metadata: Per asset key (``silver/candles``), its materialization metadata (plain values).
        checks: Per asset check name, whether it passed (the checks of the selected assets run too).
        error: The failure, when it failed.
    """

    partition: str
    success: bool
    seconds: float
    metadata: dict[str, dict[str, object]]
    checks: dict[str, bool] = dataclasses.field(default_factory=dict)
    error: str | None = None


def resolve_assets(names: Sequence[str] | None) -> list[AssetKey]:
    """The silver asset keys named ``silver/trades``... (all of them when none are named), in build order.

    Raises:
        BackfillError: A name is not a silver asset.
    """
    known = {key.to_user_string(): key for key in SILVER_KEYS}
    if not names:
        return list(SILVER_KEYS)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BackfillError(f"unknown assets {unknown}; the silver assets are {', '.join(known)}")
    return [key for key in SILVER_KEYS if key.to_user_string() in names]


def partition_range(start: dt.date, end: dt.date) -> list[str]:
    """The daily partition keys ``start..end``.

    Raises:
        BackfillError: ``end`` before ``start``, or a date outside the partitions (before
            ``TICKLAKE_PARTITIONS_START`` or after today, UTC).
    """
    if end < start:
        raise BackfillError(f"the range is empty: --to {end} is before --from {start}")
    keys = daily_partitions().get_partition_keys()
    first, last = (keys[0], keys[-1]) if keys else ("", "")
    wanted = [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    outside = [key for key in wanted if not first <= key <= last]
    if outside:
        raise BackfillError(
            f"{outside[0]} is outside the daily partitions {first}..{last} (TICKLAKE_PARTITIONS_START up to today, UTC)"
        )
    return wanted


def _root_cause(error: SerializableErrorInfo) -> str:
    """The innermost error's message (Dagster wraps a step's exception in its own)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _plain(value: object) -> object:
    return getattr(value, "value", value)


def backfill(
    instance: DagsterInstance,
    partitions: Sequence[str],
    assets: Sequence[AssetKey],
    lake: LakeResource | None = None,
    on_start: Callable[[str], None] | None = None,
    on_done: Callable[[PartitionOutcome], None] | None = None,
) -> list[PartitionOutcome]:
    """Materialize the selected silver assets of each partition, one run per partition, in date order.

    A failed partition does not stop the others.

    Args:
        instance: The Dagster instance the runs are recorded in.
        partitions: Daily partition keys.
        assets: Silver asset keys (see :func:`resolve_assets`).
        lake: The lake resource (default: the settings from the environment).
        on_start: Called with each partition key before its run.
        on_done: Called with each partition's outcome.

    Returns:
        The outcome of every partition.
    """
    outcomes = []
    for partition in partitions:
        if on_start is not None:
            on_start(partition)
        started = time.monotonic()
        result = materialize(
            [*SILVER_ASSETS, *SILVER_CHECKS],
            selection=list(assets),
            partition_key=partition,
            instance=instance,
            resources={"lake": lake or LakeResource()},
            tags={"ticklake/backfill": "cli"},
            raise_on_error=False,
        )
        metadata: dict[str, dict[str, object]] = {}
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            if materialization is not None:
                metadata[materialization.asset_key.to_user_string()] = {
                    name: _plain(value) for name, value in materialization.metadata.items()
                }
        error = None
        if not result.success:
            errors = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
            error = next((_root_cause(e) for e in errors if e is not None), "the run failed")
        checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
        outcome = PartitionOutcome(partition, result.success, time.monotonic() - started, metadata, checks, error)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes
