"""Staff sign-in and sign-out (the session cookie), and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from rehabwatch.access import ROLES, STAFF_ROLES, Caller
from rehabwatch.api.models import errors
from rehabwatch.api.rules import COOKIE, address_of, allow, public
from schemas.errors import UsageError

router = APIRouter(prefix="/api/v1", tags=["session"], responses=errors(429))


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    name: str
    role: str
    teams: list[str]
    patient_id: str | None
    via: str
    csrf_token: str | None = Field(
        None, description="send it as X-CSRF-Token (or the csrf_token form field) with every "
        "state-changing request made with the session cookie")


def me_of(caller: Caller) -> Me:
    return Me(name=caller.name, role=caller.role, teams=sorted(caller.teams),
              patient_id=caller.patient_id, via=caller.via,
              csrf_token=caller.csrf_token or None)


@router.post("/session", dependencies=[public()], response_model=Me,
             responses={401: {"description": "wrong name or password"},
                        429: {"description": "too many failed sign-ins"}})
async def sign_in(body: SignIn, request: Request, response: Response) -> Me:
    """Sign a staff user in: sets the session cookie (HttpOnly, SameSite=Lax, Secure over
    HTTPS) and returns the session's CSRF token."""
    accounts = request.app.state.accounts
    signed = await run_in_threadpool(accounts.sign_in, body.name, body.password,
                                     address_of(request))
    settings = request.app.state.settings
    response.set_cookie(COOKIE, signed.cookie, max_age=int(settings.api.session_max_s),
                        path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return me_of(signed.caller)


@router.get("/session", response_model=Me)
def whoami(caller: Caller = allow(*ROLES)) -> Me:
    """The caller: name, role, teams (staff) or patient (a patient's token)."""
    return me_of(caller)


@router.delete("/session", status_code=204, response_class=Response)
def sign_out(request: Request, caller: Caller = allow(*STAFF_ROLES)) -> Response:
    """End the staff session of the cookie (its CSRF token required)."""
    if caller.via != "session":
        raise UsageError("sign-out ends a session cookie; a token is revoked with "
                         "`rehabwatch token revoke ID`")
    request.app.state.accounts.sign_out(caller, address_of(request))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response
