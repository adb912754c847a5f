"""The one path from stored data to stored results: read, compute (the pure cores), write.

``rehabwatch evaluate``, the stream worker's handlers and the HTTP API all call
:class:`Service`; each of its methods is one unit of work (its own transaction). The
functions below it take the session of such a unit, so a caller composing several steps keeps
them in one transaction.

    upload ─► Service.ingest ─► ingest.upload.parse_upload (pure) ─► storage.grids
                                  ─► summarize_days: processors.summary (pure) ─► storage.summaries
    day grids on the stream ─► Service.store_and_summarize (the same, for a batch of grids)
    Service.evaluate ─► evaluate_patients: alerts.judging.judge (pure) ─► storage.alerts
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from alerts.judging import (baseline_window, evaluation_days, events_of, history_windows, judge,
                            newest_complete_day, plan_of, with_baseline)
from alerts.rule_params import RuleParams
from ingest.base import ParseContext
from ingest.errors import IngestError, UnknownSubject
from ingest.upload import UploadOutcome, parse_upload, sha256_of, within_limit
from processors.sensors import Gauges
from processors.summary import summarize_grids
from rehabwatch.settings import Settings
from schemas.alert_records import Alert, AlertEvent
from schemas.daygrid import DayGrid
from schemas.errors import NotFound, UsageError
from schemas.identifiers import checked_id
from schemas.protocol import CarePlan, targets_for
from schemas.records import DailySummary, DayTargets
from schemas.wire import AlertCheck
from storage import alerts, database, grids, outbox, patients, summaries, uploads
from storage.summary_cache import SummaryCache
from storage.tables import Patient

#: What :meth:`Service.evaluate_all` does per transaction: the days of one patient it
#: summarizes, and the patients it judges. A writing transaction holds SQLite's one write
#: lock, so these bound how long an ingest or the stream worker waits meanwhile (measured in
#: BENCHMARKS.md, "Concurrent use"); they also bound the memory of one pass.
SUMMARIZE_CHUNK_DAYS = 120
EVALUATE_CHUNK = 50
#: Called in the transaction that logs an upload, with its id and status (the API's audit).
UploadLogged = Callable[[Session, int, str], None]
#: Times a chunk of summaries is rebuilt outside the write lock before, if another command
#: keeps writing the patient's summaries meanwhile, it is rebuilt under it.
REBUILD_TRIES = 3


@dataclass(frozen=True)
class PatientView:
    """A patient as enrolled, their plan (with the personal baseline) and the targets in
    force on a day."""

    patient: Patient
    plan: CarePlan
    targets: DayTargets


class Service:
    """Read → compute → write, one transaction per call, on the database of ``settings``.

    ``cache``: decoded summaries kept between evaluations (the stream worker's; see
    :mod:`storage.summary_cache`)."""

    def __init__(self, settings: Settings, cache: SummaryCache | None = None) -> None:
        self.settings, self.cache = settings, cache
        self.url, self.params = settings.database_url, settings.rules

    # -- patients --------------------------------------------------------------------------

    def add_patient(self, patient_id: str, procedure: str, start_date: date, tz: str,
                    team: str, overrides: Mapping[str, object]) -> None:
        checked_id(patient_id), checked_id(team, "team")
        with database.session_scope(self.url) as session:
            if patients.get(session, patient_id) is not None:
                raise UsageError(f"patient {patient_id} already exists")
            patients.add(session, patient_id, procedure, start_date, tz, team, overrides)

    def patient(self, patient_id: str, as_of: date | None = None) -> PatientView:
        """The patient's plan and the targets in force on ``as_of`` (default: their today)."""
        with database.session_scope(self.url, write=False) as session:
            patient = _patient(session, patient_id)
            plan = care_plan(session, patient)
        as_of = as_of or datetime.now(ZoneInfo(patient.tz)).date()
        return PatientView(patient, plan, targets_for(plan, as_of))

    # -- uploads ---------------------------------------------------------------------------

    def ingest(self, stream: BinaryIO, ctx: ParseContext, fmt: str = "auto",
               logged: UploadLogged | None = None) -> UploadOutcome:
        """Store one upload for ``ctx.patient_id`` (or the patients its id map names), whole
        or not at all. With a broker (``RW_KAFKA_URL``) its day grids are then published for
        the stream worker; without, the summaries of the days it changed are rebuilt in the
        same transaction. A rejected upload is logged with its reason in a transaction of its
        own. A broker that cannot be reached leaves the upload stored (and its days
        summarized), and says so. ``logged`` runs in each transaction that logs the upload."""
        outcome = self._store(stream, ctx, fmt, not self.settings.kafka_url,
                              logged or _nothing)
        if self.settings.kafka_url and outcome.grids:
            from rehabwatch.publish import PublishError, publish_grids

            try:
                outcome.published = publish_grids(self.settings.kafka_url, outcome.grids,
                                                  self.settings.stream.topics)
            except PublishError as exc:
                with database.session_scope(self.url) as session:  # no worker will
                    summarize_days(session, outcome.changed_days)
                outcome.publish_error = (
                    f"stored and summarized, but not published to {self.settings.kafka_url} "
                    f"({exc}); the stream worker will not judge it: run `rehabwatch evaluate`")
        return outcome

    def _store(self, stream: BinaryIO, ctx: ParseContext, fmt: str,
               summarize: bool, logged: UploadLogged) -> UploadOutcome:
        """The upload parsed outside any transaction (the long part, holding no lock), then
        written in one short one that first locks its patients and checks its content hash
        again: of two ingests of the same file at once, one stores it and the other records
        a duplicate."""
        size, digest = 0, ""  # a file refused for its size is not read to hash it
        try:
            stream, size = within_limit(stream, self.settings.max_upload_bytes, ctx.filename)
            digest = sha256_of(stream)
            with database.session_scope(self.url, write=False) as session:
                previous = uploads.previous_upload(session, ctx.patient_id, digest)
                if previous is None:
                    ctx = _with_timezones(session, ctx)
            parsed = (parse_upload(stream, ctx, fmt, digest, self.settings.plausibility,
                                   datetime.now(timezone.utc)) if previous is None else None)
            with database.session_scope(self.url) as session:
                patients.lock(session, {ctx.patient_id, *ctx.id_map.values()})
                previous = previous or uploads.previous_upload(session, ctx.patient_id, digest)
                if previous is not None or parsed is None:
                    assert previous is not None  # an upload is parsed unless seen before
                    outcome = _duplicate(session, ctx, digest, size, previous.id,
                                         previous.format)
                    logged(session, outcome.upload_id, outcome.status)
                    return outcome
                result, day_grids = parsed
                plan = grids.plan_grids(session, day_grids)
                found = summarize_plan(session, plan) if summarize else []
                upload_id = uploads.add_upload(
                    session, ctx.patient_id, ctx.filename, digest, size, result.format,
                    "partial" if result.partial else "stored", result.partial or "",
                    result.records, len(day_grids), sum(g.total_steps for g in day_grids),
                    result.skipped)
                logged(session, upload_id, "partial" if result.partial else "stored")
                plan.write(session, upload_id)
                summaries.upsert_summaries(session, found)
                changed = {(g.patient_id, g.local_date)
                           for g, flag in zip(day_grids, plan.changed) if flag}
                for patient_id, at in result.sync_times:
                    grids.record_sync(session, patient_id, at, event=True)
        except IngestError as exc:
            with database.session_scope(self.url) as session:
                upload_id = uploads.add_upload(session, ctx.patient_id, ctx.filename,
                                               digest, size,
                                               None if fmt == "auto" else fmt, "rejected",
                                               str(exc))
                logged(session, upload_id, "rejected")
            return UploadOutcome(upload_id, "rejected", "" if fmt == "auto" else fmt, str(exc))
        return UploadOutcome(upload_id, "partial" if result.partial else "stored",
                             result.format, result.partial or "", result.records, day_grids,
                             changed, dict(result.skipped))

    # -- the stream worker's handlers ------------------------------------------------------

    def store_and_summarize(self, day_grids: Sequence[DayGrid]) -> list[DailySummary]:
        """Store ``day_grids`` and rebuild the summary of every (patient, day) they touch, in
        one transaction: the grids overlaid on what is stored and each touched day's grids
        gathered (reading only those of other sources), the days summarized, and only then
        the writes (the grids, then the summaries in one statement), the patients locked
        first so that what was read is still what is stored when it is written (on SQLite
        the transaction holds the write lock from its start). Once committed, the summaries go
        to the cache too (:meth:`SummaryCache.wrote`)."""
        with database.session_scope(self.url) as session:
            patients.lock(session, {g.patient_id for g in day_grids})
            plan = grids.plan_grids(session, day_grids)
            found = summarize_plan(session, plan)
            plan.write(session)
            revisions = summaries.upsert_summaries(session, found)
        if self.cache is not None:
            self.cache.wrote(revisions, found)
        return found

    def evaluate_checks(self, checks: Sequence[AlertCheck], now: datetime) -> list[AlertEvent]:
        """Rules and alert lifecycle for every check, in one transaction and one pass, each
        patient as of its latest check. A check for a day already judged (late data, a
        replay) judges the patient's last judged day again with the data now known, so a
        replay never rolls alerts back in time."""
        as_of: dict[str, date] = {}
        for check in checks:
            as_of[check.patient_id] = max(check.as_of, as_of.get(check.patient_id, date.min))
        with database.session_scope(self.url) as session:
            return evaluate_patients(session, as_of, self.params, now, self.cache)

    def silent(self, now: datetime) -> list[tuple[str, date]]:
        """Patients whose last sync is older than the missing-data sync gap (or who never
        synced), each with the local day to evaluate (their yesterday)."""
        with database.session_scope(self.url, write=False) as session:
            found = patients.silent_since(session, now - self.params.missing_data.sync_gap)
        return [(pid, now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1))
                for pid, tz in found.items()]

    def gauges(self, routes: Collection[str]) -> Gauges:
        """Open alerts by (rule, severity), patients monitored, and undelivered notifications
        by (route, state), every route of ``routes`` and state present (0 if none)."""
        with database.session_scope(self.url, write=False) as session:
            undelivered = {(route, state): 0 for route in routes
                           for state in ("pending", "failed")}
            undelivered.update(outbox.undelivered_counts(session))
            return Gauges(alerts.open_alert_counts(session), patients.count(session),
                          undelivered)

    # -- batch -----------------------------------------------------------------------------

    def evaluate_all(self, as_of: date | None = None) -> dict[str, int]:
        """Recompute every stored day's summary, then evaluate every patient as of ``as_of``
        (default: each patient's yesterday), in short transactions (:data:`EVALUATE_CHUNK`),
        each committed before the next begins. Counts of what changed. An ``as_of`` after a
        patient's tomorrow is refused: it would judge days that have not happened, and no
        later evaluation would judge the days before it."""
        counts = {"patients": 0, "days": 0, "opened": 0, "updated": 0, "renotified": 0,
                  "resolved": 0}
        with database.session_scope(self.url, write=False) as session:
            zones = patients.ids_and_zones(session)
        now = datetime.now(timezone.utc)
        as_of_by = {pid: as_of or now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
                    for pid, tz in zones.items()}
        if as_of is not None and zones:
            tomorrow = min(now.astimezone(ZoneInfo(tz)).date() for tz in zones.values()) \
                + timedelta(days=1)
            if as_of > tomorrow:
                raise UsageError(f"--as-of {as_of} is after the patients' tomorrow ({tomorrow}): "
                                 "only days that have happened can be judged")
        for pid, day in as_of_by.items():
            with database.session_scope(self.url, write=False) as session:
                days = summaries.days_to_rebuild(session, pid, day)
            for i in range(0, len(days), SUMMARIZE_CHUNK_DAYS):
                self._rebuild(pid, days[i:i + SUMMARIZE_CHUNK_DAYS])
            counts["days"] += len(days)
        ids = list(as_of_by)
        for i in range(0, len(ids), EVALUATE_CHUNK):
            chunk = {pid: as_of_by[pid] for pid in ids[i:i + EVALUATE_CHUNK]}
            with database.session_scope(self.url) as session:
                for event in evaluate_patients(session, chunk, self.params):
                    counts[event.kind] += 1
        counts["patients"] = len(ids)
        return counts

    def _rebuild(self, patient_id: str, days: Collection[date]) -> None:
        """Rebuild the stored summaries of the patient's ``days``: read and computed in a
        read-only transaction, written in a short one if no other command wrote the
        patient's summaries in between (their ``summaries_rev``), else tried again."""
        for _ in range(REBUILD_TRIES):
            with database.session_scope(self.url, write=False) as session:
                rev = patients.summaries_rev(session, patient_id)
                found, gone = rebuilt_days(session, patient_id, days)
            with database.session_scope(self.url) as session:
                patients.lock(session, [patient_id])
                if patients.summaries_rev(session, patient_id) == rev:
                    write_rebuilt(session, patient_id, found, gone)
                    return
        with database.session_scope(self.url) as session:
            patients.lock(session, [patient_id])
            write_rebuilt(session, patient_id, *rebuilt_days(session, patient_id, days))

    # -- reads and actions -----------------------------------------------------------------

    def summaries(self, patient_id: str, first: date | None = None,
                  last: date | None = None) -> list[DailySummary]:
        """The stored summaries: what the rules judged."""
        with database.session_scope(self.url, write=False) as session:
            _patient(session, patient_id)
            return summaries.stored_range(session, patient_id, first, last)

    def alerts(self, patient_id: str | None = None, status: str | None = None) -> list[Alert]:
        with database.session_scope(self.url, write=False) as session:
            if patient_id is not None:
                _patient(session, patient_id)
            return alerts.listed(session, patient_id, status)

    def act(self, alert_id: str, action: Callable[[Alert], Alert],
            logged: Callable[[Session, Alert], None] | None = None) -> Alert:
        """Apply a lifecycle action (acknowledge, snooze, resolve) and store it; ``logged``
        runs in the same transaction (the API's audit)."""
        with database.session_scope(self.url) as session:
            alert = alerts.get(session, alert_id)
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            patients.lock(session, [alert.patient_id])  # no evaluation changes it meanwhile
            changed = action(alerts.get(session, alert_id) or alert)
            alerts.save_alerts(session, [changed])
            if logged is not None:
                logged(session, changed)
            return changed


