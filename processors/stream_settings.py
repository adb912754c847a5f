"""The stream worker's settings (read from the environment by :mod:`rehabwatch.settings`;
each field names its variable), apart from Faust so reading them does not load it."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicConfig:
    """Topic names and sizes (``RW_TOPIC_<NAME>``, ``RW_TOPIC_PARTITIONS``, ``RW_TOPIC_REPLICAS``)."""

    daygrids: str = "activity.daygrids"
    daily: str = "activity.daily"
    candidates: str = "alerts.candidates"
    events: str = "alerts.events"
    deadletter: str = "rehabwatch.deadletter"
    partitions: int = 8
    replicas: int = 1


@dataclass(frozen=True)
class StreamSettings:
    """Worker settings (read from the environment by :mod:`rehabwatch.settings`; each field
    names its variable)."""

    #: RW_KAFKA_URL: Faust broker URL, e.g. ``kafka://127.0.0.1:9092`` (required).
    kafka_url: str
    #: RW_STREAM_APP_ID: Faust app id = Kafka consumer group; workers with the same id share
    #: the partitions.
    app_id: str = "rehabwatch"
    #: RW_TOPIC_*: topic names and sizes.
    topics: TopicConfig = field(default_factory=TopicConfig)
    #: RW_WORKER_WEB_HOST / RW_WORKER_WEB_PORT: where ``/metrics`` is served.
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    #: RW_STREAM_BATCH_MAX / RW_STREAM_BATCH_WITHIN_S: messages per batch (one transaction
    #: stores and summarizes its grids, a second evaluates its patients), and how long to wait
    #: to fill a batch (the latency this adds when traffic is light).
    batch_max: int = 500
    batch_within_s: float = 0.05
    #: RW_STREAM_COMMIT_INTERVAL_S: how often acknowledged offsets are committed; what a
    #: crashed worker may have to redo.
    commit_interval_s: float = 1.0
    #: RW_KAFKA_SESSION_TIMEOUT_S: how long a silent worker keeps its partitions.
    session_timeout_s: float = 30.0
    #: RW_MISSING_DATA_SCAN_S: period of the missing-data scan (leader worker only).
    missing_data_scan_s: float = 900.0
    #: RW_GAUGES_EVERY_S: period of the lag / open-alert / patient / outbox gauges.
    gauges_every_s: float = 15.0
    #: RW_NOTIFY_RETRY_S: period of the timer that delivers due notifications (leader only).
    notify_retry_s: float = 60.0
    #: RW_STREAM_DATADIR: Faust's local state folder (no tables live there: state is in the DB).
    datadir: str = os.path.join(tempfile.gettempdir(), "rehabwatch-faust")
    #: RW_LOG_LEVEL
    loglevel: str = "warning"
