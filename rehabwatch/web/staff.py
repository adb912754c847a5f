"""Staff pages: sign-in and sign-out, the cohort (the landing page) and its JSON twin
``GET /api/v1/cohort``, and the static files every page loads."""

from __future__ import annotations

import math
import secrets
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from alerts.day_states import DayState
from rehabwatch import credentials
from rehabwatch.access import STAFF_ROLES, Caller, Throttled, Unauthenticated
from rehabwatch.api.models import errors
from rehabwatch.api.rules import COOKIE, address_of, allow, public
from rehabwatch.cohort import ALERT_STATES, SORTS, CohortRow, Filters
from rehabwatch.dashboard import PER_PAGE, Dashboard
from rehabwatch.web.routing import STATIC, PageRoute, render
from schemas.errors import UsageError

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: Stylesheet, scripts, icon and the vendored uPlot (with its licence), for anyone.
router.mount("/static", StaticFiles(directory=STATIC), name="static")
api = APIRouter(prefix="/api/v1", tags=["dashboard"], responses=errors())

#: The sign-in form's own CSRF cookie (double submit: no session exists yet).
SIGNIN_COOKIE = "rw_signin"
SORT_LABELS = {"attention": "needs attention", "patient": "patient",
               "phase": "procedure, phase and week", "median": "7-day median steps",
               "valid": "valid days of the last 7", "upload": "days since the last upload",
               "wear": "days since the last valid wear day", "alerts": "open alerts"}
#: Columns whose first click sorts largest first (the stalest, the most alerts).
DESC_FIRST = frozenset({"upload", "wear", "alerts"})


def dashboard_of(request: Request) -> Dashboard:
    """The app's one :class:`Dashboard` (made on first use: it keeps the cohort memo)."""
    state = request.app.state
    if getattr(state, "dashboard", None) is None:
        state.dashboard = Dashboard(state.settings)
    found: Dashboard = state.dashboard
    return found


@router.get("/sign-in", dependencies=[public()])
def sign_in_page(request: Request, next: str = "/", signed_out: int = 0) -> HTMLResponse:
    return _sign_in_form(request, next=next, signed_out=bool(signed_out))


