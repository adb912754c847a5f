"""Liveness, readiness and metrics (public: they carry no patient data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from rehabwatch import metrics
from rehabwatch.api.models import errors
from rehabwatch.api.rules import public
from storage import database

router = APIRouter(tags=["system"], responses=errors(503))


@router.get("/healthz", dependencies=[public()])
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[public()],
            responses={503: {"description": "the database cannot be used"}})
async def readyz(request: Request) -> dict[str, str]:
    """The database answers and has the current schema (else 503 with the reason)."""
    await run_in_threadpool(database.check_schema, request.app.state.settings.database_url)
    return {"status": "ready"}


@router.get("/metrics", dependencies=[public()], response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def prometheus() -> Response:
    """Prometheus metrics: counts and latency per route template (no identifiers)."""
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
