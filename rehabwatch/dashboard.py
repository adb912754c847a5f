"""The dashboard's reads, as one caller sees them: each call is one transaction that reads
and writes its audit entries (every page view of patient data is audited, one entry per
patient shown).

The cohort overview is :mod:`rehabwatch.cohort`; the patient page's data is
:mod:`rehabwatch.patient_view`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from rehabwatch.access import Caller
from rehabwatch.audit_trail import record
from rehabwatch.cohort import Cohort, CohortRow, DaysMemo, Filters, build_cohort
from rehabwatch.patient_view import DayPoint, days_to_read, patient_days
from rehabwatch.service import care_plan
from rehabwatch.settings import Settings
from schemas.alert_records import Alert
from schemas.errors import NotFound
from schemas.protocol import targets_between, targets_for
from schemas.records import DayTargets
from storage import alerts, database, patients, summaries
from storage.tables import Patient


#: Rows on one page of the overview.
PER_PAGE = 100


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
            pages = max(1, -(-len(cohort.rows) // per_page))
            page = min(max(page, 1), pages)
            shown = cohort.rows[(page - 1) * per_page:page * per_page]
            actor = caller.actor(address)
            for row in (*shown, *cohort.never_sent):
                record(session, actor, action, patient_id=row.patient_id)
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
            return PatientPage(patient, targets_for(plan, today), points, window, history,
                               any(s.sitting_minutes is not None for s in found))
