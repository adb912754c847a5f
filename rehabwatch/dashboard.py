"""The dashboard's reads, as one caller sees them: each call is one transaction that reads
and writes its audit entries (every page view of patient data is audited, one entry per
patient shown).

The cohort overview is :mod:`rehabwatch.cohort`; the patient page's data is
:mod:`rehabwatch.patient_view`.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from rehabwatch.access import ADMIN, PATIENT_AUDIENCES, Actor, Caller
from rehabwatch.audit_trail import record
from rehabwatch.cohort import Cohort, CohortRow, DaysMemo, Filters, build_cohort
from rehabwatch.patient_view import DayPoint, days_to_read, patient_days
from rehabwatch.service import care_plan
from rehabwatch.settings import Settings
from schemas.alert_records import Alert
from schemas.errors import NotFound
from schemas.protocol import targets_between, targets_for
from schemas.records import DailySummary, DayTargets
from storage import alert_lists, alerts, database, patients, summaries, uploads, users
from storage import cohort as reads
from storage.alert_lists import ListedAlert
from storage.tables import Patient, Upload


#: Rows on one page of the overview.
PER_PAGE = 100
#: After this many patients' days were computed anew, the objects the process holds are
#: frozen (``gc.freeze``: left to reference counting, never scanned by the cyclic
#: collector). Otherwise a full collection scans the API process's whole heap every few
#: views of a 2,000-patient cohort: measured, 300 -> 115 ms CPU at the p95 of a warm view.
FREEZE_AFTER = 500


@dataclass(frozen=True)
class CohortPage:
    """The overview and the rows of one of its pages (``page`` of ``pages``)."""

    cohort: Cohort
    rows: list[CohortRow]
    page: int
    pages: int


@dataclass(frozen=True)
class PatientPage:
    """What the patient page shows: the patient, today's targets, the window's days, every
    alert with its history, and whether posture is sensed (sitting, not only stationary)."""

    patient: Patient
    today: DayTargets
    days: list[DayPoint]
    window: int
    alerts: list[Alert]
    posture_sensed: bool
    uploads: list[Upload]


#: Inbox views: alerts assigned to the caller, their teams' open and acknowledged alerts,
#: and everything active (snoozed alerts and patients' own nudges too).
INBOX_VIEWS = ("mine", "team", "all")
STAFF_AUDIENCES = ("clinician", "monitoring")
SEVERITY_RANK = {"high": 0, "warning": 1, "info": 2}
#: Most alerts of one status the inbox lists.
INBOX_LIMIT = 500
#: The alert burden is counted over this window (4 weeks).
BURDEN_WINDOW = timedelta(days=28)
#: Published range of alerts per patient-week in remote-monitoring programmes (RULES.md).
PUBLISHED_BURDEN = (0.4, 3.4)
UPLOADS_SHOWN = 50


@dataclass(frozen=True)
class InboxPage:
    """The inbox: its alerts in order, their patients' teams, the view, and the alert
    burden (clinician alerts per patient-week over :data:`BURDEN_WINDOW`; None with no
    patient) from ``opened`` alerts and ``enrolled`` patients; ``staff``: who alerts may be
    assigned to."""

    alerts: list[ListedAlert]
    teams: dict[str, str]
    view: str
    burden: float | None
    opened: int
    enrolled: int
    staff: list[str]


OWN_UPLOADS_SHOWN = 10


@dataclass(frozen=True)
class OwnPage:
    """The patient's own page: their plan's targets today, their last 7 days, their own
    nudges (alerts for the patient: never the clinicians') and recent uploads."""

    patient: Patient
    today: DayTargets
    days: list[DailySummary]
    nudges: list[Alert]
    uploads: list[Upload]


class Dashboard:
    """Reads behind the pages on the database of ``settings``; keeps the cohort's memo of
    patients' days between page views (:class:`rehabwatch.cohort.DaysMemo`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.url = settings, settings.database_url
        self.memo = DaysMemo()

    def cohort(self, caller: Caller, address: str, filters: Filters, sort: str = "attention",
               descending: bool = False, page: int = 1, per_page: int = PER_PAGE,
               now: datetime | None = None, action: str = "page.cohort") -> CohortPage:
        """One page of the overview of the caller's teams' patients (an admin's: everyone's),
        audited (``action``) for every patient shown, those who never sent data included."""
        teams = caller.team_scope()
        with database.session_scope(self.url) as session:
            cohort = build_cohort(session, sorted(teams) if teams is not None else None,
                                  filters, now or datetime.now(timezone.utc),
                                  self.settings.rules.overload_spike, self.memo, sort,
                                  descending)
            if self.memo.settle(FREEZE_AFTER):
                gc.freeze()
            pages = max(1, -(-len(cohort.rows) // per_page))
            page = min(max(page, 1), pages)
            shown = cohort.rows[(page - 1) * per_page:page * per_page]
            reads.audit_each(session, datetime.now(timezone.utc), caller.name, caller.role,
                             action, [r.patient_id for r in (*shown, *cohort.never_sent)],
                             address)
        return CohortPage(cohort, shown, page, pages)

    def patient(self, caller: Caller, address: str, patient_id: str, window: int,
                now: datetime | None = None) -> PatientPage:
        """The patient page's data over the ``window`` days up to the patient's yesterday,
        audited. The caller's right to see the patient is the route's rule."""
        params = self.settings.rules.overload_spike
        with database.session_scope(self.url) as session:
            patient = patients.get(session, patient_id)
            if patient is None:
                raise NotFound(f"no patient {patient_id}")
            zone = ZoneInfo(patient.tz)
            today = (now or datetime.now(timezone.utc)).astimezone(zone).date()
            last, first = today - timedelta(days=1), today - timedelta(days=window)
            plan = care_plan(session, patient)
            start = days_to_read(first, params)
            found = summaries.stored_range(session, patient_id, start, last)
            history = alerts.listed(session, patient_id)
            synced = patient.last_sync_at.astimezone(zone).date() if patient.last_sync_at else None
            points = patient_days(found, targets_between(plan, start, last), first, last,
                                  synced, [a for a in history if a.audience != "patient"],
                                  params)
            record(session, caller.actor(address), "page.patient", patient_id=patient_id,
                   detail={"from": first.isoformat(), "to": last.isoformat()})
            listed = uploads.listed(session, patient_id, UPLOADS_SHOWN, 0)
            return PatientPage(patient, targets_for(plan, today), points, window, history,
                               any(s.sitting_minutes is not None for s in found), listed)

    def inbox(self, caller: Caller, address: str, view: str,
              now: datetime | None = None) -> InboxPage:
        """The active alerts of ``view`` (:data:`INBOX_VIEWS`), high before warning before
        info and oldest first, each audited for its patient; the burden of the caller's
        teams; the staff an alert may be assigned to."""
        now = now or datetime.now(timezone.utc)
        teams = caller.team_scope()
        statuses = ("open", "acknowledged", "snoozed") if view != "team" else ("open",
                                                                               "acknowledged")
        with database.session_scope(self.url) as session:
            found = [a for status in statuses for a in alert_lists.listed(
                session, alert_lists.AlertFilter(
                    teams=teams, status=status,
                    assignee=caller.name if view == "mine" else None,
                    audiences=None if view == "all" else STAFF_AUDIENCES),
                INBOX_LIMIT, 0)]
            found.sort(key=lambda a: (SEVERITY_RANK[a.alert.severity.value], a.alert.opened_at))
            opened, enrolled = reads.clinician_alerts_since(session, teams,
                                                            now - BURDEN_WINDOW)
            staff = [u.name for u in users.listed(session) if u.disabled_at is None
                     and u.role != ADMIN and (teams is None or teams & {t.team for t in u.teams})]
            shown = sorted({a.alert.patient_id for a in found})
            teams_of = reads.teams_of(session, shown) if shown else {}
            reads.audit_each(session, now, caller.name, caller.role, "page.inbox", shown,
                             address)
        weeks = BURDEN_WINDOW.days / 7
        burden = opened / (enrolled * weeks) if enrolled else None
        return InboxPage(found, teams_of, view, burden, opened, enrolled, staff)

    def own(self, caller: Caller, actor: Actor) -> OwnPage:
        """What the calling patient's own page shows (their last 7 days, today's targets,
        their own nudges, their uploads), audited."""
        patient_id = caller.patient_id or ""
        with database.session_scope(self.url) as session:
            patient = patients.get(session, patient_id)
            if patient is None:
                raise NotFound(f"no patient {patient_id}")
            today = datetime.now(ZoneInfo(patient.tz)).date()
            plan = care_plan(session, patient)
            days = summaries.stored_range(session, patient_id, today - timedelta(days=7),
                                          today - timedelta(days=1))
            nudges = [a for a in alerts.active_alerts(session, [patient_id]).get(patient_id, [])
                      if a.audience in PATIENT_AUDIENCES]
            listed = uploads.listed(session, patient_id, OWN_UPLOADS_SHOWN, 0)
            record(session, actor, "page.own", patient_id=patient_id)
            return OwnPage(patient, targets_for(plan, today), days, nudges, listed)
