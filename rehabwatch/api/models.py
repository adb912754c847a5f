"""Request bodies and shared query parameters of the API (pydantic): unknown fields are
refused, ids follow :data:`schemas.identifiers.ID_PATTERN`, dates are real dates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.identifiers import ID_PATTERN
from schemas.protocol import TARGET_NAMES, procedures

#: Dates the API takes: far enough either way for any plan, near enough that date
#: arithmetic (baseline windows, ranges) never leaves the calendar.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)


def _sane(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"dates lie between {FIRST_DAY} and {LAST_DAY}")
    return value


Day = Annotated[date, AfterValidator(_sane)]
DayQuery = Annotated[Day | None, Query(description="YYYY-MM-DD")]
Id = Annotated[str, Field(pattern=f"^{ID_PATTERN}$", max_length=64)]
Reason = Annotated[str, Field(max_length=2000)]
PatientId = Annotated[str, Path(pattern=f"^{ID_PATTERN}$", max_length=64)]
AlertId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Limit = Annotated[int, Query(ge=1, le=500, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value[:64]!r} is not an IANA time zone (e.g. Europe/London)") \
            from None
    return value


def _procedure(value: str) -> str:
    if value not in procedures():
        raise ValueError(f"unknown procedure; known: {', '.join(sorted(procedures()))}")
    return value


def _overrides(value: dict[str, float]) -> dict[str, float]:
    if unknown := sorted(set(value) - set(TARGET_NAMES)):
        raise ValueError(f"unknown target(s) {', '.join(u[:40] for u in unknown)}; known: "
                         f"{', '.join(TARGET_NAMES)}")
    if any(not 0 <= v <= 100_000 for v in value.values()):
        raise ValueError("target values lie between 0 and 100000")
    return value


Zone = Annotated[str, Field(max_length=64), AfterValidator(_zone)]
Procedure = Annotated[str, Field(max_length=32), AfterValidator(_procedure)]
Overrides = Annotated[dict[str, float], AfterValidator(_overrides)]


class ErrorDoc(BaseModel):
    """Every error answer: what went wrong, in words a person can act on."""

    error: str
    details: list[str] = Field(default_factory=list)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of error answers (each an :class:`ErrorDoc`)."""
    return {status: {"model": ErrorDoc} for status in (400, 401, 403, 404, 422, *statuses)}


class FileOutcome(BaseModel):
    """What became of one uploaded file."""

    filename: str = Field(description="the file's label (its name's last segment)")
    upload_id: int
    status: Literal["stored", "partial", "duplicate", "rejected"]
    format: str | None = Field(description="the format found (none if rejected unread)")
    days: list[date] = Field(description="local days the file holds data for")
    days_changed: int
    reason: str = Field(description="why partial, duplicate or rejected; empty if stored")
    published: int = Field(description="day grids handed to the stream (with a broker)")
    publish_error: str | None


class UploadAnswer(BaseModel):
    uploads: list[FileOutcome]


class UploadRow(BaseModel):
    """One upload of the patient's upload log."""

    upload_id: int
    filename: str
    status: Literal["stored", "partial", "duplicate", "rejected"]
    format: str | None
    reason: str
    size_bytes: int
    records: int
    grids: int
    steps: int
    received_at: datetime


class UploadLog(BaseModel):
    uploads: list[UploadRow]


class PatientRow(BaseModel):
    """A patient as listed: plan, phase and week today, active alerts by severity."""

    patient: str
    team: str
    procedure: str
    start_date: date
    tz: str
    phase: str
    week: int
    open_alerts: dict[str, int]


class PatientList(BaseModel):
    patients: list[PatientRow]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewPatient(Strict):
    id: Id
    procedure: Procedure
    start_date: Day = Field(description="surgery or programme start")
    tz: Zone
    team: Id = "default"
    overrides: Overrides = Field(default_factory=dict,
                                 description="target overrides, e.g. {\"steps_low\": 3500}")


class PlanEdit(Strict):
    """The plan fields to change (at least one); ``overrides`` replaces all overrides."""

    procedure: Procedure | None = None
    start_date: Day | None = None
    tz: Zone | None = None
    team: Id | None = None
    overrides: Overrides | None = None


class Acknowledge(Strict):
    reason: Reason = ""


class Snooze(Strict):
    """Snooze until a day (``until``) or for ``days`` (1, 3 or 7), with a reason."""

    until: Day | None = None
    days: int | None = Field(None, ge=1, le=30)
    reason: Reason = Field(min_length=1)


class Resolve(Strict):
    reason: Reason = ""


class Assign(Strict):
    assignee: Id = Field(description="a staff user of the patient's team")
