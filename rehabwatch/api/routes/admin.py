"""Administration (admins only): the audit trail, staff users and tokens (read; changes are
made with the CLI)."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from rehabwatch.access import ADMIN, Caller
from rehabwatch.api.models import DayQuery, Id, Limit, errors
from rehabwatch import audit_trail
from rehabwatch.api.rules import actor_of, allow

router = APIRouter(prefix="/api/v1", tags=["admin"], responses=errors())
Doc = dict[str, Any]


@router.get("/audit")
async def read_audit(request: Request, caller: Caller = allow(ADMIN),
                      patient: Annotated[Id | None, Query()] = None,
                      actor: Annotated[str | None, Query(max_length=100)] = None,
                      date_from: Annotated[DayQuery, Query(alias="from")] = None,
                      limit: Limit = 500) -> dict[str, list[Doc]]:
    """Audit entries, oldest first, by patient, actor and day (UTC)."""
    since = datetime.combine(date_from, time(), timezone.utc) if date_from else None
    entries = await run_in_threadpool(audit_trail.entries,
                                      request.app.state.settings.database_url, patient, actor,
                                      since, limit, actor_of(request, caller))
    return {"entries": entries}


@router.get("/users")
async def list_users(request: Request, caller: Caller = allow(ADMIN)) -> dict[str, list[Doc]]:
    return {"users": await run_in_threadpool(request.app.state.accounts.users)}


@router.get("/tokens")
async def list_tokens(request: Request, caller: Caller = allow(ADMIN)) -> dict[str, list[Doc]]:
    """Tokens with their state (never their secrets)."""
    return {"tokens": await run_in_threadpool(request.app.state.accounts.tokens)}
