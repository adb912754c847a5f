"""Staff sessions over a real server: the cookie's attributes, CSRF on state-changing
requests, sign-out, idle and absolute timeouts, disabling a user, sign-in throttling; and
bearer tokens that are malformed, expired or revoked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rehabwatch.access import Unauthenticated
from rehabwatch.accounts import Accounts
from rehabwatch.settings import ApiSettings
from storage import audit, database
from tests.api_server import PASSWORD, SETUP, ApiStack, api_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiStack]:
    with api_stack(f"sqlite:///{tmp_path_factory.mktemp('api') / 'rw.db'}",
                   sign_in_max_failures=3) as stack:
        yield stack


def actions(stack: ApiStack) -> list[tuple[str, str, str]]:
    with database.session_scope(stack.settings.database_url) as session:
        return [(r.actor, r.action, r.outcome) for r in audit.listed(session)]


def test_the_session_cookie_is_httponly_samesite_and_secure_only_over_https(
        stack: ApiStack) -> None:
    with httpx.Client(base_url=stack.url) as client:
        plain = client.post("/api/v1/session", json={"name": "alice", "password": PASSWORD})
        https = client.post("/api/v1/session", json={"name": "alice", "password": PASSWORD},
                            headers={"X-Forwarded-Proto": "https"})
    cookie = plain.headers["set-cookie"].lower()
    assert plain.status_code == 200 and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie
    assert "secure" in https.headers["set-cookie"].lower()
    assert plain.json()["csrf_token"] and plain.json()["role"] == "clinician"


def test_state_changing_requests_with_the_cookie_need_the_csrf_token(stack: ApiStack) -> None:
    with stack.signed_in() as (client, csrf):
        assert client.get("/api/v1/session").json()["name"] == "alice"
        assert client.delete("/api/v1/session").status_code == 403
        assert client.delete("/api/v1/session",
                             headers={"X-CSRF-Token": "x" + csrf}).status_code == 403
        assert client.delete("/api/v1/session",
                             headers={"X-CSRF-Token": csrf}).status_code == 204
        assert client.get("/api/v1/session").status_code == 401  # signed out: revoked


def test_the_csrf_token_may_come_as_a_form_field(stack: ApiStack) -> None:
    with stack.signed_in() as (client, csrf):
        answer = client.request("DELETE", "/api/v1/session", data={"csrf_token": csrf})
        assert answer.status_code == 204


def test_a_bearer_token_needs_no_csrf_token(stack: ApiStack) -> None:
    with stack.client("admin") as client:
        assert client.patch("/api/v1/patients/P1/plan", json={}).status_code == 400


def test_disabling_a_user_ends_their_sessions(stack: ApiStack) -> None:
    accounts = Accounts(stack.settings)
    accounts.add_user("bob", "clinician", ["north"], PASSWORD, SETUP)
    with stack.signed_in("bob") as (client, _):
        assert client.get("/api/v1/session").status_code == 200
        accounts.disable_user("bob", SETUP)
        assert client.get("/api/v1/session").status_code == 401
        again = client.post("/api/v1/session", json={"name": "bob", "password": PASSWORD})
        assert again.status_code == 401


@pytest.mark.parametrize("limit", ["session_idle_s", "session_max_s"])
def test_sessions_time_out(stack: ApiStack, limit: str) -> None:
    import dataclasses

    short = dataclasses.replace(stack.settings,
                                api=dataclasses.replace(ApiSettings(), **{limit: 0.3}))
    accounts = Accounts(short)
    signed = accounts.sign_in("alice", PASSWORD, "127.0.0.1")
    assert accounts.by_session(signed.cookie).name == "alice"
    time.sleep(0.5)
    with pytest.raises(Unauthenticated, match="timed out"):
        accounts.by_session(signed.cookie)


def test_sign_in_is_throttled_after_repeated_failures_and_each_is_audited(
        stack: ApiStack) -> None:
    Accounts(stack.settings).add_user("carol", "monitoring", ["north"], PASSWORD, SETUP)
    with httpx.Client(base_url=stack.url) as client:
        wrong = [client.post("/api/v1/session", json={"name": "carol", "password": "nope"})
                 for _ in range(3)]
        right = client.post("/api/v1/session", json={"name": "carol", "password": PASSWORD})
    assert [w.status_code for w in wrong] == [401, 401, 401]
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    assert "try again" in right.json()["error"]
    assert actions(stack).count(("carol", "session.sign_in", "denied")) == 4


def test_an_unknown_user_and_a_wrong_password_read_the_same(stack: ApiStack) -> None:
    with httpx.Client(base_url=stack.url) as client:
        unknown = client.post("/api/v1/session", json={"name": "nobody", "password": "x"})
        wrong = client.post("/api/v1/session", json={"name": "root", "password": "x"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


@pytest.mark.parametrize("header", ["Bearer rwt_nonsense", "Basic YWxpY2U6eA==", "Bearer",
                                    "Bearer rwt_" + "a" * 60])
def test_bad_authorization_headers_are_401(stack: ApiStack, header: str) -> None:
    with httpx.Client(base_url=stack.url, headers={"Authorization": header}) as client:
        answer = client.get("/api/v1/session")
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("caller,reason", [("expired", "expired"), ("revoked", "revoked")])
def test_expired_and_revoked_tokens_are_401(stack: ApiStack, caller: str, reason: str) -> None:
    with stack.client(caller) as client:
        answer = client.get("/api/v1/session")
    assert answer.status_code == 401 and reason in answer.json()["error"]


def test_a_patient_token_knows_its_patient(stack: ApiStack) -> None:
    with stack.client("patient") as client:
        me = client.get("/api/v1/session").json()
    assert me["role"] == "patient" and me["patient_id"] == "P1" and me["csrf_token"] is None


def test_only_hashes_are_stored(stack: ApiStack) -> None:
    raw = Path(stack.settings.database_url.removeprefix("sqlite:///")).read_bytes()
    for token in stack.tokens.values():
        assert token.encode() not in raw
    assert PASSWORD.encode() not in raw


def test_a_signed_in_upload_carries_the_csrf_token_as_a_form_field(stack: ApiStack) -> None:
    export = {"file": ("a.csv", b"timestamp,steps\n2024-05-04T10:00:00Z,40\n")}
    with stack.signed_in() as (client, csrf):
        refused = client.post("/api/v1/patients/P1/uploads", files=export)
        taken = client.post("/api/v1/patients/P1/uploads", files=export,
                            data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert taken.status_code == 200 and taken.json()["uploads"][0]["status"] == "stored"