def _nothing(session: Session, upload_id: int, status: str) -> None:
    """No one to tell that an upload was logged (the command line)."""


def _patient(session: Session, patient_id: str) -> Patient:
    patient = patients.get(session, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id}")
    return patient


def _duplicate(session: Session, ctx: ParseContext, digest: str, size: int,
               previous_id: int, fmt: str | None) -> UploadOutcome:
    """The same bytes again: logged, nothing else changes."""
    reason = f"same content as upload {previous_id}; nothing changed"
    upload_id = uploads.add_upload(session, ctx.patient_id, ctx.filename, digest, size, fmt,
                                   "duplicate", reason)
    return UploadOutcome(upload_id, "duplicate", fmt or "", reason)


def _with_timezones(session: Session, ctx: ParseContext) -> ParseContext:
    """``ctx`` with the zone of every patient the upload may name, checking they exist."""
    wanted = {ctx.patient_id, *ctx.id_map.values()}
    zones = patients.ids_and_zones(session, wanted)
    if missing := sorted(wanted - zones.keys()):
        raise UnknownSubject(f"unknown patient(s) {', '.join(missing)}: add them first "
                             "with 'rehabwatch patient add'")
    return ParseContext(ctx.patient_id, zones[ctx.patient_id], ctx.filename, ctx.id_map,
                        zones, ctx.date_order)


