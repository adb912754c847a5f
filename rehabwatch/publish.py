"""Publishing day grids to the stream (``activity.daygrids``), for ``rehabwatch ingest`` with
``RW_KAFKA_URL`` set and for ``rehabwatch up --demo``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from processors.topics import bootstrap_servers, ensure_topics
from schemas.daygrid import DayGrid
from schemas.errors import RehabwatchError
from processors.stream_settings import TopicConfig
from schemas.wire import HEADER_ORIGIN_MS, encode_grid


class PublishError(RehabwatchError):
    """The broker could not be reached or did not take the grids."""


def publish_grids(kafka_url: str, grids: Sequence[DayGrid], topics: TopicConfig) -> int:
    """Publish ``grids`` keyed by patient, in order, and wait until the broker has them all;
    returns how many were published. The topic is ``topics.daygrids``; it is created with the configured partitions if missing (not with the broker's default, which
    would differ from what the workers expect)."""
    try:
        return asyncio.run(_publish(bootstrap_servers(kafka_url), topics, grids))
    except KafkaError as exc:
        raise PublishError(str(exc) or type(exc).__name__) from exc


async def _publish(servers: list[str], topics: TopicConfig, grids: Sequence[DayGrid]) -> int:
    topic = topics.daygrids
    await ensure_topics(servers, topics, [topic])
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
