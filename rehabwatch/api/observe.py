"""Request metrics and structured access logs, by route template only: a path such as
``/api/v1/patients/p-17`` is counted and logged as ``/api/v1/patients/{patient_id}``, so no
patient identifier reaches a metric label or a log line."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rehabwatch import metrics

log = logging.getLogger("rehabwatch.api.access")
UNMATCHED = "(unmatched)"


class Observe:
    """ASGI middleware: one metric sample and one JSON log line per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - start
            route = str(getattr(scope.get("route"), "path", UNMATCHED))
            metrics.http_request(scope["method"], route, status, seconds)
            log.info(json.dumps({"method": scope["method"], "route": route, "status": status,
                                 "ms": round(seconds * 1000, 1)}))
