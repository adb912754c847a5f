"""Uploads of tracker exports: ``POST /api/v1/patients/{id}/uploads`` (multipart, field
``file``, several allowed) and their list.

The size limit (``RW_MAX_UPLOAD_MB``, plus room for the multipart framing) is FastAPI's
per-route ``max_body_size``: a declared ``Content-Length`` above it is answered 413 before
the body is read, and a chunked body is cut off at the limit. Files are spooled to disk as
they arrive (memory stays flat at any size), each file's name is kept only as a label (its
last path segment, printable, at most 255 characters): nothing is ever written under it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from rehabwatch.access import ADMIN, CLINICIAN, MONITORING, PATIENT, Caller
from rehabwatch.api.models import Limit, Offset, PatientId, UploadAnswer, UploadLog, errors
from rehabwatch.api.rules import CSRF_FIELD, actor_of, allow
from rehabwatch.clinic import Page
from rehabwatch.settings import Settings
from schemas.errors import UsageError

FIELD = "file"
#: Files one request may carry.
MAX_FILES = 20
#: Room for the multipart framing of MAX_FILES parts above the size limit.
FRAMING = 64 * 1024
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
Doc = dict[str, Any]

MULTIPART_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": [FIELD], "properties": {
        FIELD: {"type": "array", "items": {"type": "string", "format": "binary"},
                "description": "one or more tracker exports"}}}}}}}


def safe_name(raw: str | None) -> str:
    """The label of an uploaded file: the last segment of whatever path the client sent,
    without control characters, at most 255 characters (``upload`` if nothing is left)."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = _UNSAFE.sub("", name).strip().lstrip(".")
    return name[:255] or "upload"


def router_for(settings: Settings) -> APIRouter:
    """The upload routes, limited to ``settings``' upload size."""
    router = APIRouter(prefix="/api/v1/patients", tags=["uploads"], responses=errors(413, 415))

    @router.post("/{patient_id}/uploads", openapi_extra=MULTIPART_BODY,
                 response_model=UploadAnswer, max_body_size=settings.max_upload_bytes + FRAMING)
    async def upload(patient_id: PatientId, request: Request,
                     caller: Caller = allow(PATIENT, CLINICIAN, ADMIN, scope="patient")
                     ) -> dict[str, list[Doc]]:
        """Store each file (stored / partial / duplicate / rejected, with the format found,
        the days it touched and the reason). With a broker its day grids go to the stream;
        without one the patient is evaluated once the files are stored."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "multipart/form-data":
            raise UnsupportedMedia(f"send the files as multipart/form-data in the field "
                                   f"{FIELD!r}, not {content_type[:80] or 'no content type'}")
        form = await request.form(max_files=MAX_FILES, max_fields=5)
        try:
            files = _files(form)
            results = await run_in_threadpool(
                request.app.state.clinic.upload, actor_of(request, caller), patient_id,
                [(safe_name(f.filename), f.file) for f in files])
        finally:
            await form.close()
        return {"uploads": results}

    @router.get("/{patient_id}/uploads", response_model=UploadLog)
    async def list_uploads(patient_id: PatientId, request: Request,
                           caller: Caller = allow(PATIENT, CLINICIAN, MONITORING, ADMIN,
                                                  scope="patient"),
                           limit: Limit = 100, offset: Offset = 0) -> dict[str, list[Doc]]:
        """The patient's uploads, newest first, with status, format and reason."""
        rows = await run_in_threadpool(request.app.state.clinic.list_uploads,
                                       actor_of(request, caller), patient_id,
                                       Page(limit, offset))
        return {"uploads": rows}

    return router


class UnsupportedMedia(UsageError):
    """The request body is not of a content type the route reads (415)."""


def _files(form: Any) -> list[UploadFile]:
    unknown = sorted(set(form.keys()) - {FIELD, CSRF_FIELD})
    if unknown:
        raise UsageError(f"unknown form field(s) {', '.join(u[:40] for u in unknown)}: send "
                         f"files in {FIELD!r}")
    files = [f for f in form.getlist(FIELD) if isinstance(f, UploadFile)]
    if not files or len(files) != len(form.getlist(FIELD)):
        raise UsageError(f"no file: send one or more files in the multipart field {FIELD!r}")
    return files
