"""The API's use cases over patients, their data and their alerts, as seen by one caller:
each call is one transaction that reads or changes and writes its audit entry (reads of
patient data included). Scope checks (404 for a patient the caller may not see) are done by
the routes' rules before these run; lists are scoped here. Ingest, evaluation and the alert
lifecycle go through :class:`rehabwatch.service.Service`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from alerts.judging import plan_of
from ingest.base import ParseContext
from rehabwatch import views
from rehabwatch.access import ADMIN, PATIENT, PATIENT_AUDIENCES, Actor, Caller, Forbidden
from rehabwatch.audit_trail import record
from rehabwatch.service import PatientView, Service, care_plan
from rehabwatch.settings import Settings
from schemas.alert_records import Alert
from schemas.errors import NotFound, UsageError
from schemas.protocol import targets_between, targets_for
from schemas.wire import AlertCheck
from storage import alert_lists, alerts, database, patient_lists, patients, summaries, uploads
from storage import users
from storage.tables import Patient

#: Most days one summaries or targets request covers.
MAX_DAYS = 366


@dataclass(frozen=True)
class Page:
    limit: int = 100
    offset: int = 0


def today_of(patient: Patient) -> date:
    return datetime.now(ZoneInfo(patient.tz)).date()


def _range(first: date | None, last: date | None, default_days: int, today: date
           ) -> tuple[date, date]:
    last = last or today
    first = first or last - timedelta(days=default_days - 1)
    if first > last:
        raise UsageError(f"from {first} is after to {last}")
    if (last - first).days >= MAX_DAYS:
        raise UsageError(f"at most {MAX_DAYS} days per request; ask for a shorter range")
    return first, last


def alert_doc(alert: Alert, caller: Caller, assignee: str | None = None) -> dict[str, Any]:
    """An alert as the caller may see it: a patient gets what their nudge says, never the
    clinicians' evidence, notes or who acted."""
    if caller.role == PATIENT:
        return {"id": alert.id, "patient_id": alert.patient_id, "rule": alert.rule,
                "audience": alert.audience, "severity": alert.severity.value,
                "status": alert.status.value, "opened_on": alert.opened_on.isoformat(),
                "message": alert.message,
                "snoozed_until": alert.snoozed_until.isoformat() if alert.snoozed_until
                else None}
    return {**views.alert_doc(alert), "assignee": assignee}


