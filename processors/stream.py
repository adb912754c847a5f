"""The stream worker: Faust agents that carry day grids to stored alerts.

::

    activity.daygrids ──────────────────────┬─► process ─┬─► activity.daily (the summaries)
    missing-data timer (leader only)        │            └─► alerts.events ─► notify
      ─► alerts.candidates ─────────────────┘          notification retry timer (leader only)
    process, per batch: store the grids and rebuild their days' summaries (one transaction),
    emit the summaries, then rules + alert lifecycle for every patient the batch touched
    (one evaluation per patient, as of its latest day; a second transaction).

``process`` reads both of its topics as one stream: they are keyed and partitioned alike, so
a patient's grids and timer checks reach the same worker, and one patient is never evaluated
by two workers (or two agents) at once. The rules judge the summaries the same batch has just
stored, in the same worker: a hop through ``activity.daily`` and back would cost a consume
and a decode per patient-day and add latency, for nothing the rules need. ``activity.daily``
carries every rebuilt summary for whoever else consumes the stream (dashboards, exports).

Agents are thin: decode, call a :class:`Handlers` callable (the database layer lives in
:mod:`rehabwatch.worker`, and the metrics are handed in as :class:`Sensors`, so this package
imports nothing of the composition root), emit. They take messages in small batches (``noack_take``) so one database transaction serves
many messages, and fall back to one message at a time when a batch fails, so a poison message
costs only itself: it goes to the dead-letter topic with the reason, and the stream goes on.

Delivery guarantee (at-least-once, made harmless by idempotent writes):

- an event is acknowledged only after its database transaction committed and its outputs were
  handed to the producer (``noack_take`` turns Faust's automatic acks off);
- Faust commits the highest acknowledged offset every ``commit_interval_s`` and flushes the
  producer *before* committing, so a committed offset implies both the database write and the
  downstream messages happened;
- a worker that dies loses only uncommitted offsets: those messages are processed again by
  whichever worker gets the partition. Grid upserts (by patient, source, day, resolution),
  summary upserts and alert reconciliation are idempotent, so a replay changes nothing and a
  duplicate downstream message is harmless. ``notify`` delivers the due outbox rows of each
  event's alert (the database's record of what was sent), so a replayed event sends nothing
  delivered again; the retry timer delivers whatever else is due, including what a failed
  ``notify`` left. Delivery itself is at least once (:mod:`rehabwatch.notify`).

Configuration: :class:`StreamSettings` and :class:`schemas.wire.TopicConfig` (read from the
environment by :mod:`rehabwatch.settings`). Run a worker with :func:`run_worker` and the handlers of
your choice; the production worker is ``rehabwatch worker`` (:func:`rehabwatch.worker.run_worker`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import faust
from faust.types import TP, EventT, StreamT

from processors.faust_app import App
from processors.topics import bootstrap_servers, ensure_topics
from processors.sensors import Gauges, Sensors
from processors.stream_settings import StreamSettings
from schemas.alert_records import AlertEvent
from schemas.daygrid import DayGrid
from schemas.errors import RehabwatchError
from schemas.records import DailySummary
from schemas.wire import (HEADER_DLQ_REASON, HEADER_DLQ_SOURCE, HEADER_ORIGIN_MS, AlertCheck,
                          WireError, decode_grid, decode_record, encode_record)

log = logging.getLogger(__name__)

#: How long the producer gathers messages into one request (Faust's default sends each one
#: alone: one produce request, one socket write per message).
PRODUCER_LINGER_S = 0.005


class TopicLayoutError(RehabwatchError):
    """The topics on the broker cannot be used as configured."""


def copartition_problem(first: str, first_n: int | None, second: str, second_n: int | None
                        ) -> str | None:
    """Why two topics read as one stream cannot be (partition counts differ), or None. A count
    not known yet (None: no metadata for the topic) is no evidence of a problem."""
    if first_n is None or second_n is None or first_n == second_n:
        return None
    return (f"process reads {first} and {second} as one stream, so they need the same "
            f"partition count; they have {first_n} and {second_n}: recreate them alike (on an "
            "empty, drained stream)")


@dataclass(frozen=True)
class Handlers:
    """The domain/database calls the agents make; each runs in a worker thread.

    ``summarize``: store grids (one transaction) and return the rebuilt summary of every
    (patient, day) they touch. ``evaluate``: run rules and the alert lifecycle for each check
    and return the resulting events. ``silent``: patients due a missing-data check, with the
    day to check as of. ``notify``: deliver the due notifications of these events' alerts;
    ``deliver_due``: deliver every notification due (both as of the time given).
    """

    summarize: Callable[[Sequence[DayGrid]], list[DailySummary]]
    evaluate: Callable[[Sequence[AlertCheck], datetime], Sequence[AlertEvent]]
    silent: Callable[[datetime], Sequence[tuple[str, date]]]
    notify: Callable[[Sequence[AlertEvent], datetime], object]
    deliver_due: Callable[[datetime], object]
    gauges: Callable[[], Gauges]
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)


Item = tuple[EventT[Any], Any]  # a Faust event and its decoded value


class Pipeline:
    """The agents and timers of one Faust app."""

    def __init__(self, app: faust.App, settings: StreamSettings, handlers: Handlers,
                 sensors: Sensors) -> None:
        self.app, self.settings, self.handlers, self.sensors = app, settings, handlers, sensors
        t = settings.topics
        self.daygrids, self.daily, self.candidates, self.events, self.deadletter = (
            app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=t.partitions, replicas=t.replicas)
            for name in (t.daygrids, t.daily, t.candidates, t.events, t.deadletter))
        # What process reads: day grids, and the timer's checks (sent via self.candidates).
        self.inputs = app.topic(t.daygrids, t.candidates, key_type=bytes, value_type=bytes,
                                key_serializer="raw", value_serializer="raw",
                                partitions=t.partitions, replicas=t.replicas)
        self.next_offset: dict[TP, int] = {}

    def register(self) -> None:
        s = self.settings
        self.app.agent(self.inputs, name="process")(self.process_agent)
        self.app.agent(self.events, name="notify")(self.notify_agent)
        self.app.on_partitions_assigned.connect(self.check_copartitioned)  # type: ignore[arg-type]
        self.app.timer(s.missing_data_scan_s, on_leader=True, name="missing_data_scan")(
            self.scan_silent)
        self.app.timer(s.notify_retry_s, on_leader=True, name="notify_retry")(
            self.deliver_due)
        self.app.timer(s.gauges_every_s, name="lag_gauges")(self.update_lag)
        self.app.timer(s.gauges_every_s, on_leader=True, name="db_gauges")(self.update_gauges)
        self.app.page("/metrics")(self.metrics_view())

    async def check_copartitioned(self, app: faust.App, assigned: Any, **_: Any) -> None:
        """Stop the worker if process's two topics have different partition counts: a
        patient's grids and missing-data checks could then reach two workers, which would
        evaluate the patient concurrently (Faust only co-assigns topics of equal size)."""
        t = self.settings.topics
        problem = copartition_problem(t.daygrids, app.consumer.topic_partitions(t.daygrids),
                                      t.candidates, app.consumer.topic_partitions(t.candidates))
        if problem:
            await app.crash(TopicLayoutError(problem))

    # -- agents ------------------------------------------------------------------------

    async def process_agent(self, stream: StreamT[Any]) -> None:
        await self._consume(stream, "process", self._decode_input, self._process)

    async def notify_agent(self, stream: StreamT[Any]) -> None:
        await self._consume(stream, "notify",
                            lambda e: decode_record(e.value, AlertEvent),
                            self._notify)

    def _decode_input(self, event: EventT[Any]) -> DayGrid | AlertCheck:
        if event.message.topic == self.settings.topics.daygrids:
            return decode_grid(event.value)
        return decode_record(event.value, AlertCheck)

    async def _process(self, items: Sequence[Item]) -> set[int]:
        """Store and summarize the batch's grids, emit the summaries, then evaluate every
        patient a summary or a timer check names. Returns the ``id`` of each event
        dead-lettered because its patient's evaluation failed (see :meth:`_evaluate`)."""
        origins = _origins(items)
        grids = [v for _, v in items if isinstance(v, DayGrid)]
        checks = [v for _, v in items if isinstance(v, AlertCheck)]
        if grids:
            summaries = await asyncio.to_thread(self.handlers.summarize, grids)
            for summary in summaries:
                await self._send(self.daily, summary.patient_id, encode_record(summary),
                                 origins.get(summary.patient_id))
            checks += [AlertCheck(s.patient_id, s.local_date, "daily") for s in summaries]
        return await self._evaluate(checks, items, origins) if checks else set()

    async def _evaluate(self, checks: Sequence[AlertCheck], items: Sequence[Item],
                        origins: Mapping[str, int]) -> set[int]:
        """One evaluation per patient, as of its latest day. When the batch's evaluation
        fails, each patient is evaluated alone, and the messages of a patient whose
        evaluation still fails are dead-lettered (stage ``evaluate``; their grids are stored,
        so a replay only evaluates again). The grids are not stored twice, nor their summaries
        emitted twice, for one patient's failure."""
        latest: dict[str, AlertCheck] = {}
        for check in checks:
            seen = latest.get(check.patient_id)
            if seen is None or check.as_of > seen.as_of:
                latest[check.patient_id] = check
        try:
            await self._evaluate_and_emit(list(latest.values()), origins)
            return set()
        except Exception as exc:  # noqa: BLE001 - find the patient at fault
            # The type only: a rule's message may name the patient.
            log.warning("evaluating %d patients together failed (%s); evaluating each alone",
                        len(latest), type(exc).__name__)
        failed: set[int] = set()
        for patient_id, check in latest.items():
            try:
                await self._evaluate_and_emit([check], origins)
            except Exception as exc:  # noqa: BLE001 - Faust would ack and drop it silently
                for event, value in items:
                    if value.patient_id == patient_id:
                        await self._dead(event, "evaluate", exc)
                        failed.add(id(event))
        return failed

    async def _evaluate_and_emit(self, checks: Sequence[AlertCheck],
                                 origins: Mapping[str, int]) -> None:
        events = await asyncio.to_thread(self.handlers.evaluate, checks, self.handlers.clock())
        for event in events:
            origin = origins.get(event.patient_id)
            await self._send(self.events, event.patient_id, encode_record(event), origin)
            self.sensors.alert_event(
                event, None if origin is None else max(0.0, time.time() - origin / 1000))

    async def _notify(self, items: Sequence[Item]) -> set[int]:
        """Deliver the batch's notifications. A failure dead-letters nothing: the rows stay in
        the outbox for the retry timer."""
        try:
            await asyncio.to_thread(self.handlers.notify, [e for _, e in items],
                                    self.handlers.clock())
        except Exception as exc:  # noqa: BLE001 - the outbox keeps them
            # The type only: a database error's text may carry a patient id.
            log.warning("delivering the notifications of %d alert events failed (%s); the "
                        "retry timer will", len(items), type(exc).__name__)
        return set()

    # -- delivery mechanics ------------------------------------------------------------

    async def _consume(self, stream: StreamT[Any], agent: str, decode: Callable[[EventT[Any]], Any],
                       process: Callable[[Sequence[Item]], Awaitable[set[int]]]) -> None:
        """Process ``stream`` in batches; ack each event only once it is fully handled.

        The next batch is taken from the stream and decoded while the previous one is being
        processed, so Faust's per-message work overlaps the handlers' database waits. Batches
        are still processed one at a time and in order (a batch starts once the previous one
        is done), so a patient's messages are handled in offset order as before."""
        s = self.settings
        running: asyncio.Task[None] | None = None
        try:
            # noack_take is Faust's (faust-streaming), not in its StreamT[Any] protocol
            async for events in stream.noack_take(  # type: ignore[attr-defined]
                    s.batch_max, within=s.batch_within_s):
                decoded = await self._decode_batch(events, decode)
                if running is not None:
                    await running
                running = asyncio.create_task(
                    self._handle(stream, agent, events, *decoded, process))
        finally:
            if running is not None:
                await running

    async def _decode_batch(self, events: Sequence[EventT[Any]], decode: Callable[[EventT[Any]], Any]
                            ) -> tuple[list[Item], set[int]]:
        """The decoded events, and the ``id`` of each one dead-lettered as undecodable."""
        items: list[Item] = []
        failed: set[int] = set()
        for event in events:
            try:
                items.append((event, decode(event)))
            except WireError as exc:
                await self._dead(event, "decode", exc)
                failed.add(id(event))
        return items, failed

    async def _handle(self, stream: StreamT[Any], agent: str, events: Sequence[EventT[Any]],
                      items: Sequence[Item], failed: set[int],
                      process: Callable[[Sequence[Item]], Awaitable[set[int]]]) -> None:
        """Process a decoded batch, then ack all of its events and count them."""
        started = time.perf_counter()
        failed = failed | await self._process_items(items, process)
        self.sensors.batch_done(agent, time.perf_counter() - started)
        for event in events:
            await stream.ack(event)
            self.next_offset[event.message.tp] = event.message.offset + 1
        processed = Counter(e.message.topic for e in events if id(e) not in failed)
        for topic, n in processed.items():
            self.sensors.processed(topic, n)

    async def _process_items(self, items: Sequence[Item],
                             process: Callable[[Sequence[Item]], Awaitable[set[int]]]
                             ) -> set[int]:
        """Process; returns the ``id`` of each event sent to the dead-letter topic."""
        failed: set[int] = set()
        try:
            if items:
                failed |= await process(items)
        except Exception:  # noqa: BLE001 - find the culprit one message at a time
            for item in items:
                try:
                    failed |= await process([item])
                except Exception as exc:  # noqa: BLE001 - Faust would ack and drop it silently
                    await self._dead(item[0], "process", exc)
                    failed.add(id(item[0]))
        return failed

    async def _dead(self, event: EventT[Any], stage: str, exc: Exception) -> None:
        message = event.message
        reason = f"{stage}: {type(exc).__name__}: {exc}"[:2000]
        log.warning("dead-lettering %s[%d]@%d: %s", message.topic, message.partition,
                    message.offset, reason)
        self.sensors.dead_lettered(message.topic, stage)
        await self.deadletter.send(
            key=event.key, value=event.value, force=True,
            headers={HEADER_DLQ_REASON: reason.encode(),
                     HEADER_DLQ_SOURCE: f"{message.topic}/{message.partition}/"
                                        f"{message.offset}".encode()})

    async def _send(self, topic: faust.TopicT, patient_id: str, value: bytes,
                    origin_ms: int | None) -> None:
        # Straight to the app's producer: Faust's Topic.send wraps each message in futures,
        # callbacks and sensor calls this worker does not use. Faust flushes this producer
        # before it commits offsets, so nothing is committed unsent.
        headers = [] if origin_ms is None else [(HEADER_ORIGIN_MS, str(origin_ms).encode())]
        await self.app.producer.send(topic.get_topic_name(), patient_id.encode(), value,
                                     partition=None, timestamp=None, headers=headers)

    # -- timers ------------------------------------------------------------------------

    async def scan_silent(self) -> None:
        """Raise a missing-data check for every silent patient (runs with no traffic too)."""
        try:
            due = await asyncio.to_thread(self.handlers.silent, self.handlers.clock())
            for patient_id, as_of in due:
                await self._send(self.candidates, patient_id,
                                 encode_record(AlertCheck(patient_id, as_of, "missing-data")),
                                 None)
        except Exception:  # noqa: BLE001 - a failed scan is retried next period
            log.exception("missing-data scan failed")

    async def deliver_due(self) -> None:
        """Deliver every notification due: retries, and what ``notify`` could not deliver."""
        try:
            await asyncio.to_thread(self.handlers.deliver_due, self.handlers.clock())
        except Exception as exc:  # noqa: BLE001 - retried next period
            log.warning("delivering due notifications failed (%s)", type(exc).__name__)

    async def update_lag(self) -> None:
        lag: dict[str, int] = {}
        consumer = self.app.consumer
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is not None and tp in self.next_offset:
                lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - self.next_offset[tp])
        for topic, value in lag.items():
            self.sensors.consumer_lag(topic, value)

    async def update_gauges(self) -> None:
        try:
            counts = await asyncio.to_thread(self.handlers.gauges)
        except Exception:  # noqa: BLE001 - gauges are best effort
            log.exception("reading gauges failed")
            return
        self.sensors.gauges(counts)

    def metrics_view(self) -> Callable[[Any, Any], Awaitable[Any]]:
        """The ``/metrics`` page handler (Faust calls it with its view and the request)."""
        sensors = self.sensors

        async def metrics(view: Any, request: Any) -> Any:
            body, content_type = sensors.exposition()
            return view.bytes(body, content_type=content_type.split(";")[0])
        return metrics


