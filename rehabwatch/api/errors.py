"""Errors as HTTP answers: every error we raise on purpose, and every request FastAPI cannot
read, becomes a 4xx (503 for a database that cannot be used) with one JSON document
``{"error": reason, "details": [...]}`` a person can act on. Anything else is a bug: a 500
that says no more than that (the traceback goes to the log, not to the client)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.lifecycle import AlertError, InvalidTransition
from ingest.errors import IngestError, TooLarge
from rehabwatch.access import Forbidden, Throttled, Unauthenticated
from schemas.errors import NotFound, RehabwatchError
from rehabwatch.api.routes.uploads import UnsupportedMedia
from storage.database import StorageError

log = logging.getLogger("rehabwatch.api")
#: Largest JSON or form body of any route but uploads (which set their own limit).
MAX_BODY = 1024 * 1024

#: Most specific first: the status of each error family.
STATUS: tuple[tuple[type[RehabwatchError], int], ...] = (
    (Unauthenticated, 401), (Forbidden, 403), (NotFound, 404), (Throttled, 429),
    (InvalidTransition, 409), (AlertError, 422), (TooLarge, 413), (IngestError, 422),
    (StorageError, 503), (UnsupportedMedia, 415), (RehabwatchError, 400))


def status_of(exc: RehabwatchError) -> int:
    return next(code for kind, code in STATUS if isinstance(exc, kind))


def error_response(status: int, reason: str, details: list[Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason, "details": details or []}, status_code=status,
                        headers=headers)


async def _ours(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RehabwatchError)
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after_s)
    return error_response(status, str(exc), headers=headers)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [_readable(e) for e in exc.errors()]
    return error_response(422, "the request is not valid: " + "; ".join(details), details)


def _readable(error: Any) -> str:
    """One validation error as ``where: what`` (``query from: Input should be a valid date
    ...``), without echoing the input."""
    where = " ".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}"


def too_large(max_upload_mb: int) -> str:
    return (f"the request body is too large: an upload takes at most {max_upload_mb} MB "
            f"(RW_MAX_UPLOAD_MB), any other request {MAX_BODY // 1024} KB")


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    reason = {404: "no such route", 405: "method not allowed on this route",
              413: too_large(request.app.state.settings.max_upload_mb)}.get(
        exc.status_code, str(exc.detail))
    return error_response(exc.status_code, reason, headers=dict(exc.headers or {}))


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error on %s %s", request.method, _template(request))
    return error_response(500, "internal error (a bug, logged on the server)")


def _template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "(unmatched)"))


class JsonTooLarge:
    """ASGI middleware: Starlette answers a declared ``Content-Length`` above a route's limit
    with a plain-text 413 before the app runs; this sends it as our JSON error instead."""

    def __init__(self, app: ASGIApp, max_upload_mb: int) -> None:
        self.app, self.body = app, json.dumps({"error": too_large(max_upload_mb),
                                               "details": []}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replacing = False

        async def sending(message: Message) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start" and message["status"] == 413 and \
                    dict(message.get("headers", [])).get(b"content-type", b"").startswith(
                        b"text/plain"):
                replacing = True
                message = {**message, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.body)).encode())]}
            elif message["type"] == "http.response.body" and replacing:
                message = {**message, "body": self.body, "more_body": False}
            await send(message)

        await self.app(scope, receive, sending)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RehabwatchError, _ours)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _bug)
