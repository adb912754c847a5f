"""The FastAPI application: :func:`create_app` builds it from the settings tree (the
composition root of the API; the dashboard's page routes are added the same way)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from rehabwatch.accounts import Accounts
from rehabwatch.api import errors
from rehabwatch.api.observe import Observe
from rehabwatch.api.routes import admin, alerts, patients, session, system, uploads
from rehabwatch.api.rules import routes_of
from rehabwatch.clinic import Clinic
from rehabwatch.settings import Settings

ROUTERS: tuple[APIRouter, ...] = (system.router, session.router, patients.router,
                                  alerts.router, admin.router)


def create_app(settings: Settings, extra: Sequence[APIRouter] = ()) -> FastAPI:
    """The API on the database of ``settings``, with ``extra`` routers (the dashboard's
    pages) after its own. Every route must declare an access rule, or this raises."""
    app = FastAPI(title="rehabwatch", version="1", docs_url=None, redoc_url=None,
                  max_body_size=errors.MAX_BODY,
                  description="Activity monitoring for lumbar spine rehabilitation. Every "
                  "route but /healthz, /readyz, /metrics and sign-in needs a bearer token "
                  "(Authorization: Bearer rwt_...) or a staff session cookie.")
    app.state.settings = settings
    app.state.accounts = Accounts(settings)
    app.state.clinic = Clinic(settings)
    for router in (*ROUTERS, uploads.router_for(settings), *extra):
        app.include_router(router)
    errors.install(app)
    unruled = [r.path for r in routes_of(app) if r.rule is None]
    if unruled:
        raise RuntimeError(f"routes without an access rule: {', '.join(unruled)}")
    return app


def served(app: FastAPI) -> ASGIApp:
    """``app`` as uvicorn serves it: wrapped outside FastAPI's own body-size limit, so that
    every answer (its 413s too) is counted and logged by route template and every error is
    JSON."""
    return Observe(errors.JsonTooLarge(app, app.state.settings.max_upload_mb))
