"""Patients: list, create, show, edit the care plan; daily summaries and the targets in
force per day."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from rehabwatch.access import ADMIN, CLINICIAN, ROLES, STAFF_ROLES, Caller
from rehabwatch.api.models import (DayQuery, Id, Limit, NewPatient, Offset, PatientId,
                                   PatientList, PlanEdit, errors)
from rehabwatch.api.rules import actor_of, allow
from rehabwatch.clinic import Page
from schemas.errors import UsageError

router = APIRouter(prefix="/api/v1/patients", tags=["patients"], responses=errors())
Doc = dict[str, Any]


@router.get("", response_model=PatientList)
async def list_patients(request: Request, caller: Caller = allow(*STAFF_ROLES),
                        team: Annotated[Id | None, Query()] = None,
                        procedure: Annotated[str | None, Query(max_length=32)] = None,
                        phase: Annotated[str | None, Query(max_length=64)] = None,
                        open_alerts: Annotated[bool | None, Query()] = None,
                        limit: Limit = 100, offset: Offset = 0) -> dict[str, list[Doc]]:
    """The caller's teams' patients (all for admins), with phase, week and open alerts."""
    rows = await run_in_threadpool(request.app.state.clinic.list_patients, caller,
                                   actor_of(request, caller), team, procedure, phase,
                                   open_alerts, Page(limit, offset))
    return {"patients": rows}


@router.post("", status_code=201)
async def create_patient(body: NewPatient, request: Request,
                         caller: Caller = allow(CLINICIAN, ADMIN)) -> Doc:
    """Enrol a patient in one of the caller's teams."""
    doc: Doc = await run_in_threadpool(
        request.app.state.clinic.create_patient, caller, actor_of(request, caller), body.id,
        body.procedure, body.start_date, body.tz, body.team, body.overrides)
    return doc


@router.get("/{patient_id}")
async def show_patient(patient_id: PatientId, request: Request,
                       caller: Caller = allow(*ROLES, scope="patient")) -> Doc:
    """The care plan and today's targets."""
    doc: Doc = await run_in_threadpool(request.app.state.clinic.show_patient,
                                       actor_of(request, caller), patient_id)
    return doc


@router.patch("/{patient_id}/plan")
async def edit_plan(patient_id: PatientId, body: PlanEdit, request: Request,
                    caller: Caller = allow(CLINICIAN, ADMIN, scope="patient")) -> Doc:
    """Change procedure, start date, time zone, team or target overrides."""
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise UsageError("nothing to change: give procedure, start_date, tz, team or overrides")
    doc: Doc = await run_in_threadpool(request.app.state.clinic.edit_plan, caller,
                                       actor_of(request, caller), patient_id, changes)
    return doc


@router.get("/{patient_id}/summaries")
async def summaries(patient_id: PatientId, request: Request,
                    caller: Caller = allow(*ROLES, scope="patient"),
                    date_from: Annotated[DayQuery, Query(alias="from")] = None,
                    date_to: Annotated[DayQuery, Query(alias="to")] = None
                    ) -> dict[str, Any]:
    """Stored daily summaries (default: the last 90 days; at most 366)."""
    days = await run_in_threadpool(request.app.state.clinic.summaries,
                                   actor_of(request, caller), patient_id, date_from, date_to)
    return {"patient": patient_id, "days": days}


@router.get("/{patient_id}/targets")
async def targets(patient_id: PatientId, request: Request,
                  caller: Caller = allow(*ROLES, scope="patient"),
                  date_from: Annotated[DayQuery, Query(alias="from")] = None,
                  date_to: Annotated[DayQuery, Query(alias="to")] = None) -> dict[str, Any]:
    """The targets in force on each day (default: the last 28), each with its origin."""
    days = await run_in_threadpool(request.app.state.clinic.targets,
                                   actor_of(request, caller), patient_id, date_from, date_to)
    return {"patient": patient_id, "days": days}
