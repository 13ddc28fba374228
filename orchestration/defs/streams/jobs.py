"""The long-running stream jobs: one per venue collector, and the bronze sink.

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
from streaming.collector import Collector
from streaming.feeds.registry import FEEDS
from streaming.sink import BronzeSink, CommitReport

SINK_JOB = "stream_bronze_sink"


def collector_job_name(venue: str) -> str:
    """The job name of a venue's collector."""
    return f"stream_{venue}"


def _collector_job(venue: str) -> JobDefinition:
    @op(
        name=f"capture_{venue}",
        description=f"Capture the {venue} WebSocket feed into Kafka until terminated.",
    )
    def capture(context: OpExecutionContext, lake: LakeResource) -> None:
        settings = lake.settings()
        collector = Collector(settings, FEEDS[venue](settings))
        context.log.info(f"capturing {collector.feed.url} into topics {settings.topic_prefix}.*")
        stats = asyncio.run(collector.run())
        context.log.info(f"collector stopped: {stats}")

    @job(name=collector_job_name(venue), tags={"ticklake/stream": venue}, executor_def=in_process_executor)
    def collector_job() -> None:
        capture()

    return collector_job


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


STREAM_JOBS: tuple[JobDefinition, ...] = (
    *(_collector_job(venue) for venue in FEEDS),
    bronze_sink_job,
    live_candles_job,
)


def wanted_stream_jobs(venues: list[str]) -> list[JobDefinition]:
    """The stream jobs to keep running: the collectors of ``venues`` (``settings.venues``), the sink, live candles."""
    wanted = {collector_job_name(venue) for venue in venues}
    return [job for job in STREAM_JOBS if job.name in wanted or job.tags.get("ticklake/stream") not in FEEDS]
