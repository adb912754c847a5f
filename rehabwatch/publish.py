"""Publishing day grids to the stream (``activity.daygrids``), for ``rehabwatch ingest`` with
``RW_KAFKA_URL`` set and for ``rehabwatch up --demo``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.daygrid import DayGrid
from schemas.wire import HEADER_ORIGIN_MS, TopicConfig, encode_grid


def bootstrap_servers(kafka_url: str) -> list[str]:
    """``host:port`` list of a Faust broker URL (``kafka://h1:9092;kafka://h2:9092``)."""
    return [part.strip().removeprefix("kafka://") for part in kafka_url.replace(",", ";")
            .split(";") if part.strip()]


def publish_grids(kafka_url: str, grids: Sequence[DayGrid],
                  topics: TopicConfig | None = None) -> int:
    """Publish ``grids`` keyed by patient, in order, and wait until the broker has them all;
    returns how many were published. The topic is ``RW_TOPIC_DAYGRIDS`` by default; it is
    created with the configured partitions if missing (not with the broker's default, which
    would differ from what the workers expect)."""
    return asyncio.run(_publish(bootstrap_servers(kafka_url), topics or TopicConfig.from_env(),
                                grids))


async def _ensure_topic(servers: list[str], topics: TopicConfig) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):  # created earlier: nothing to do
            await admin.create_topics([NewTopic(topics.daygrids, topics.partitions,
                                                topics.replicas)])
    finally:
        await admin.close()


async def _publish(servers: list[str], topics: TopicConfig, grids: Sequence[DayGrid]) -> int:
    topic = topics.daygrids
    await _ensure_topic(servers, topics)
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5, acks="all",
                                max_request_size=4_000_000)
    await producer.start()
    try:
        for grid in grids:
            origin = str(int(time.time() * 1000)).encode()
            await producer.send(topic, encode_grid(grid), key=grid.patient_id.encode(),
                                headers=[(HEADER_ORIGIN_MS, origin)])
        await producer.flush()
    finally:
        await producer.stop()
    return len(grids)
