"""Partitioning of the silver layer: daily, by UTC event date."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

from ticklake.settings import get_settings


def daily_partitions() -> DailyPartitionsDefinition:
    """Daily UTC partitions from ``TICKLAKE_PARTITIONS_START`` up to and including today."""
    return DailyPartitionsDefinition(
        start_date=get_settings().partitions_start.isoformat(), timezone="UTC", end_offset=1
    )