def _sign_in_form(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    context = {"next": "/", "name": "", "problem": "", "signed_out": False, **context}
    page = render(request, "sign_in.html", None, signin_csrf=token, **context)
    page.status_code = status
    page.set_cookie(SIGNIN_COOKIE, token, max_age=3600, path="/sign-in", httponly=True,
                    samesite="strict", secure=request.url.scheme == "https")
    return page


def _safe_next(target: str) -> str:
    """Only a path of this site (never ``//host`` or a scheme) is followed after sign-in."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@router.post("/sign-in", dependencies=[public()])
async def sign_in(request: Request, name: str = Form(max_length=64),
                  password: str = Form(max_length=1024), signin_csrf: str = Form(""),
                  next: str = Form("/")) -> Response:
    """Check the form's own CSRF token, then the password (the API's sign-in), set the
    session cookie and go where the user was going."""
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not signin_csrf or not credentials.same(signin_csrf, cookie):
        return _sign_in_form(request, 403, next=next, name=name,
                             problem="This form expired or did not come from this site: "
                                     "sign in again.")
    try:
        signed = await run_in_threadpool(request.app.state.accounts.sign_in, name, password,
                                         address_of(request))
    except Throttled as exc:
        return _sign_in_form(request, 429, next=next, name=name,
                             problem=f"Too many failed sign-ins: try again in "
                                     f"{math.ceil(exc.retry_after_s / 60)} minutes.")
    except Unauthenticated:
        return _sign_in_form(request, 401, next=next, name=name,
                             problem="Wrong user name or password.")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, signed.cookie,
                        max_age=int(request.app.state.settings.api.session_max_s), path="/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    response.delete_cookie(SIGNIN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
def sign_out(request: Request, caller: Caller = allow(*STAFF_ROLES)) -> Response:
    """End the session (the form carries its CSRF token, checked by the access rule)."""
    if caller.via != "session":
        raise UsageError("sign-out ends a session cookie; a token is revoked with "
                         "`rehabwatch token revoke ID`")
    request.app.state.accounts.sign_out(caller, address_of(request))
    response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response


def _filters(team: str, procedure: str, phase: str, alert_state: str) -> Filters:
    if alert_state and alert_state not in ALERT_STATES:
        raise UsageError(f"alert_state {alert_state!r} is not one of {', '.join(ALERT_STATES)}")
    return Filters(team or None, procedure or None, phase or None, alert_state or None)


def _sort(sort: str, direction: str) -> tuple[str, bool]:
    if sort not in SORTS:
        raise UsageError(f"sort {sort!r} is not one of {', '.join(SORTS)}")
    if direction not in ("asc", "desc"):
        raise UsageError("dir is asc or desc")
    return sort, direction == "desc"


@router.get("/")
def cohort_page(request: Request, caller: Caller = allow(*STAFF_ROLES), team: str = "",
                procedure: str = "", phase: str = "", alert_state: str = "",
                sort: str = "attention", dir: str = "asc", page: int = 1) -> HTMLResponse:
    filters = _filters(team, procedure, phase, alert_state)
    key, descending = _sort(sort, dir)
    found = dashboard_of(request).cohort(caller, address_of(request), filters, key,
                                         descending, page)
    cohort = found.cohort
    params = {"team": team, "procedure": procedure, "phase": phase,
              "alert_state": alert_state, "sort": key, "dir": dir, "page": found.page}

    def query(**changes: Any) -> str:
        merged = {k: v for k, v in {**params, **changes}.items() if v not in ("", None)}
        return "/?" + urlencode(merged)

    first = cohort.rows[0].first_day if cohort.rows else None
    return render(
        request, "cohort.html", caller, nav="cohort", cohort=cohort, rows=found.rows,
        page=found.page, pages=found.pages, sort=key, descending=descending,
        sort_labels=SORT_LABELS, desc_first=DESC_FIRST, query=query,
        filters={"team": filters.team, "procedure": filters.procedure,
                 "phase": filters.phase, "alert_state": filters.alert_state},
        any_filter=any((team, procedure, phase, alert_state)),
        filter_fields=[("team", "Team", cohort.teams),
                       ("procedure", "Procedure", cohort.procedures),
                       ("phase", "Phase", cohort.phases),
                       ("alert_state", "Alerts", ALERT_STATES)],
        within_pct=(f"{cohort.within / cohort.with_target:.0%}" if cohort.with_target
                    else "–"),
        states=list(DayState), grid_first=first, band_class=band_class,
        grid_summary=grid_summary, cell_title=CellTitles())


def band_class(row: CohortRow) -> str:
    """``below``, ``within`` or ``above`` for the 7-day median against the band."""
    if row.median_steps is None or row.steps_low is None:
        return ""
    if row.median_steps < row.steps_low:
        return "below"
    return "above" if row.steps_high and row.median_steps > row.steps_high else "within"


def grid_summary(row: CohortRow) -> str:
    """The 30 days in words, for screen readers: ``30 days: 21 within target, 5 ...``."""
    parts = [f"{n} {s.label}" for s in DayState if (n := row.cells.count(str(int(s))))]
    return f"Last {len(row.cells)} days: " + ", ".join(parts)


class CellTitles:
    """Each grid cell's tooltip (``Tue 02 Dec: below target``), made once per page for each
    first day and state (a page has 3,000 cells and one or two first days)."""

    def __init__(self) -> None:
        self._days: dict[object, list[str]] = {}
        self._labels = {str(int(s)): s.label for s in DayState}

    def __call__(self, row: CohortRow, index: int, cell: str) -> str:
        days = self._days.get(row.first_day)
        if days is None:
            days = self._days[row.first_day] = [
                (row.first_day + timedelta(days=i)).strftime("%a %d %b")
                for i in range(len(row.cells))]
        return f"{days[index]}: {self._labels[cell]}"


Sort = Literal["attention", "patient", "phase", "median", "valid", "upload", "wear", "alerts"]
AlertState = Literal["open", "acknowledged", "snoozed", "none"]
Text = Annotated[str | None, Query(max_length=64)]


@api.get("/cohort")
def cohort_json(request: Request, caller: Caller = allow(*STAFF_ROLES), team: Text = None,
                procedure: Text = None, phase: Text = None,
                alert_state: Annotated[AlertState | None, Query()] = None,
                sort: Annotated[Sort, Query()] = "attention",
                dir: Annotated[Literal["asc", "desc"], Query()] = "asc",
                page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                per_page: Annotated[int, Query(ge=1, le=500)] = PER_PAGE) -> dict[str, Any]:
    """The cohort overview, one page of it: one row per patient of the caller's teams, with
    the 30 days' states (``day_states``: codes, oldest first, ending yesterday in the
    patient's zone; ``state_names`` says what each code means), patients who never sent
    data apart (``never_sent``); filters by team, procedure, phase and alert state (open:
    an alert nobody acknowledged; acknowledged; snoozed; none). ``days_since_upload`` and
    ``days_since_valid_day`` are null for "never"."""
    found = dashboard_of(request).cohort(
        caller, address_of(request), Filters(team, procedure, phase, alert_state), sort,
        dir == "desc", page, per_page, action="cohort.read")
    cohort = found.cohort
    return {"page": found.page, "pages": found.pages, "per_page": per_page,
            "total": len(cohort.rows),
            "within_target_yesterday": {"patients": cohort.within, "of": cohort.with_target},
            "state_names": {int(s): s.label for s in DayState},
            "rows": [row_doc(r) for r in found.rows],
            "never_sent": [row_doc(r) for r in cohort.never_sent]}


def row_doc(row: CohortRow) -> dict[str, Any]:
    return {"patient_id": row.patient_id, "team": row.team, "procedure": row.procedure,
            "tz": row.tz, "phase": row.phase, "week": row.week,
            "median_steps_7d": row.median_steps, "steps_low": row.steps_low,
            "steps_high": row.steps_high, "valid_days_7d": row.valid_days,
            "days_since_upload": row.days_since_upload,
            "days_since_valid_day": row.days_since_valid, "open_alerts": row.alerts,
            "unacknowledged_alerts": row.unacknowledged, "snoozed_alerts": row.snoozed,
            "alert_state": row.alert_state, "needs_attention": row.reason,
            "first_day": row.first_day.isoformat(),
            "day_states": [int(c) for c in row.cells]}
