"""The access rule every route declares next to itself, and the dependency enforcing it.

    @router.get("/api/v1/patients/{patient_id}/summaries")
    def summaries(patient_id: str, caller: Caller = allow(*ROLES, scope="patient")): ...

:func:`allow` names the roles that may call the route and what its path names (``patient``:
``{patient_id}``; ``alert``: ``{alert_id}``), :func:`public` a route anyone may call.
:func:`rehabwatch.api.app.create_app` refuses to build an app with a route that declares
none, and a test walks every route with every kind of caller. In order, a request is:

1. authenticated: ``Authorization: Bearer rwt_...`` or the staff session cookie; neither, or
   one unknown, expired or revoked -> 401;
2. for a cookie on a state-changing method, CSRF-checked: the session's token in the
   ``X-CSRF-Token`` header or the ``csrf_token`` form field (urlencoded or multipart forms)
   -> 403 without it;
3. scoped: a patient or alert the caller may not see -> 404, whatever the role;
4. role-checked -> 403;
5. checked for query parameters the route does not take -> 400.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from rehabwatch import credentials
from rehabwatch.access import Actor, Caller, Forbidden, Unauthenticated
from schemas.errors import NotFound, UsageError

COOKIE = "rw_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SCOPES = ("", "patient", "alert")


@dataclass(frozen=True)
class Rule:
    """Who may call a route: ``roles`` (none for a public route), and what its path names
    that the caller must be allowed to see (``scope``)."""

    roles: frozenset[str]
    scope: str = ""
    public: bool = False


class Guard:
    """The dependency of one :class:`Rule`: the :class:`Caller` (None on public routes)."""

    def __init__(self, rule: Rule) -> None:
        if rule.scope not in SCOPES:
            raise ValueError(f"scope {rule.scope!r} is not one of {SCOPES}")
        self.rule = rule

    async def __call__(self, request: Request) -> Caller | None:
        if self.rule.public:
            _refuse_unknown_query(request)
            return None
        caller = await run_in_threadpool(authenticate, request)
        if caller.via == "session" and request.method not in SAFE_METHODS:
            await _check_csrf(request, caller)
        if self.rule.scope:
            await run_in_threadpool(_check_scope, request, caller, self.rule.scope)
        if caller.role not in self.rule.roles:
            raise Forbidden(f"a {caller.role} may not do this")
        _refuse_unknown_query(request)
        return caller


def address_of(request: Request) -> str:
    """The client's address, as the audit trail records it."""
    return request.client.host if request.client else "unknown"


def actor_of(request: Request, caller: Caller) -> Actor:
    return caller.actor(address_of(request))


def allow(*roles: str, scope: str = "") -> Any:
    """The rule of a route callable by ``roles`` (see the module docstring)."""
    return Depends(Guard(Rule(frozenset(roles), scope)))


def public() -> Any:
    """The rule of a route anyone may call (health, metrics, sign-in)."""
    return Depends(Guard(Rule(frozenset(), public=True)))


def rule_of(route: APIRoute) -> Rule | None:
    """The rule a route declares (None if it declares none), found in its dependencies."""
    found = [d.call.rule for d in _walk(route.dependant) if isinstance(d.call, Guard)]
    if len(found) > 1:
        raise ValueError(f"{route.path} declares {len(found)} access rules; one is enough")
    return found[0] if found else None


@dataclass(frozen=True)
class RouteRule:
    """One route of an app as served: its full path, methods and declared rule."""

    path: str
    methods: frozenset[str]
    rule: Rule | None


def routes_of(app: FastAPI) -> Iterator[RouteRule]:
    """Every API route of ``app``, those of included routers too (FastAPI >= 0.165 keeps an
    included router as one entry of ``app.routes``)."""
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, APIRoute):
            yield RouteRule(str(ctx.path), frozenset(route.methods or ()), rule_of(route))


def _walk(dependant: Dependant) -> list[Dependant]:
    out = []
    for dep in dependant.dependencies:
        out += [dep, *_walk(dep)]
    return out


def authenticate(request: Request) -> Caller:
    """The caller of ``request``: bearer token first, else the session cookie."""
    accounts = request.app.state.accounts
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer rwt_...'")
        caller: Caller = accounts.by_token(token.strip())
        return caller
    cookie = request.cookies.get(COOKIE)
    if cookie:
        caller = accounts.by_session(cookie)
        return caller
    raise Unauthenticated("sign in, or send an API token as 'Authorization: Bearer rwt_...'")


async def _check_csrf(request: Request, caller: Caller) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not sent and content_type in FORM_TYPES:  # parsed once: the route reads it again
        value = (await request.form()).get(CSRF_FIELD, "")
        sent = value if isinstance(value, str) else ""
    if not sent or not credentials.same(sent, caller.csrf_token):
        raise Forbidden(f"missing or wrong CSRF token: send the session's token in the "
                        f"{CSRF_HEADER} header or the {CSRF_FIELD} form field")


def _check_scope(request: Request, caller: Caller, scope: str) -> None:
    clinic = request.app.state.clinic
    key = request.path_params.get(f"{scope}_id", "")
    if scope == "patient":
        team = clinic.patient_team(key)
        if team is None or not caller.may_see(key, team):
            raise NotFound(f"no patient {key}")
    else:
        owner = clinic.alert_owner(key)
        if owner is None or not caller.may_see_alert(*owner):
            raise NotFound(f"no alert {key}")


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _refuse_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        names = _QUERY_NAMES[id(route)] = frozenset(
            f.alias for d in [route.dependant, *_walk(route.dependant)] for f in d.query_params)
    if unknown := sorted(set(request.query_params) - names):
        known = ", ".join(sorted(names)) or "none"
        raise UsageError(f"unknown query parameter(s) {', '.join(unknown)}; this route takes: "
                         f"{known}")
