"""The patient's own page: this week against their target in plain, encouraging words, the
last sync, their uploads, and an upload form that says what was accepted and why not.

The page is opened with a link carrying the patient's token after ``#`` (``/me#token=rwt_...``):
the part after ``#`` never leaves the browser, so the token is in no server log; the page's
script keeps it for the tab and calls the API with it (``GET /api/v1/me/progress``, the
uploads route). A patient sees their own numbers, targets and nudges, never the clinicians'
alerts or evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from rehabwatch.access import PATIENT, Caller
from rehabwatch.api.models import errors
from rehabwatch.api.rules import actor_of, allow, public
from rehabwatch.web.routing import PageRoute, render
from rehabwatch.web.staff import dashboard_of
from schemas.records import DailySummary, DayTargets

router = APIRouter(route_class=PageRoute, include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["patient"], responses=errors())
#: Share of the low bound under which the words say "a few short walks" rather than "close".
CLOSE = 0.7


@dataclass(frozen=True)
class Week:
    """What the words are made of: the valid days of the last 7 and their typical steps."""

    valid_days: int
    typical_steps: float | None
    low: float | None
    high: float | None


def week_of(days: list[DailySummary], today: DayTargets) -> Week:
    steps = [s.steps for s in days if s.valid and s.steps is not None]
    return Week(len(steps), float(median(steps)) if steps else None,
                today.steps_low.value if today.steps_low else None,
                today.steps_high.value if today.steps_high else None)


def progress_words(week: Week) -> str:
    """This week in plain, encouraging words (no alert, no clinical judgement)."""
    if week.typical_steps is None:
        return ("We have not received a full day from your tracker in the last 7 days. Wear it "
                "from morning to evening, sync it, and send the export here: your progress "
                "will show up on this page.")
    typical, days = f"{week.typical_steps:,.0f}", week.valid_days
    counted = f"on the {days} day{'s' * (days > 1)} your tracker counted fully"
    if week.low is None:
        return f"A typical day {counted} this week was {typical} steps. Keep it up."
    low = f"{week.low:,.0f}"
    if week.high is not None and week.typical_steps > week.high:
        return (f"A typical day {counted} was {typical} steps, above the {week.high:,.0f} "
                "your care team set as the upper limit for now. Pacing matters at this stage: "
                "keep to your range, and rest between walks.")
    if week.typical_steps >= week.low:
        return (f"Well done: a typical day {counted} was {typical} steps, on target "
                f"(at least {low} a day). Keep going at this pace.")
    if week.typical_steps >= CLOSE * week.low:
        return (f"You are getting close: a typical day {counted} was {typical} steps, and "
                f"your target is {low}. One more short walk a day would get you there.")
    return (f"A typical day {counted} was {typical} steps; your target is {low}. Every "
            "walk counts: try a few short walks spread over the day. If pain holds you back, "
            "tell your care team.")


@router.get("/me", dependencies=[public()])
def own_page(request: Request) -> HTMLResponse:
    """The page's frame; its script fills it in with the patient's token."""
    return render(request, "own.html", None)


@api.get("/me/progress")
async def own_progress(request: Request, caller: Caller = allow(PATIENT)) -> dict[str, Any]:
    """The calling patient's last 7 days in words, their target, last sync, their nudges
    and recent uploads (status and reason), as the patient's page shows them."""
    found = await run_in_threadpool(dashboard_of(request).own, caller,
                                    actor_of(request, caller))
    week = week_of(found.days, found.today)
    return {"patient_id": found.patient.id, "tz": found.patient.tz,
            "words": progress_words(week), "valid_days_7d": week.valid_days,
            "typical_steps_7d": week.typical_steps, "steps_low": week.low,
            "steps_high": week.high, "phase": found.today.phase, "week": found.today.week,
            "last_sync_at": found.patient.last_sync_at.isoformat()
            if found.patient.last_sync_at else None,
            "nudges": [a.message for a in found.nudges],
            "uploads": [{"received_at": u.received_at.isoformat(), "filename": u.filename,
                         "status": u.status, "format": u.format, "days": u.grids,
                         "reason": u.reason} for u in found.uploads]}
