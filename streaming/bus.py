"""Kafka helpers: client configuration from settings, topics, producers and consumers.

Any librdkafka property passes through ``TICKLAKE_KAFKA_PROPERTIES`` (SASL/TLS included), so the same
code runs against a real cluster; the embedded broker is only the default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streaming.errors import BrokerError
from ticklake.settings import Settings

log = logging.getLogger(__name__)

TOPIC_KINDS = ("raw", "trades", "book", "ticker", "lifecycle", "dlq", "gaps", "candles", "late_trades")
"""Record kinds that have a topic: raw frames, trades, book updates, tickers, lifecycle events, dead letters,
sequence gaps, live candles and late trades."""


def client_config(settings: Settings) -> dict[str, str | int | float | bool]:
    """The configuration every Kafka client shares."""
    return {"bootstrap.servers": settings.kafka_bootstrap, **settings.kafka_properties}


def make_producer(
    settings: Settings, client_id: str, on_delivery_error: Callable[[KafkaError, Message], None] | None = None
) -> Producer:
    """An idempotent producer (no duplicates from retries, order kept per partition).

    Args:
        settings: Platform settings.
        client_id: The client id the broker sees.
        on_delivery_error: Called from ``poll``/``flush`` with the error and the message for every message
            that could not be delivered. Successful deliveries call nothing (``delivery.report.only.error``):
            no Python call per message, as a ``produce(..., on_delivery=...)`` callback would cost.
    """
    config: dict[str, Any] = {
        **client_config(settings),
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1_000_000,
    }
    if on_delivery_error is not None:
        config.update({"on_delivery": on_delivery_error, "delivery.report.only.error": True})
    return Producer(config)


def make_consumer(settings: Settings, client_id: str) -> Consumer:
    """A consumer for explicit partition assignment: no group management, no auto commit.

    Offsets live in the Iceberg snapshot summaries, never in Kafka.
    """
    return Consumer(
        {
            **client_config(settings),
            "client.id": client_id,
            "group.id": f"{settings.topic_prefix}.{client_id}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
        }
    )


def ensure_topics(settings: Settings, kinds: Iterable[str] = TOPIC_KINDS, timeout: float = 15.0) -> list[str]:
    """Create the topics of the given kinds if missing; return their names.

    Raises:
        BrokerError: The broker cannot be reached or refuses to create a topic.
    """
    admin = AdminClient(client_config(settings))
    names = [settings.topic(kind) for kind in kinds]
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as error:
        raise BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {error}") from error
    missing = [name for name in names if name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=settings.topic_partitions, replication_factor=1) for name in missing],
            operation_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result(timeout)
            except KafkaException as error:
                if "TOPIC_ALREADY_EXISTS" not in str(error):
                    raise BrokerError(f"cannot create topic {name}: {error}") from error
            log.info("created topic %s with %d partitions", name, settings.topic_partitions)
    return names


def cluster_id(settings: Settings, timeout: float = 15.0) -> str:
    """The id of the Kafka cluster the settings point at (``""`` when the broker reports none).

    Raises:
        BrokerError: The broker cannot be reached.
    """
    admin = AdminClient(client_config(settings))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {error}") from error
    return metadata.cluster_id or ""


def partitions_of(settings: Settings, topic: str, timeout: float = 15.0) -> list[int]:
    """The partition ids of a topic.

    Raises:
        BrokerError: The topic does not exist or the broker cannot be reached.
    """
    admin = AdminClient(client_config(settings))
    try:
        metadata = admin.list_topics(topic, timeout=timeout)
    except KafkaException as error:
        raise BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {error}") from error
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise BrokerError(f"topic {topic} does not exist")
    return sorted(info.partitions)
