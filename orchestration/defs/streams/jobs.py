"""The long-running stream jobs: the venue collectors, the bronze sink and the live candle aggregator.

Each is a single op that runs until the run is terminated. The sink reports every Iceberg commit as a
materialization of the bronze table it wrote, with rows, Kafka offsets and the snapshot id.
"""

import asyncio
import threading

from dagster import (
    AssetKey,
    AssetMaterialization,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)

from orchestration.defs.resources import LakeResource
from streaming.aggregator import LiveCandleService, aggregator_from_settings
from streaming.collector import run_collectors
from streaming.sink import BronzeSink, CommitReport

SINK_JOB = "stream_bronze_sink"


COLLECTORS_JOB = "stream_collectors"


@op(description="Capture the WebSocket feed of every venue of TICKLAKE_VENUES into Kafka until terminated.")
def capture_venues(context: OpExecutionContext, lake: LakeResource) -> None:
    """Run one collector per configured venue in this process (one event loop, a task per venue)."""
    settings = lake.settings()
    context.log.info(f"capturing {', '.join(settings.venues)} into topics {settings.topic_prefix}.*")
    stats = asyncio.run(run_collectors(settings, settings.venues))
    for venue, venue_stats in stats.items():
        context.log.info(f"collector {venue} stopped: {venue_stats}")


@job(name=COLLECTORS_JOB, tags={"ticklake/stream": "collectors"}, executor_def=in_process_executor)
def collectors_job() -> None:
    """Every venue's collector as one Dagster run (one process: a run each would cost a process per venue)."""
    capture_venues()


def bronze_key(table: str) -> AssetKey:
    """The asset key of a bronze table identifier such as ``bronze.trades``."""
    return AssetKey(table.split("."))


@op(description="Consume the bus and commit the bronze Iceberg tables exactly once, until terminated.")
def sink_bronze(context: OpExecutionContext, lake: LakeResource) -> None:
    """Run the bronze sink, reporting each commit as an asset materialization."""
    settings = lake.settings()

    def report(commit: CommitReport) -> None:
        context.log_event(
            AssetMaterialization(
                asset_key=bronze_key(commit.table),
                description=f"{commit.rows} rows committed",
                metadata={
                    "rows": MetadataValue.int(commit.rows),
                    "snapshot_id": MetadataValue.text(str(commit.snapshot_id)),
                    "kafka_offsets": MetadataValue.json(commit.offsets),
                    "event_dates": MetadataValue.text(",".join(commit.event_dates)),
                    "commit_seconds": MetadataValue.float(round(commit.seconds, 3)),
                },
            )
        )

    sink = BronzeSink(settings, lake.catalog(), on_commit=report)
    sink.run()


@op(description="Aggregate the trades topic into live 1m/5m/1h candles (forming and sealed), until terminated.")
def aggregate_live_candles(context: OpExecutionContext, lake: LakeResource) -> None:
    """Run the live candle aggregator."""
    settings = lake.settings()
    service = LiveCandleService(settings, aggregator_factory=aggregator_from_settings(settings))
    context.log.info(f"live candles: {settings.topic('trades')} -> {settings.topic('candles')}")
    stats = service.run(threading.Event())
    context.log.info(f"live candles stopped: {stats}")


@job(name="stream_live_candles", tags={"ticklake/stream": "live_candles"}, executor_def=in_process_executor)
def live_candles_job() -> None:
    """The live candle aggregator as a Dagster job."""
    aggregate_live_candles()


@job(name=SINK_JOB, tags={"ticklake/stream": "bronze_sink"}, executor_def=in_process_executor)
def bronze_sink_job() -> None:
    """The bronze sink as a Dagster job."""
    sink_bronze()


STREAM_JOBS: tuple[JobDefinition, ...] = (collectors_job, bronze_sink_job, live_candles_job)
"""The long-running jobs the supervisor keeps alive."""
