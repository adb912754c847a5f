"""The dashboard's reads, as one caller sees them: each call is one transaction that reads
and writes its audit entries (every page view of patient data is audited, one entry per
patient shown).

The cohort overview is :mod:`rehabwatch.cohort`; the patient page's data is
:mod:`rehabwatch.patient_view`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from rehabwatch.access import Caller
from rehabwatch.audit_trail import record
from rehabwatch.cohort import Cohort, CohortRow, DaysMemo, Filters, build_cohort
from rehabwatch.settings import Settings
from storage import database


#: Rows on one page of the overview.
PER_PAGE = 100


@dataclass(frozen=True)
class CohortPage:
    """The overview and the rows of one of its pages (``page`` of ``pages``)."""

    cohort: Cohort
    rows: list[CohortRow]
    page: int
    pages: int


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
