"""GET /api/v1/cohort over the real app on uvicorn (SQLite and PostgreSQL): a staff
session's cohort, paged and filtered, day states with their names, the patients who never
sent data apart, each patient shown audited; refused to patients, bad filters a 422 naming
the parameter."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from storage import audit, database
from tests.web_stack import PASSWORD, WebStack, web_stack


@pytest.fixture(scope="module")
def stack(module_database_url: str) -> Iterator[WebStack]:
    with web_stack(module_database_url, patients=24, days=40) as found:
        yield found


@pytest.fixture(scope="module")
def alice(stack: WebStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        client.post("/api/v1/session", json={"name": "alice", "password": PASSWORD}
                    ).raise_for_status()
        yield client


def test_the_cohort_is_paged_filtered_and_states_are_named(stack: WebStack,
                                                          alice: httpx.Client) -> None:
    doc = alice.get("/api/v1/cohort", params={"per_page": 5}).json()
    assert doc["total"] == 20 and doc["pages"] == 4 and len(doc["rows"]) == 5
    assert {r["team"] for r in doc["rows"]} == {"north"}  # not the south team's patients
    assert len(doc["never_sent"]) == 4
    assert doc["state_names"]["0"] == "no upload covers this day yet"
    row = doc["rows"][0]
    assert row["unacknowledged_alerts"] >= 1 and len(row["day_states"]) == 30
    assert 0 <= doc["within_target_yesterday"]["patients"] <= doc["within_target_yesterday"]["of"]
    fusion = alice.get("/api/v1/cohort", params={"procedure": "fusion", "per_page": 100}).json()
    assert fusion["rows"] and {r["procedure"] for r in fusion["rows"]} == {"fusion"}
    quiet = alice.get("/api/v1/cohort", params={"alert_state": "none"}).json()
    assert all(r["alert_state"] == "none" for r in quiet["rows"])
    stale = alice.get("/api/v1/cohort", params={"sort": "upload", "dir": "desc"}).json()
    ages = [r["days_since_upload"] for r in stale["rows"]]
    assert ages == sorted(ages, reverse=True)


def test_each_patient_shown_is_audited(stack: WebStack, alice: httpx.Client) -> None:
    shown = alice.get("/api/v1/cohort", params={"per_page": 3}).json()
    with database.session_scope(stack.settings.database_url) as session:
        entries = audit.listed(session, actor="alice")
    audited = {e.patient_id for e in entries if e.action == "cohort.read"}
    assert {r["patient_id"] for r in shown["rows"] + shown["never_sent"]} <= audited


def test_patients_and_bad_filters_are_refused(stack: WebStack, alice: httpx.Client) -> None:
    patient = httpx.get(f"{stack.url}/api/v1/cohort",
                        headers={"Authorization": f"Bearer {stack.patient_token}"})
    assert patient.status_code == 403
    assert httpx.get(f"{stack.url}/api/v1/cohort").status_code == 401
    bad = alice.get("/api/v1/cohort", params={"alert_state": "loud"})
    assert bad.status_code == 422 and "alert_state" in bad.json()["error"]
    assert alice.get("/api/v1/cohort", params={"per_page": 0}).status_code == 422
