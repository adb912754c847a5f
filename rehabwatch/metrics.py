"""Every Prometheus metric rehabwatch exports, in one place, all named ``rehabwatch_*``.

Labels are low-cardinality by design: topic, agent, stage, rule, severity, route, channel,
state, and for the HTTP API method, route template and status. No label ever holds a
patient identifier (a label value per patient would both leak identity to the monitoring
stack and blow up the time-series count).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from processors.sensors import Gauges
from schemas.alert_records import AlertEvent

# Seconds, from a fast in-memory batch to a slow database round trip.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

MESSAGES_PROCESSED = Counter(
    "rehabwatch_messages_processed_total", "Messages processed successfully, per input topic.",
    ["topic"])
MESSAGES_FAILED = Counter(
    "rehabwatch_messages_failed_total",
    "Messages sent to the dead-letter topic, per input topic and stage (decode, process, or "
    "evaluate: stored, but their patient's evaluation failed).",
    ["topic", "stage"])
PROCESSING_SECONDS = Histogram(
    "rehabwatch_processing_seconds",
    "Wall time to process one batch of messages (decode, database, emit), per agent "
    "(process: store, summarize and evaluate; notify).",
    ["agent"], buckets=_LATENCY_BUCKETS)
CONSUMER_LAG = Gauge(
    "rehabwatch_consumer_lag_messages",
    "Messages on this worker's partitions not yet processed, per topic.", ["topic"])
EVENT_TIME_LAG = Histogram(
    "rehabwatch_event_time_lag_seconds",
    "From a day grid's publication to the alert events it caused being emitted.",
    buckets=_LATENCY_BUCKETS)
ALERTS_RAISED = Counter(
    "rehabwatch_alerts_raised_total", "Alert episodes opened, per rule.", ["rule"])
OPEN_ALERTS = Gauge(
    "rehabwatch_open_alerts", "Alerts not resolved, per rule and severity.",
    ["rule", "severity"])
PATIENTS_MONITORED = Gauge(
    "rehabwatch_patients_monitored", "Patients known to the system of record.")
NOTIFICATIONS_SENT = Counter(
    "rehabwatch_notifications_sent_total",
    "Notifications a channel took, per route and channel (email, webhook).",
    ["route", "channel"])
NOTIFICATION_FAILURES = Counter(
    "rehabwatch_notification_failures_total",
    "Notifications a channel did not take (one failed attempt each), per route and channel.",
    ["route", "channel"])
NOTIFICATIONS_UNDELIVERED = Gauge(
    "rehabwatch_notifications_undelivered",
    "Notifications not delivered, per route and state (pending: to be tried again; failed: no "
    "attempt left, or no channel serves the route).", ["route", "state"])


HTTP_REQUESTS = Counter(
    "rehabwatch_http_requests_total",
    "HTTP API requests answered, per method, route template (never a path with an id in "
    "it) and status code.", ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "rehabwatch_http_request_seconds", "HTTP API response time, per method and route template.",
    ["method", "route"], buckets=_LATENCY_BUCKETS)


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered HTTP request (``route``: the template, e.g.
    ``/api/v1/patients/{patient_id}``)."""
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The current metrics in the Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


class PrometheusSensors:
    """The stream agents' :class:`processors.stream.Sensors`, as the metrics above."""

    def batch_done(self, agent: str, seconds: float) -> None:
        PROCESSING_SECONDS.labels(agent).observe(seconds)

    def processed(self, topic: str, messages: int) -> None:
        MESSAGES_PROCESSED.labels(topic).inc(messages)

    def dead_lettered(self, topic: str, stage: str) -> None:
        MESSAGES_FAILED.labels(topic, stage).inc()

    def consumer_lag(self, topic: str, messages: int) -> None:
        CONSUMER_LAG.labels(topic).set(messages)

    def alert_event(self, event: AlertEvent, lag_s: float | None) -> None:
        if event.kind == "opened":
            ALERTS_RAISED.labels(event.rule).inc()
        if lag_s is not None:
            EVENT_TIME_LAG.observe(lag_s)

    def gauges(self, counts: Gauges) -> None:
        OPEN_ALERTS.clear()
        for (rule, severity), n in counts.open_alerts.items():
            OPEN_ALERTS.labels(rule, severity).set(n)
        PATIENTS_MONITORED.set(counts.patients)
        NOTIFICATIONS_UNDELIVERED.clear()
        for (route, state), n in counts.undelivered.items():
            NOTIFICATIONS_UNDELIVERED.labels(route, state).set(n)

    def exposition(self) -> tuple[bytes, str]:
        """The current metrics in the Prometheus text format, and its content type."""
        return exposition()
