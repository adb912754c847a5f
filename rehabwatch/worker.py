"""The production stream worker: the Faust agents of :mod:`processors.stream` wired to the
database (:mod:`rehabwatch.evaluation`, :mod:`rehabwatch.alerting`) and the notification
channels (:mod:`rehabwatch.notify`).

``rehabwatch worker`` calls :func:`run_worker`; ``python -m rehabwatch.worker worker`` does the
same (settings from the ``RW_*`` variables, see :class:`processors.stream.StreamSettings`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from datetime import date, datetime

from alerts.notifiers import ROUTES
from storage.grids import day_grids, plan_grids
from processors.merge import merge_day
from processors.stream import Gauges, Handlers, StreamSettings
from processors.stream import run_worker as run_stream_worker
from processors.summary import summarize_days
from rehabwatch import alerting, evaluation, notify
from storage import database
from storage.summary_cache import SummaryCache
from schemas.daygrid import DayGrid
from schemas.records import DailySummary
from schemas.wire import AlertCheck


def store_and_summarize(database_url: str, grids: Sequence[DayGrid],
                        cache: SummaryCache | None = None) -> list[DailySummary]:
    """Store ``grids`` and rebuild the summary of every (patient, day) they touch, in one
    transaction: the grids overlaid on what is stored and each touched day's grids gathered
    (reading only those of other sources), the days summarized, and only then the writes (the
    grids, then the summaries in one statement), so on SQLite the write lock, which one
    worker holds at a time, is held for the writes alone. Once committed, the summaries go to
    ``cache`` too (:meth:`SummaryCache.wrote`)."""
    with database.session_scope(database_url) as session:
        plan = plan_grids(session, grids)
        days = day_grids(session, plan)
        found = summarize_days([merge_day(days[key]) for key in sorted(days)])
        plan.write(session)
        revisions = evaluation.upsert_summaries(session, found)
    if cache is not None:
        cache.wrote(revisions, found)
    return found


def evaluate_checks(database_url: str, checks: Sequence[AlertCheck], now: datetime,
                    cache: SummaryCache | None = None) -> list[alerting.AlertEvent]:
    """Rules and alert lifecycle for every check, in one transaction and one pass
    (:func:`rehabwatch.alerting.evaluate_patients`, reading summaries through ``cache``). A
    check for a day already judged (late data, a replay) judges the patient's last judged day
    again with the data now known, so a replay never rolls alerts back in time."""
    as_of: dict[str, date] = {}
    for check in checks:
        as_of[check.patient_id] = max(check.as_of, as_of.get(check.patient_id, date.min))
    with database.session_scope(database_url) as session:
        return alerting.evaluate_patients(session, as_of, now, cache)


def silent(database_url: str, now: datetime) -> list[tuple[str, date]]:
    """Patients due a missing-data check, with the day to check as of."""
    with database.session_scope(database_url) as session:
        return alerting.silent_patients(session, now)


def gauges(database_url: str) -> Gauges:
    """Open alerts by (rule, severity), patients monitored, and undelivered notifications by
    (route, state), every route and state present (0 if none), for the gauges."""
    with database.session_scope(database_url) as session:
        open_alerts, patients = alerting.open_alert_counts(session)
        undelivered = {(route, state): 0 for route in ROUTES for state in ("pending", "failed")}
        undelivered.update(notify.undelivered_counts(session))
    return Gauges(open_alerts, patients, undelivered)


def notify_alerts(database_url: str, channels: notify.Channels,
                  events: Sequence[alerting.AlertEvent],
                  now: datetime) -> None:
    """Deliver the due notifications of the events' alerts, if any event queued some (the
    retry timer delivers whatever else is due)."""
    alert_ids = {e.alert_id for e in events if e.notifies}
    if alert_ids:
        notify.deliver_pending(database_url, channels, now, alert_ids=alert_ids)


def deliver_due(database_url: str, channels: notify.Channels, now: datetime) -> None:
    """Deliver every notification due."""
    notify.deliver_pending(database_url, channels, now)


def database_handlers(database_url: str, channels: notify.Channels) -> Handlers:
    """The real handlers: the database at ``database_url``, with one :class:`SummaryCache`
    shared by the store and the evaluation (the process agent runs them one at a time), and
    notifications delivered through ``channels``."""
    bind = functools.partial
    cache = SummaryCache()
    return Handlers(bind(store_and_summarize, database_url, cache=cache),
                    bind(evaluate_checks, database_url, cache=cache),
                    bind(silent, database_url), bind(notify_alerts, database_url, channels),
                    bind(deliver_due, database_url, channels), bind(gauges, database_url),
                    event_type=alerting.AlertEvent)


def run_worker(settings: StreamSettings | None = None) -> None:
    """Run the production worker until SIGTERM/SIGINT (blocks; exits the process). Refuses to
    start on notification settings that cannot work; states the routes no channel serves."""
    settings = settings or StreamSettings.from_env()
    try:
        channels = notify.NotifySettings.from_env().channels()
    except notify.NotifyConfigError as exc:
        sys.exit(f"rehabwatch worker: {exc}")
    print(channels.describe(), file=sys.stderr, flush=True)
    run_stream_worker(settings, database_handlers(settings.database_url, channels))


if __name__ == "__main__":
    if sys.argv[1:] != ["worker"]:
        sys.exit("usage: python -m rehabwatch.worker worker   (settings from RW_* variables)")
    run_worker()