def _origins(items: Sequence[Item]) -> dict[str, int]:
    """Per patient, the earliest publication time (epoch ms) of the day grids behind ``items``:
    the origin header when an upstream agent set one, else the message's own timestamp."""
    out: dict[str, int] = {}
    for event, _ in items:
        raw = event.headers.get(HEADER_ORIGIN_MS)
        origin = int(raw) if raw else int(event.message.timestamp * 1000)
        key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
        out[key] = min(out.get(key, origin), origin)
    return out


def make_app(settings: StreamSettings, handlers: Handlers, sensors: Sensors) -> faust.App:
    """The Faust app with every agent and timer registered; not started."""
    if not settings.kafka_url:
        raise ValueError("RW_KAFKA_URL is not set: start the embedded broker or name a cluster")
    timeout = settings.session_timeout_s
    app = App(
        settings.app_id, broker=settings.kafka_url, store="memory://",
        datadir=settings.datadir, web_host=settings.web_host, web_port=settings.web_port,
        web_bind=settings.web_host, topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replicas,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_s, producer_linger=PRODUCER_LINGER_S,
        broker_session_timeout=timeout, broker_heartbeat_interval=timeout / 10,
        broker_rebalance_timeout=max(timeout, 10.0),
    )
    Pipeline(app, settings, handlers, sensors).register()
    return app


def run_worker(settings: StreamSettings, handlers: Handlers, sensors: Sensors) -> None:
    """Create the topics that do not exist yet (:mod:`processors.topics`), then run a worker
    until SIGTERM/SIGINT (blocks; exits the process when done)."""
    app = make_app(settings, handlers, sensors)
    t = settings.topics
    asyncio.run(ensure_topics(bootstrap_servers(settings.kafka_url), t,
                              [t.daygrids, t.daily, t.candidates, t.events, t.deadletter]))
    faust.Worker(app, loglevel=settings.loglevel).execute_from_commandline()
