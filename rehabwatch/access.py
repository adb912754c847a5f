"""Who is calling and what they may see: the caller of a request, and the visibility rule
every patient route applies (pure; the API's dependencies and the use cases share it).

Roles: ``patient`` (a patient's token: that patient's own uploads and progress), ``clinician``
and ``monitoring`` (staff: the patients of their teams), ``admin`` (everything, plus users,
tokens and the audit trail). A caller who may not see a patient is told the patient does not
exist (404), never that it is someone else's.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.errors import RehabwatchError

PATIENT, CLINICIAN, MONITORING, ADMIN = "patient", "clinician", "monitoring", "admin"
ROLES = (PATIENT, CLINICIAN, MONITORING, ADMIN)
STAFF_ROLES = (CLINICIAN, MONITORING, ADMIN)
#: Alert audiences a patient may see; everything else is clinician-only evidence.
PATIENT_AUDIENCES = frozenset({"patient"})


class Unauthenticated(RehabwatchError):
    """No credentials, or credentials that are unknown, expired, revoked or disabled."""


class Forbidden(RehabwatchError):
    """An authenticated caller whose role may not do this (or a missing CSRF token)."""


class Throttled(RehabwatchError):
    """Too many failed sign-ins: try again after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Actor:
    """Who does something, as the audit trail records it: a name, a role and an address
    (``local`` for the command line)."""

    name: str
    role: str
    address: str = "local"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. ``name`` is the staff user's name or ``token:<id>``;
    ``via`` is ``token`` or ``session``; ``csrf_token`` and ``session_key`` (the cookie's
    hash) are the session's (empty for tokens)."""

    name: str
    role: str
    teams: frozenset[str] = frozenset()
    patient_id: str | None = None
    via: str = "token"
    csrf_token: str = ""
    session_key: str = ""

    def actor(self, address: str) -> Actor:
        return Actor(self.name, self.role, address)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def may_see(self, patient_id: str, team: str) -> bool:
        """Whether this caller may see the patient ``patient_id`` of ``team``."""
        if self.role == ADMIN:
            return True
        if self.role == PATIENT:
            return patient_id == self.patient_id
        return team in self.teams

    def may_see_alert(self, patient_id: str, team: str, audience: str) -> bool:
        """Patients see their own nudges only; staff see every alert of patients they see."""
        if self.role == PATIENT and audience not in PATIENT_AUDIENCES:
            return False
        return self.may_see(patient_id, team)

    def team_scope(self) -> frozenset[str] | None:
        """The teams whose patients a staff caller sees (None: all, for admins)."""
        return None if self.role == ADMIN else self.teams
