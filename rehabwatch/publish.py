"""Publishing day grids to the stream (``activity.daygrids``), for ``rehabwatch ingest`` with
``RW_KAFKA_URL`` set and for ``rehabwatch up --demo``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from schemas.daygrid import DayGrid
from schemas.wire import HEADER_ORIGIN_MS, TopicConfig, encode_grid


def bootstrap_servers(kafka_url: str) -> list[str]:
    """``host:port`` list of a Faust broker URL (``kafka://h1:9092;kafka://h2:9092``)."""
    return [part.strip().removeprefix("kafka://") for part in kafka_url.replace(",", ";")
            .split(";") if part.strip()]


def publish_grids(kafka_url: str, grids: Sequence[DayGrid],
                  topics: TopicConfig | None = None) -> int:
    """Publish ``grids`` keyed by patient, in order, and wait until the broker has them all;
    returns how many were published. The topic is ``RW_TOPIC_DAYGRIDS`` by default."""
    topic = (topics or TopicConfig.from_env()).daygrids
    return asyncio.run(_publish(bootstrap_servers(kafka_url), topic, grids))


async def _publish(servers: list[str], topic: str, grids: Sequence[DayGrid]) -> int:
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