class Clinic:
    """Patients, uploads and alerts through the API, on the database of ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.url = settings, settings.database_url
        self.service = Service(settings)

    # -- scope lookups (the routes' rules) -------------------------------------------------

    def patient_team(self, patient_id: str) -> str | None:
        """The patient's team, or None if there is no such patient."""
        with database.session_scope(self.url) as session:
            patient = patients.get(session, patient_id)
            return None if patient is None else patient.team

    def alert_owner(self, alert_id: str) -> tuple[str, str, str] | None:
        """(patient id, team, audience) of an alert, or None if there is no such alert."""
        with database.session_scope(self.url) as session:
            alert = alerts.get(session, alert_id)
            patient = patients.get(session, alert.patient_id) if alert else None
            if alert is None or patient is None:
                return None
            return alert.patient_id, patient.team, alert.audience

    # -- patients --------------------------------------------------------------------------

    def list_patients(self, caller: Caller, actor: Actor, team: str | None,
                      procedure: str | None, phase: str | None, open_alerts: bool | None,
                      page: Page) -> list[dict[str, Any]]:
        """The caller's patients, filtered, with phase and week today and open alerts."""
        with database.session_scope(self.url) as session:
            found = patient_lists.listed(session, caller.team_scope(), team, procedure)
            counts = patient_lists.open_alert_counts(session, [p.id for p in found])
            rows = []
            for patient in found:
                targets = targets_for(plan_of(patient), today_of(patient))
                open_by = counts.get(patient.id, {})
                if (phase is not None and targets.phase != phase) or \
                        (open_alerts is not None and bool(open_by) != open_alerts):
                    continue
                rows.append({"patient": patient.id, "team": patient.team,
                             "procedure": patient.procedure,
                             "start_date": patient.start_date.isoformat(), "tz": patient.tz,
                             "phase": targets.phase, "week": targets.week,
                             "open_alerts": open_by})
            rows = rows[page.offset:page.offset + page.limit]
            record(session, actor, "patient.list", detail={"count": len(rows)})
            return rows

    def create_patient(self, caller: Caller, actor: Actor, patient_id: str, procedure: str,
                       start_date: date, tz: str, team: str,
                       overrides: Mapping[str, float]) -> dict[str, Any]:
        if caller.role != ADMIN and team not in caller.teams:
            raise Forbidden(f"team {team} is not one of yours ({', '.join(sorted(caller.teams))})")
        with database.session_scope(self.url) as session:
            if patients.get(session, patient_id) is not None:
                raise UsageError(f"patient id {patient_id} is taken: choose another")
            patient = patients.add(session, patient_id, procedure, start_date, tz, team,
                                   overrides)
            doc = self._patient_doc(session, patient)
            record(session, actor, "patient.create", patient_id=patient_id)
            return doc

    def show_patient(self, actor: Actor, patient_id: str) -> dict[str, Any]:
        with database.session_scope(self.url) as session:
            doc = self._patient_doc(session, self._patient(session, patient_id))
            record(session, actor, "patient.read", patient_id=patient_id)
            return doc

    def edit_plan(self, caller: Caller, actor: Actor, patient_id: str,
                  changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change the care plan; the new plan's targets are checked before it is stored."""
        team = changes.get("team")
        if team is not None and caller.role != ADMIN and team not in caller.teams:
            raise Forbidden(f"team {team} is not one of yours")
        with database.session_scope(self.url) as session:
            patient = self._patient(session, patient_id)
            patient_lists.update_plan(session, patient, changes)
            doc = self._patient_doc(session, patient)  # ProtocolError: rolled back
            record(session, actor, "patient.plan_edit", patient_id=patient_id,
                   detail={"changed": sorted(changes)})
            return doc

    def _patient(self, session: Session, patient_id: str) -> Patient:
        patient = patients.get(session, patient_id)
        if patient is None:
            raise NotFound(f"no patient {patient_id}")
        return patient

    def _patient_doc(self, session: Session, patient: Patient) -> dict[str, Any]:
        plan = care_plan(session, patient)
        return views.patient_doc(PatientView(patient, plan, targets_for(plan,
                                                                        today_of(patient))))

    # -- days ------------------------------------------------------------------------------

    def summaries(self, actor: Actor, patient_id: str, first: date | None,
                  last: date | None) -> list[dict[str, Any]]:
        with database.session_scope(self.url) as session:
            patient = self._patient(session, patient_id)
            first, last = _range(first, last, 90, today_of(patient))
            days = views.summary_docs(summaries.stored_range(session, patient_id, first, last))
            record(session, actor, "patient.summaries", patient_id=patient_id,
                   detail={"from": first.isoformat(), "to": last.isoformat()})
            return days

    def targets(self, actor: Actor, patient_id: str, first: date | None,
                last: date | None) -> list[dict[str, Any]]:
        """The targets in force on each day, each with where it came from."""
        with database.session_scope(self.url) as session:
            patient = self._patient(session, patient_id)
            first, last = _range(first, last, 28, today_of(patient))
            plan = care_plan(session, patient)
            record(session, actor, "patient.targets", patient_id=patient_id,
                   detail={"from": first.isoformat(), "to": last.isoformat()})
            return [views.targets_doc(t) for t in targets_between(plan, first, last)]

    # -- uploads ---------------------------------------------------------------------------

    def upload(self, actor: Actor, patient_id: str, files: Sequence[tuple[str, BinaryIO]]
               ) -> list[dict[str, Any]]:
        """Ingest each file (each whole or not at all), then, without a broker, evaluate the
        patient; one outcome per file."""
        results = []
        for name, stream in files:
            def logged(session: Session, upload_id: int, status: str) -> None:
                record(session, actor, "upload.create", patient_id=patient_id,
                       target=str(upload_id), detail={"status": status})

            out = self.service.ingest(stream, ParseContext(patient_id, "", name), "auto",
                                      logged)
            results.append({"filename": name, "upload_id": out.upload_id,
                            "status": out.status, "format": out.format or None,
                            "days": sorted({g.local_date.isoformat() for g in out.grids}),
                            "days_changed": len(out.changed_days), "reason": out.reason,
                            "published": out.published,
                            "publish_error": out.publish_error or None})
        if not self.settings.kafka_url and any(r["days_changed"] for r in results):
            self.evaluate(patient_id)
        return results

    def evaluate(self, patient_id: str) -> None:
        """Rules and alert lifecycle for the patient, as of their yesterday."""
        with database.session_scope(self.url) as session:
            yesterday = today_of(self._patient(session, patient_id)) - timedelta(days=1)
        self.service.evaluate_checks([AlertCheck(patient_id, yesterday, "upload")],
                                     datetime.now(timezone.utc))

    def list_uploads(self, actor: Actor, patient_id: str, page: Page) -> list[dict[str, Any]]:
        with database.session_scope(self.url) as session:
            rows = uploads.listed(session, patient_id, page.limit, page.offset)
            record(session, actor, "upload.list", patient_id=patient_id)
            return [{"upload_id": u.id, "filename": u.filename, "status": u.status,
                     "format": u.format, "reason": u.reason, "size_bytes": u.size_bytes,
                     "records": u.records, "grids": u.grids, "steps": round(u.steps),
                     "received_at": u.received_at.isoformat()} for u in rows]

    # -- alerts ----------------------------------------------------------------------------

    def list_alerts(self, caller: Caller, actor: Actor, where: alert_lists.AlertFilter,
                    page: Page) -> list[dict[str, Any]]:
        """Alerts the caller may see: a patient their own nudges, staff their teams'."""
        if where.patient_id is not None:
            team = self.patient_team(where.patient_id)
            if team is None or not caller.may_see(where.patient_id, team):
                raise NotFound(f"no patient {where.patient_id}")
        if caller.role == PATIENT:
            where = replace(where, patient_id=caller.patient_id, audiences=PATIENT_AUDIENCES)
        else:
            where = replace(where, teams=caller.team_scope())
        with database.session_scope(self.url) as session:
            found = alert_lists.listed(session, where, page.limit, page.offset)
            record(session, actor, "alert.list", patient_id=where.patient_id,
                   detail={"count": len(found)})
            return [alert_doc(f.alert, caller, f.assignee) for f in found]

    def show_alert(self, caller: Caller, actor: Actor, alert_id: str) -> dict[str, Any]:
        with database.session_scope(self.url) as session:
            alert = alerts.get(session, alert_id)
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            assigned = alert_lists.assignment(session, alert_id)
            record(session, actor, "alert.read", patient_id=alert.patient_id, target=alert_id)
            doc = alert_doc(alert, caller, assigned.assignee if assigned else None)
            if assigned is not None and caller.role != PATIENT:
                doc["assigned_by"] = assigned.assigned_by
                doc["assigned_at"] = assigned.assigned_at.isoformat()
            return doc

    def act(self, caller: Caller, actor: Actor, alert_id: str, verb: str,
            action: Callable[[Alert], Alert]) -> dict[str, Any]:
        """A lifecycle action (acknowledge, snooze, resolve), audited in its transaction."""
        def logged(session: Session, alert: Alert) -> None:
            record(session, actor, f"alert.{verb}", patient_id=alert.patient_id,
                   target=alert.id, detail={"status": alert.status.value})

        return alert_doc(self.service.act(alert_id, action, logged), caller)

    def assign(self, caller: Caller, actor: Actor, alert_id: str, assignee: str
               ) -> dict[str, Any]:
        """Assign the alert to a staff user who may see its patient."""
        owner = self.alert_owner(alert_id)
        if owner is None:
            raise NotFound(f"no alert {alert_id}")
        with database.session_scope(self.url) as session:
            user = users.get(session, assignee)
            staff = Caller(assignee, user.role, frozenset(t.team for t in user.teams)) \
                if user is not None and user.disabled_at is None else None
            if staff is None or not staff.may_see(owner[0], owner[1]):
                raise UsageError(f"{assignee} is not an active staff user of the patient's "
                                 "team: assign the alert to one who is")
            alert_lists.assign(session, alert_id, assignee, caller.name,
                               datetime.now(timezone.utc))
            record(session, actor, "alert.assign", patient_id=owner[0], target=alert_id,
                   detail={"assignee": assignee})
        return self.show_alert(caller, actor, alert_id)
