"""The ``reprocess_bronze`` job: re-parse raw frames through the current parsers and rebuild bronze for dates.

The rebuilt bronze.trades commit carries ``ticklake.event_dates``, so the ``silver_candles_on_bronze``
sensor requests the silver partitions of the range right after the job (see :mod:`streaming.reprocess`).
"""

import datetime as dt
import time

from dagster import (
    AssetMaterialization,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from orchestration.defs.resources import LakeResource
from orchestration.defs.streams.jobs import bronze_key
from streaming.reprocess import ReprocessError, check_request, reprocess


class ReprocessConfig(Config):
    """What to reprocess."""

    start_date: str = Field(description="First event date, YYYY-MM-DD (UTC).")
    end_date: str = Field(description="Last event date, YYYY-MM-DD (UTC), included.")
    venues: list[str] = Field(default_factory=list, description="Only these venues (default: every venue).")
    keep_unframed: bool = Field(
        default=True,
        description="Keep rows no frame accounts for (trades repaired from REST history, rows landed meanwhile).",
    )
    margin_days: int = Field(default=1, ge=0, description="Read frames received this many days around the range.")


def _dates(config: ReprocessConfig) -> tuple[dt.date, dt.date]:
    try:
        start, end = dt.date.fromisoformat(config.start_date), dt.date.fromisoformat(config.end_date)
        check_request(start, end, config.venues)
    except (ValueError, ReprocessError) as error:
        raise Failure(description=f"invalid reprocessing request: {error}") from None
    return start, end


@op(description="Re-parse bronze.raw_messages of the date range and rebuild the frame-derived bronze tables.")
def reprocess_raw_frames(context: OpExecutionContext, config: ReprocessConfig, lake: LakeResource) -> None:
    """Rebuild bronze for the range; report each rewritten table as a materialization."""
    start, end = _dates(config)
    venues = config.venues or None
    context.log.info(f"reprocessing {start}..{end} for {', '.join(config.venues) or 'every venue'}")
    last_logged = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        if stage != "parse" or done == total or time.monotonic() - last_logged[0] >= 2.0:
            last_logged[0] = time.monotonic()
            context.log.info(f"{stage}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f}%)")

    report = reprocess(
        lake.catalog(),
        start,
        end,
        venues,
        margin_days=config.margin_days,
        keep_unframed=config.keep_unframed,
        progress=progress,
    )
    for table in report.tables:
        context.log_event(
            AssetMaterialization(
                asset_key=bronze_key(table.table),
                description=f"reprocessed {start}..{end}",
                metadata={
                    "rows_before": MetadataValue.int(table.rows_before),
                    "rows_after": MetadataValue.int(table.rows_after),
                    "kept_unframed": MetadataValue.int(table.kept_unframed),
                    "snapshot_id": MetadataValue.text(str(table.snapshot_id or "")),
                    "event_dates": MetadataValue.text(f"{start}..{end}"),
                    "venues": MetadataValue.text(",".join(report.venues) or "*"),
                },
            )
        )
    context.log.info(
        f"reprocessed {report.frames:,} frames ({report.rejects:,} rejected, {report.duplicate_trades:,} duplicate "
        f"trades) in {report.seconds:.1f} s; silver_candles_on_bronze requests the silver partitions "
        f"{start}..{end} from the new bronze.trades commit"
    )


@job(
    name="reprocess_bronze",
    executor_def=in_process_executor,
    tags={"ticklake/layer": "bronze"},
    description="Re-parse raw frames through the current parsers and rebuild bronze (then silver) for a date range.",
)
def reprocess_bronze() -> None:
    """The reprocessing job."""
    reprocess_raw_frames()
