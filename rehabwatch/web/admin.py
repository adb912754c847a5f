"""The admin page: notifications that keep failing, the audit trail (by patient and actor),
staff users and API tokens (never their secrets)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from rehabwatch import audit_trail
from rehabwatch.access import ADMIN, Caller
from rehabwatch.api.rules import actor_of, allow
from rehabwatch.web.routing import PageRoute, render
from schemas.errors import UsageError
from storage import database, outbox

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: Entries the page shows (the newest).
AUDIT_SHOWN = 300


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"from day {raw!r} is not a date (YYYY-MM-DD)") from None


def _undelivered(url: str) -> list[dict[str, object]]:
    with database.session_scope(url) as session:
        return outbox.undelivered(session)


@router.get("/admin")
async def admin_page(request: Request, caller: Caller = allow(ADMIN), patient: str = "",
                     actor: str = "", date_from: str = "") -> HTMLResponse:
    state = request.app.state
    since = (datetime.combine(_day(date_from), time(), timezone.utc) if date_from
             else datetime.now(timezone.utc) - timedelta(days=1))
    entries = await run_in_threadpool(audit_trail.entries, state.settings.database_url,
                                      patient or None, actor or None, since,
                                      AUDIT_SHOWN * 10, actor_of(request, caller))
    return render(request, "admin.html", caller, nav="admin",
                  failing=await run_in_threadpool(_undelivered, state.settings.database_url),
                  entries=entries[::-1][:AUDIT_SHOWN], truncated=len(entries) > AUDIT_SHOWN,
                  patient=patient, actor=actor, date_from=date_from or "",
                  users=await run_in_threadpool(state.accounts.users),
                  tokens=await run_in_threadpool(state.accounts.tokens))
