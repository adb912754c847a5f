"""Every route of the app, called by every kind of caller: the access rule each declares is
the one it enforces (401 without valid credentials; 404 for a patient or alert the caller
may not see; 403 for a role the rule leaves out), and a route without a rule fails here (and
in create_app). Runs against a real uvicorn server on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import APIRouter

from rehabwatch.access import Caller
from rehabwatch.api.app import create_app
from rehabwatch.api.rules import Rule, RouteRule, routes_of
from rehabwatch.settings import Settings
from tests.api_server import CALLERS, ApiStack, api_stack

#: Who each kind of caller is, as the rules see them (None: no valid credentials).
AS = {"anonymous": None, "expired": None, "revoked": None,
      "patient": Caller("p", "patient", patient_id="P1"),
      "other_patient": Caller("q", "patient", patient_id="P2"),
      "clinician": Caller("c", "clinician", frozenset({"north"})),
      "other_clinician": Caller("d", "clinician", frozenset({"south"})),
      "monitoring": Caller("m", "monitoring", frozenset({"north"})),
      "admin": Caller("a", "admin")}


@pytest.fixture(scope="module")
def stack(module_database_url: str) -> Iterator[ApiStack]:
    with api_stack(module_database_url) as stack:
        yield stack


def routes() -> list[RouteRule]:
    found = list(routes_of(create_app(Settings(database_url="sqlite://"))))
    assert len(found) > 3, "no routes found: has FastAPI changed how it keeps them?"
    return found


def expected(rule: Rule, caller: str) -> str:
    """``pass``, or the status the rule must answer ``caller`` with."""
    who = AS[caller]
    if rule.public:
        return "pass"
    if who is None:
        return "401"
    if rule.scope == "patient" and not who.may_see("P1", "north"):
        return "404"
    if rule.scope == "alert" and not who.may_see_alert("P1", "north", "clinician"):
        return "404"
    return "pass" if who.role in rule.roles else "403"


def path_of(route: RouteRule, stack: ApiStack) -> str:
    values = {"patient_id": "P1", "alert_id": stack.alert_id}
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: values.get(m.group(1), "x"), route.path)


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_answers_every_caller_by_its_rule(stack: ApiStack, caller: str) -> None:
    wrong = []
    with stack.client(caller) as client:
        for route in routes():
            rule = route.rule
            assert rule is not None, f"{route.path} declares no access rule"
            for method in sorted(route.methods - {"HEAD"}):
                if route.path == "/api/v1/session" and method == "DELETE":
                    continue  # signs out: tested with a session of its own
                answer = client.request(method, path_of(route, stack))
                want = expected(rule, caller)
                got = str(answer.status_code)
                ok = (got not in ("401", "403", "404") and answer.status_code < 500
                      if want == "pass" else got == want)
                if not ok:
                    wrong.append(f"{method} {route.path}: {got} (want {want}) {answer.text}")
    assert not wrong, "\n".join(wrong)


def test_the_walk_covers_every_route_kind() -> None:
    """The walk above is only as good as the rules it meets: public, staff-only, patient-
    and alert-scoped routes are all there (so each branch of expected() is exercised)."""
    rules = [r.rule for r in routes()]
    assert any(r and r.public for r in rules)
    assert any(r and not r.public and not r.scope for r in rules)
    assert {"patient", "alert"} <= {r.scope for r in rules if r}


def test_a_route_without_a_rule_is_refused() -> None:
    extra = APIRouter()

    @extra.get("/api/v1/unguarded")
    def unguarded() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="/api/v1/unguarded"):
        create_app(Settings(database_url="sqlite://"), [extra])


def test_a_hidden_patient_reads_as_a_missing_one(stack: ApiStack) -> None:
    """404 for someone else's patient is the 404 of a patient that does not exist."""
    scoped = [r for r in routes() if r.rule and r.rule.scope == "patient"
              and "GET" in r.methods]
    with stack.client("other_clinician") as client:
        for route in scoped:
            hidden = client.get(path_of(route, stack))
            missing = client.get(path_of(route, stack).replace("/P1", "/P404"))
            assert hidden.status_code == missing.status_code == 404
            assert hidden.json()["error"].replace("P1", "P404") == missing.json()["error"]


def test_no_patient_id_in_metric_labels(stack: ApiStack) -> None:
    with stack.client("clinician") as client:
        client.get("/api/v1/patients/P1")
        metrics = client.get("/metrics").text
    assert "rehabwatch_http_requests_total" in metrics
    assert "P1" not in metrics


def test_docs_pages_are_off_they_would_load_assets_from_elsewhere(stack: ApiStack) -> None:
    with stack.client() as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").json()["info"]["title"] == "rehabwatch"




def test_credentials_are_checked_before_the_query(stack: ApiStack) -> None:
    with stack.client() as client:
        assert client.get("/api/v1/patients/P1/summaries",
                          params={"bogus": "1"}).status_code == 401
    with stack.client("other_clinician") as client:
        assert client.get("/api/v1/patients/P1/summaries",
                          params={"bogus": "1"}).status_code == 404