def care_plan(session: Session, patient: Patient) -> CarePlan:
    """The patient's plan, with the personal baseline from their stored summaries."""
    first, last = baseline_window(patient)
    return with_baseline(plan_of(patient),
                         summaries.stored_range(session, patient.id, first, last))


def summarize_plan(session: Session, plan: grids.GridWrite) -> list[DailySummary]:
    """The summary of every (patient, day) ``plan`` touches, as it will be once written: its
    own grids and the other stored ones of those days (read, not written)."""
    days = grids.day_grids(session, plan)
    return summarize_grids(g for key in sorted(days) for g in days[key])


def summarize_days(session: Session, days: Collection[tuple[str, date]]) -> None:
    """Rebuild and store the summary of each (patient, day) from its stored grids; a day
    left without grids loses its summary."""
    by_patient: dict[str, set[date]] = {}
    for pid, day in days:
        by_patient.setdefault(pid, set()).add(day)
    for pid, wanted in by_patient.items():
        write_rebuilt(session, pid, *rebuilt_days(session, pid, wanted))


def rebuilt_days(session: Session, patient_id: str, days: Collection[date]
                 ) -> tuple[list[DailySummary], set[date]]:
    """The summaries of the patient's ``days`` from their stored grids, and the days among
    them left without grids."""
    wanted = set(days)
    stored = [g for g in grids.stored_grids(session, patient_id, min(wanted), max(wanted))
              if g.local_date in wanted]
    found = summarize_grids(stored)
    return found, wanted - {s.local_date for s in found}


