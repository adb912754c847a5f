"""Publishing to the stream: day grids (``activity.daygrids``), for ``rehabwatch ingest`` with
``RW_KAFKA_URL`` set and for the demo; missing-data checks (``alerts.candidates``), as the
worker's missing-data scan sends them, for the demo's patients who sent nothing lately."""

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
from schemas.wire import HEADER_ORIGIN_MS, AlertCheck, encode_grid, encode_record


class PublishError(RehabwatchError):
    """The broker could not be reached or did not take the grids."""


def publish_grids(kafka_url: str, grids: Sequence[DayGrid], topics: TopicConfig) -> int:
    """Publish ``grids`` keyed by patient, in order, and wait until the broker has them all;
    returns how many were published. The topic is ``topics.daygrids``; it is created with the configured partitions if missing (not with the broker's default, which
    would differ from what the workers expect)."""
    return _run(kafka_url, topics, topics.daygrids,
                [(g.patient_id, encode_grid(g)) for g in grids])


def publish_checks(kafka_url: str, checks: Sequence[AlertCheck], topics: TopicConfig) -> int:
    """Publish missing-data ``checks`` to ``topics.candidates``, keyed by patient, as the
    worker's scan does (so the worker owning each patient judges it)."""
    return _run(kafka_url, topics, topics.candidates,
                [(c.patient_id, encode_record(c)) for c in checks])


def _run(kafka_url: str, topics: TopicConfig, topic: str,
         messages: Sequence[tuple[str, bytes]]) -> int:
    try:
        return asyncio.run(_publish(bootstrap_servers(kafka_url), topics, topic, messages))
    except KafkaError as exc:
        raise PublishError(str(exc) or type(exc).__name__) from exc


async def _publish(servers: list[str], topics: TopicConfig, topic: str,
                   messages: Sequence[tuple[str, bytes]]) -> int:
    await ensure_topics(servers, topics, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5, acks="all",
                                max_request_size=4_000_000)
    await producer.start()
    try:
        for key, value in messages:
            origin = str(int(time.time() * 1000)).encode()
            await producer.send(topic, value, key=key.encode(),
                                headers=[(HEADER_ORIGIN_MS, origin)])
        await producer.flush()
    finally:
        await producer.stop()
    return len(messages)
