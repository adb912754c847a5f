"""The stream's topics on the broker: created with the configured sizes before first use.

A broker that creates topics on first sight (Tansu does; Kafka does with
``auto.create.topics.enable``) gives them its own default partition count, which would differ
from what :class:`schemas.wire.TopicConfig` says and split topics that must be partitioned
alike. So the worker and the publisher create what they use first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from processors.stream_settings import TopicConfig


def bootstrap_servers(kafka_url: str) -> list[str]:
    """``host:port`` list of a Faust broker URL (``kafka://h1:9092;kafka://h2:9092``)."""
    return [part.strip().removeprefix("kafka://") for part in kafka_url.replace(",", ";")
            .split(";") if part.strip()]


async def ensure_topics(servers: list[str], topics: TopicConfig, names: Iterable[str]) -> None:
    """Create each topic of ``names`` that does not exist yet, with ``topics``' partition and
    replica counts. Existing topics are left as they are and no creation is asked for them, so
    a cluster that lets this client read topics but not create them works once they exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        for name in dict.fromkeys(names):
            if name in existing:
                continue
            with contextlib.suppress(TopicAlreadyExistsError):  # another client was first
                await admin.create_topics([NewTopic(name, topics.partitions, topics.replicas)])
    finally:
        await admin.close()
