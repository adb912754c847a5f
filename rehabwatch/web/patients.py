"""The patient page (staff): daily steps against the target band over the patient's local
days, wear and stationary time, alerts with their history, the care plan (editable by
clinicians) and the uploads."""

from __future__ import annotations

from datetime import date
from typing import Any

from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from alerts.day_states import DayState

from rehabwatch.access import ADMIN, CLINICIAN, STAFF_ROLES, Caller
from rehabwatch.api.rules import actor_of, address_of, allow
from rehabwatch.dashboard import PatientPage
from rehabwatch.patient_view import WINDOWS, phase_marks
from rehabwatch.web.routing import PageRoute, render
from rehabwatch.web.staff import dashboard_of
from schemas.alert_records import AlertStatus
from schemas.errors import UsageError
from schemas.protocol import procedures
from schemas.records import DayTargets

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: Targets a clinician may set on the page, with their labels.
TARGET_FIELDS = (("steps_low", "Daily steps, low"), ("steps_high", "Daily steps, high"),
                 ("stationary_bout_max_min", "Longest stationary bout, min"))
EDITORS = (CLINICIAN, ADMIN)


def chart_data(page: PatientPage) -> dict[str, Any]:
    """The charts' numbers, as charts.js reads them (None: a gap)."""
    days = page.days
    return {"labels": [d.day.strftime("%a %d %b") for d in days],
            "state": [int(d.state) for d in days], "steps": [d.steps for d in days],
            "low": [d.low for d in days], "high": [d.high for d in days],
            "median": [d.median_7d for d in days],
            "wear": [d.wear_minutes_daytime for d in days],
            "bout": [d.longest_stationary_min for d in days],
            "limit": [d.stationary_limit_min for d in days],
            "phases": phase_marks(days),
            "alerts": [[i, text, text.split(" ")[0]] for i, d in enumerate(days)
                       for text in d.alerts],
            "posture": page.posture_sensed}


def _origin(targets: DayTargets) -> str:
    if targets.steps_low is None:
        return ""
    origin = targets.steps_low.origin
    return "set by a clinician" if origin == "override" else (
        "from the personal baseline" if origin == "baseline" else "protocol default")


def patient_context(request: Request, caller: Caller, patient_id: str, days: int,
                    **extra: Any) -> dict[str, Any]:
    if days not in WINDOWS:
        raise UsageError(f"days is one of {', '.join(map(str, WINDOWS))}")
    page = dashboard_of(request).patient(caller, address_of(request), patient_id, days)
    today = page.today
    protocol = {name: getattr(today, name) for name, _ in TARGET_FIELDS}
    return {"nav": "cohort", "p": page.patient, "today": today, "days": page.days,
            "window": days, "windows": WINDOWS, "alerts": list(reversed(page.alerts)),
            "open_alerts": [a for a in page.alerts if a.status is not AlertStatus.RESOLVED
                            and a.audience != "patient"],
            "posture": page.posture_sensed, "chart": chart_data(page),
            "any_high": any(d.high is not None for d in page.days),
            "origin": _origin, "may_edit": caller.role in EDITORS,
            "target_fields": TARGET_FIELDS, "overrides": dict(page.patient.overrides or {}),
            "protocol_value": lambda name: (f"{protocol[name].value:,.0f}"
                                            if protocol[name] else "none"),
            "states": list(DayState),
            "uploads": page.uploads,
            "valid_7d": sum(d.steps is not None for d in page.days[-7:]),
            "procedures": sorted(procedures()), **extra}


@router.get("/patients/{patient_id}")
def patient_page(request: Request, patient_id: str, days: int = WINDOWS[0], saved: str = "",
                 caller: Caller = allow(*STAFF_ROLES, scope="patient")) -> HTMLResponse:
    return render(request, "patient.html", caller,
                  **patient_context(request, caller, patient_id, days, plan_saved=saved))


def _override(name: str, raw: str) -> float | None:
    """A form field of a target: empty (the protocol's value) or a whole number above 0."""
    raw = raw.strip().replace(",", "")
    if not raw:
        return None
    if not raw.isdigit() or int(raw) <= 0:
        raise UsageError(f"{dict(TARGET_FIELDS)[name]}: a whole number above 0, or empty for "
                         "the protocol's value")
    return float(raw)


def _plan_fields(procedure: str, start_date: str, tz: str, shown: tuple[str, str, str]
                 ) -> dict[str, Any]:
    """The plan fields the form changed from what it showed (``shown``), checked."""
    procedure, start_date, tz = (new if new != old else ""
                                 for new, old in zip((procedure, start_date, tz), shown))
    changes: dict[str, Any] = {}
    if procedure:
        if procedure not in procedures():
            raise UsageError(f"unknown procedure {procedure!r}")
        changes["procedure"] = procedure
    if start_date:
        try:
            changes["start_date"] = date.fromisoformat(start_date)
        except ValueError:
            raise UsageError(f"start date {start_date!r} is not a date (YYYY-MM-DD)") from None
    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"{tz!r} is not a time zone (e.g. Europe/London)") from None
        changes["tz"] = tz
    return changes


@router.post("/patients/{patient_id}/plan")
async def edit_plan(request: Request, patient_id: str,
                    caller: Caller = allow(*EDITORS, scope="patient"),
                    steps_low: str = Form("", max_length=12),
                    steps_high: str = Form("", max_length=12),
                    stationary_bout_max_min: str = Form("", max_length=12),
                    procedure: str = Form("", max_length=32),
                    start_date: str = Form("", max_length=10), tz: str = Form("", max_length=64),
                    shown: str = Form("", max_length=120),
                    days: int = Form(WINDOWS[0])) -> RedirectResponse:
    """Set the procedure, start date and zone, and set or clear the target overrides (the
    API's plan edit, audited)."""
    given = {"steps_low": steps_low, "steps_high": steps_high,
             "stationary_bout_max_min": stationary_bout_max_min}
    overrides = {name: value for name, raw in given.items()
                 if (value := _override(name, raw)) is not None}
    if "steps_low" in overrides and "steps_high" in overrides \
            and overrides["steps_high"] <= overrides["steps_low"]:
        raise UsageError("the high bound of daily steps must be above the low bound")
    was = (shown.split("|") + ["", "", ""])[:3]
    changes = {**_plan_fields(procedure, start_date, tz, (was[0], was[1], was[2])),
               "overrides": overrides}
    await run_in_threadpool(request.app.state.clinic.edit_plan, caller,
                            actor_of(request, caller), patient_id, changes)
    said = ", ".join([*(f"{k.replace('_', ' ')} {v}" for k, v in changes.items()
                        if k != "overrides"),
                      *(f"{dict(TARGET_FIELDS)[k].lower()} {v:,.0f}"
                        for k, v in overrides.items())])
    return RedirectResponse(f"/patients/{patient_id}?" + urlencode(
        {"days": days if days in WINDOWS else WINDOWS[0],
         "saved": said or "protocol targets"}), status_code=303)