def write_rebuilt(session: Session, patient_id: str, found: Sequence[DailySummary],
                  gone: Collection[date]) -> None:
    summaries.upsert_summaries(session, found)
    summaries.delete_days(session, patient_id, gone)


def evaluate_patients(session: Session, as_of: Mapping[str, date], params: RuleParams,
                      now: datetime | None = None, cache: SummaryCache | None = None
                      ) -> list[AlertEvent]:
    """Rules over the stored summaries, reconciled with the stored alerts, for each day of
    :func:`alerts.judging.evaluation_days` in order, for each patient of ``as_of`` (patient
    id -> day); each is then evaluated through the last of its days. One SELECT each for the
    patients, their summaries, active alerts and past episodes, and the writes flushed
    together: the same result as one patient at a time. Idempotent.

    Each day is judged at its end (``now``, if given, for the newest complete day), so
    evaluating a past day gives the same answer whenever it runs. ``cache``: decoded
    summaries kept between calls, checked against the revision of the patient rows read
    first."""
    work = {}
    for patient in patients.rows(session, as_of):
        days = evaluation_days(patient.evaluated_through, patient.start_date, as_of[patient.id],
                               newest_complete_day(patient.tz, now, as_of[patient.id]))
        if days:
            work[patient.id] = patient, days
    if not work:
        return []
    history = summaries.stored_summaries(
        session, {pid: history_windows(patient, days, params)
                  for pid, (patient, days) in work.items()},
        cache, {pid: patient.summaries_rev for pid, (patient, _) in work.items()})
    active = alerts.active_alerts(session, work)
    past = alerts.past_episodes(session, work)
    recs = [rec for pid, (patient, days) in work.items()
            for rec in judge(patient, days, history.get(pid, []), active.get(pid, []), past,
                             now, params)]
    patients.mark_evaluated(session, {pid: days[-1] for pid, (_, days) in work.items()})
    events = events_of(recs)
    alerts.save_alerts(session, list({e.alert.id: e.alert for e in events}.values()))
    alerts.queue_notifications(session, [n for rec in recs for n in rec.notifications])
    return events
