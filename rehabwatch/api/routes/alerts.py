"""Alerts: list with filters, show with history, acknowledge, snooze, resolve, assign (the
same lifecycle as the CLI, each action audited)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from alerts import lifecycle
from rehabwatch.access import ROLES, STAFF_ROLES, Caller
from rehabwatch.api.models import Acknowledge, AlertId, Assign, Id, Limit, Offset, Resolve, \
    Snooze, errors
from rehabwatch.api.rules import actor_of, allow
from rehabwatch.clinic import Page
from schemas.alert_records import AlertStatus, Severity
from schemas.errors import UsageError
from storage.alert_lists import AlertFilter

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=errors(409))
Doc = dict[str, Any]


@router.get("")
async def list_alerts(request: Request, caller: Caller = allow(*ROLES),
                      patient: Annotated[Id | None, Query()] = None,
                      team: Annotated[Id | None, Query()] = None,
                      status: Annotated[AlertStatus | None, Query()] = None,
                      rule: Annotated[str | None, Query(max_length=32)] = None,
                      severity: Annotated[Severity | None, Query()] = None,
                      assignee: Annotated[Id | None, Query()] = None,
                      older_than_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
                      limit: Limit = 100, offset: Offset = 0) -> dict[str, list[Doc]]:
    """Alerts the caller may see, oldest first (a patient: their own nudges only)."""
    before = (datetime.now(timezone.utc) - timedelta(days=older_than_days)
              if older_than_days is not None else None)
    where = AlertFilter(patient_id=patient, team=team,
                        status=status.value if status else None, rule=rule,
                        severity=severity.value if severity else None, assignee=assignee,
                        opened_before=before)
    docs = await run_in_threadpool(request.app.state.clinic.list_alerts, caller,
                                   actor_of(request, caller), where, Page(limit, offset))
    return {"alerts": docs}


@router.get("/{alert_id}")
async def show_alert(alert_id: AlertId, request: Request,
                     caller: Caller = allow(*ROLES, scope="alert")) -> Doc:
    """The alert with its history (every transition: who, when, why) and assignee."""
    doc: Doc = await run_in_threadpool(request.app.state.clinic.show_alert, caller,
                                       actor_of(request, caller), alert_id)
    return doc


async def _act(request: Request, caller: Caller, alert_id: str, verb: str,
               action: Any) -> Doc:
    doc: Doc = await run_in_threadpool(request.app.state.clinic.act, caller,
                                       actor_of(request, caller), alert_id, verb, action)
    return doc


@router.post("/{alert_id}/acknowledge")
async def acknowledge(alert_id: AlertId, body: Acknowledge, request: Request,
                      caller: Caller = allow(*STAFF_ROLES, scope="alert")) -> Doc:
    now = datetime.now(timezone.utc)
    return await _act(request, caller, alert_id, "acknowledge",
                      lambda a: lifecycle.acknowledge(a, caller.name, body.reason, now))


@router.post("/{alert_id}/snooze")
async def snooze(alert_id: AlertId, body: Snooze, request: Request,
                 caller: Caller = allow(*STAFF_ROLES, scope="alert")) -> Doc:
    """Snooze until ``until`` or for ``days`` (1, 3 or 7), with a reason."""
    now = datetime.now(timezone.utc)
    if (body.until is None) == (body.days is None):
        raise UsageError("give either until (YYYY-MM-DD) or days (1, 3 or 7)")
    until: date = body.until or now.date() + timedelta(days=body.days or 0)
    return await _act(request, caller, alert_id, "snooze",
                      lambda a: lifecycle.snooze(a, until, caller.name, body.reason, now))


@router.post("/{alert_id}/resolve")
async def resolve(alert_id: AlertId, body: Resolve, request: Request,
                  caller: Caller = allow(*STAFF_ROLES, scope="alert")) -> Doc:
    now = datetime.now(timezone.utc)
    return await _act(request, caller, alert_id, "resolve",
                      lambda a: lifecycle.resolve(a, caller.name, body.reason, now))


@router.post("/{alert_id}/assign")
async def assign(alert_id: AlertId, body: Assign, request: Request,
                 caller: Caller = allow(*STAFF_ROLES, scope="alert")) -> Doc:
    """Assign the alert to a staff user of its patient's team."""
    doc: Doc = await run_in_threadpool(request.app.state.clinic.assign, caller,
                                       actor_of(request, caller), alert_id, body.assignee)
    return doc
