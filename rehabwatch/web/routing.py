"""What every page shares: the templates, the static files, and the route class that turns
the API's errors into pages (a caller who is not signed in is sent to the sign-in page; any
other error we raise on purpose is an HTML page with its reason and status).

Pages declare their access rule like every API route (:func:`rehabwatch.api.rules.allow`), so
the app refuses to start with a page that has none and the route-walking test covers them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from rehabwatch.access import Caller, Unauthenticated
from rehabwatch.api.errors import status_of
from schemas.errors import RehabwatchError

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
    trim_blocks=True, lstrip_blocks=True))


class PageRoute(APIRoute):
    """An HTML page. For a browser (a request that accepts ``text/html``): Unauthenticated
    -> 303 to the sign-in page (coming back after); any other :class:`RehabwatchError` ->
    the error page with the API's status for it. Other clients get the API's JSON errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            if "text/html" not in request.headers.get("accept", ""):
                return await handler(request)
            try:
                return await handler(request)
            except Unauthenticated:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)
            except RehabwatchError as exc:
                return error_page(request, status_of(exc), str(exc))

        return page


def error_page(request: Request, status: int, reason: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"status": status,
                                                              "reason": reason},
                                      status_code=status)


def render(request: Request, template: str, caller: Caller | None, /,
           **context: Any) -> HTMLResponse:
    """Page ``template`` for ``caller`` (the header shows who is signed in and sign-out)."""
    return templates.TemplateResponse(request, template, {"caller": caller, **context},
                                      headers={"Cache-Control": "no-store"})


def local_time(at: datetime | None, tz: str = "UTC") -> str:
    """``at`` in zone ``tz`` as ``2026-12-04 09:15`` (``never`` for None)."""
    if at is None:
        return "never"
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def ago(days: int | None) -> str:
    """A count of days as a person says it: ``today``, ``1 day``, ``12 days``, ``never``."""
    if days is None:
        return "never"
    if days <= 0:
        return "today"
    return "1 day ago" if days == 1 else f"{days} days ago"


def steps(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def weekday(day: date) -> str:
    return day.strftime("%a %d %b")


templates.env.filters.update(local_time=local_time, ago=ago, steps=steps, weekday=weekday)
