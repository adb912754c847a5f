"""The identity commands: user add|disable|list, token create|revoke|list, audit; on SQLite
and PostgreSQL (the ``rw`` fixture runs the CLI in-process on a fresh database)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from rehabwatch import credentials

Run = Callable[..., tuple[int, Any]]


def add_user(rw: Run, monkeypatch: pytest.MonkeyPatch, *argv: str,
             password: str = "a long enough password") -> tuple[int, Any]:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return rw("user", "add", *argv, "--password-stdin", "--json")


def test_users_are_added_listed_and_disabled(rw: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    code, doc = add_user(rw, monkeypatch, "alice", "--role", "clinician", "--team", "north",
                         "--team", "east")
    assert code == 0 and doc["teams"] == ["east", "north"] and not doc["disabled"]
    assert rw("user", "disable", "alice")[0] == 0
    code, listed = rw("user", "list", "--json")
    assert [(u["name"], u["disabled"]) for u in listed["users"]] == [("alice", True)]


@pytest.mark.parametrize("argv,password,reason", [
    (["bad name", "--role", "clinician", "--team", "n"], "a long enough password",
     "user name 'bad name' is not allowed"),
    (["bob", "--role", "clinician"], "a long enough password", "needs at least one --team"),
    (["bob", "--role", "clinician", "--team", "n/../x"], "a long enough password", "team"),
    (["bob", "--role", "admin"], "short", "at least 12 characters"),
])
def test_bad_users_are_refused_with_the_reason(rw: Run, monkeypatch: pytest.MonkeyPatch,
                                               argv: list[str], password: str,
                                               reason: str) -> None:
    code, err = add_user(rw, monkeypatch, *argv, password=password)
    assert code == 1 and reason in err
    assert rw("user", "list", "--json")[1] == {"users": []}


def test_a_user_cannot_be_added_twice(rw: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert add_user(rw, monkeypatch, "root", "--role", "admin")[0] == 0
    code, err = add_user(rw, monkeypatch, "root", "--role", "admin")
    assert code == 1 and "already exists" in err


def test_a_token_is_printed_once_on_its_last_line_and_listed_without_it(rw: Run) -> None:
    code, out = rw("token", "create", "--role", "patient", "--patient", "P1")
    token = out.strip().splitlines()[-1]
    assert code == 0 and token.startswith(credentials.TOKEN_PREFIX)
    assert len(token) >= len(credentials.TOKEN_PREFIX) + 43  # 32 random bytes, base64
    code, listed = rw("token", "list", "--json")
    (row,) = listed["tokens"]
    assert row["patient_id"] == "P1" and row["state"] == "active"
    assert token not in str(listed) and row["id"] in token
    assert rw("token", "revoke", row["id"])[0] == 0
    assert rw("token", "list", "--json")[1]["tokens"][0]["state"] == "revoked"


@pytest.mark.parametrize("argv,reason", [
    (["--role", "patient"], "--patient ID goes with --role patient"),
    (["--role", "admin", "--patient", "P1"], "--patient ID goes with --role patient"),
    (["--role", "patient", "--patient", "P9"], "no patient P9"),
    (["--role", "clinician"], "needs at least one --team"),
    (["--role", "admin", "--team", "north"], "takes no --team"),
    (["--role", "admin", "--expires", "2020-01-01"], "must be in the future"),
])
def test_bad_tokens_are_refused_with_the_reason(rw: Run, argv: list[str], reason: str) -> None:
    code, err = rw("token", "create", *argv)
    assert code == 1 and reason in err
    assert rw("token", "list", "--json")[1] == {"tokens": []}


def test_audit_lists_the_changes_filtered(rw: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(rw, monkeypatch, "root", "--role", "admin")
    rw("token", "create", "--role", "patient", "--patient", "P1")
    code, doc = rw("audit", "--json")
    assert code == 0
    assert [e["action"] for e in doc["entries"]] == ["user.add", "token.create"]
    assert rw("audit", "--patient", "P1", "--json")[1]["entries"][0]["action"] == "token.create"
    assert rw("audit", "--actor", "nobody", "--json")[1] == {"entries": []}
    assert rw("audit", "--from", "2199-01-01", "--json")[1] == {"entries": []}


def test_the_audit_trail_cannot_be_changed_in_the_database(rw: Run, database_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from storage import database

    rw("token", "create", "--role", "admin")
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with database.engine(database_url).begin() as conn:
                conn.execute(text(statement))
