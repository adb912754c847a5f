"""The alert inbox (staff): active alerts by severity and age with their evidence and
assignee; acknowledge, snooze (1, 3 or 7 days, with a reason), resolve (with a reason) and
assign from the page (forms with the session's CSRF token; each action audited by the API's
use cases); the team's alert burden beside the published range."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from alerts import lifecycle
from rehabwatch.access import STAFF_ROLES, Caller
from rehabwatch.api.rules import actor_of, address_of, allow
from rehabwatch.dashboard import INBOX_VIEWS, PUBLISHED_BURDEN
from rehabwatch.web.routing import PageRoute, render
from rehabwatch.web.staff import dashboard_of
from schemas.alert_records import Alert
from schemas.errors import UsageError

router = APIRouter(route_class=PageRoute, include_in_schema=False)
VIEW_LABELS = (("mine", "Assigned to me"), ("team", "My teams"), ("all", "All, snoozed too"))
SNOOZE_DAYS = (1, 3, 7)
REASON = Form(min_length=1, max_length=500)


def _view(view: str) -> str:
    if view not in INBOX_VIEWS:
        raise UsageError(f"view is one of {', '.join(INBOX_VIEWS)}")
    return view


def age(alert: Alert) -> str:
    days = (datetime.now(timezone.utc) - alert.opened_at).days
    return "today" if days == 0 else "1 day" if days == 1 else f"{days} days"


@router.get("/inbox")
def inbox_page(request: Request, caller: Caller = allow(*STAFF_ROLES), view: str = "team",
               done: str = "") -> HTMLResponse:
    inbox = dashboard_of(request).inbox(caller, address_of(request), _view(view))
    return render(request, "inbox.html", caller, nav="inbox", inbox=inbox, views=VIEW_LABELS,
                  published=PUBLISHED_BURDEN, age=age, done=done)


async def _act(request: Request, caller: Caller, alert_id: str, verb: str, view: str,
               action: Any, said: str) -> RedirectResponse:
    await run_in_threadpool(request.app.state.clinic.act, caller, actor_of(request, caller),
                            alert_id, verb, action)
    return _back(view, said)


def _back(view: str, said: str) -> RedirectResponse:
    return RedirectResponse("/inbox?" + urlencode({"view": _view(view), "done": said}),
                            status_code=303)


@router.post("/inbox/alerts/{alert_id}/acknowledge")
async def acknowledge(request: Request, alert_id: str, view: str = Form("team"),
                      caller: Caller = allow(*STAFF_ROLES, scope="alert")) -> RedirectResponse:
    now = datetime.now(timezone.utc)
    return await _act(request, caller, alert_id, "acknowledge", view,
                      lambda a: lifecycle.acknowledge(a, caller.name, "", now),
                      "Alert acknowledged.")


@router.post("/inbox/alerts/{alert_id}/snooze")
async def snooze(request: Request, alert_id: str, days: int = Form(), reason: str = REASON,
                 view: str = Form("team"),
                 caller: Caller = allow(*STAFF_ROLES, scope="alert")) -> RedirectResponse:
    if days not in SNOOZE_DAYS:
        raise UsageError("snooze for 1, 3 or 7 days")
    now = datetime.now(timezone.utc)
    until = now.date() + timedelta(days=days)
    return await _act(request, caller, alert_id, "snooze", view,
                      lambda a: lifecycle.snooze(a, until, caller.name, reason, now),
                      f"Alert snoozed until {until}.")


@router.post("/inbox/alerts/{alert_id}/resolve")
async def resolve(request: Request, alert_id: str, reason: str = REASON,
                  view: str = Form("team"),
                  caller: Caller = allow(*STAFF_ROLES, scope="alert")) -> RedirectResponse:
    now = datetime.now(timezone.utc)
    return await _act(request, caller, alert_id, "resolve", view,
                      lambda a: lifecycle.resolve(a, caller.name, reason, now),
                      "Alert resolved.")


@router.post("/inbox/alerts/{alert_id}/assign")
async def assign(request: Request, alert_id: str, assignee: str = Form(max_length=64),
                 view: str = Form("team"),
                 caller: Caller = allow(*STAFF_ROLES, scope="alert")) -> RedirectResponse:
    await run_in_threadpool(request.app.state.clinic.assign, caller, actor_of(request, caller),
                            alert_id, assignee)
    return _back(view, f"Alert assigned to {assignee}.")
