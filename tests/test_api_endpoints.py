"""The endpoints over a real uvicorn server: patients, plan edits, summaries and targets,
uploads of real device files and generated exports, alerts and their lifecycle, the audit
trail; and bad input answered 4xx with a reason (never 500, nothing written)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rehabwatch.accounts import Accounts
from rehabwatch.settings import Settings
from storage import audit, database
from tests.api_server import FIT_WALK, SETUP, ApiStack, api_stack, underactive_export
from tests.conftest import device_file

FITBIT_MINUTES = ("fitbit/fitabase_export_actiwearcheck/"
                  "name5_minuteStepsNarrow_20190730_20230830.csv")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiStack]:
    with api_stack(f"sqlite:///{tmp_path_factory.mktemp('api') / 'rw.db'}") as stack:
        yield stack


def entries(stack: ApiStack, action: str) -> list[audit.AuditRow]:
    with database.session_scope(stack.settings.database_url) as session:
        return [r for r in audit.listed(session) if r.action == action]


def new_patient(stack: ApiStack, pid: str, start: date | None = None) -> None:
    with stack.client("clinician") as client:
        answer = client.post("/api/v1/patients", json={
            "id": pid, "procedure": "microdiscectomy", "tz": "Europe/London", "team": "north",
            "start_date": (start or date.today() - timedelta(days=49)).isoformat()})
    assert answer.status_code == 201, answer.text


# -- patients --------------------------------------------------------------------------------

def test_a_clinician_enrols_lists_and_edits_their_teams_patients(stack: ApiStack) -> None:
    new_patient(stack, "N-1", date(2024, 1, 10))
    with stack.client("clinician") as client:
        listed = client.get("/api/v1/patients").json()["patients"]
        assert {"P1", "N-1"} <= {p["patient"] for p in listed}
        assert "P2" not in {p["patient"] for p in listed}  # team south
        edited = client.patch("/api/v1/patients/N-1/plan",
                              json={"overrides": {"steps_low": 4200}, "tz": "Europe/Paris"})
        assert edited.status_code == 200, edited.text
        assert edited.json()["targets"]["steps_low"] == {"value": 4200.0, "origin": "override"}
        assert edited.json()["tz"] == "Europe/Paris"
        away = client.patch("/api/v1/patients/N-1/plan", json={"team": "south"})
        assert away.status_code == 403
        opened = client.get("/api/v1/patients", params={"open_alerts": "true"}).json()
        assert [p["patient"] for p in opened["patients"]] == ["P1"]
    with stack.client("admin") as client:
        assert {"P1", "P2"} <= {p["patient"] for p in client.get("/api/v1/patients").json()[
            "patients"]}
    assert [e.patient_id for e in entries(stack, "patient.plan_edit")] == ["N-1"]


def test_a_clinician_cannot_enrol_into_another_team(stack: ApiStack) -> None:
    with stack.client("clinician") as client:
        answer = client.post("/api/v1/patients", json={
            "id": "S-9", "procedure": "fusion", "tz": "UTC", "team": "south",
            "start_date": "2024-01-01"})
    assert answer.status_code == 403 and "team south" in answer.json()["error"]


def test_a_patient_sees_their_own_plan_and_nothing_else(stack: ApiStack) -> None:
    with stack.client("patient") as client:
        assert client.get("/api/v1/patients/P1").json()["patient"] == "P1"
        assert client.get("/api/v1/patients/P2").status_code == 404
        assert client.get("/api/v1/patients").status_code == 403
        assert client.patch("/api/v1/patients/P1/plan", json={"tz": "UTC"}).status_code == 403


@pytest.mark.parametrize("body,where", [
    ({"id": "../x", "procedure": "fusion", "tz": "UTC", "start_date": "2024-01-01"}, "id"),
    ({"id": "Q1", "procedure": "yoga", "tz": "UTC", "start_date": "2024-01-01"}, "procedure"),
    ({"id": "Q1", "procedure": "fusion", "tz": "Mars/Base", "start_date": "2024-01-01"}, "tz"),
    ({"id": "Q1", "procedure": "fusion", "tz": "UTC", "start_date": "2023-02-30"},
     "start_date"),
    ({"id": "Q1", "procedure": "fusion", "tz": "UTC", "start_date": "2024-01-01",
      "overrides": {"steps_lo": 1}}, "overrides"),
    ({"id": "Q1", "procedure": "fusion", "tz": "UTC", "start_date": "2024-01-01",
      "admin": True}, "admin"),
    ({"procedure": "fusion", "tz": "UTC", "start_date": "2024-01-01"}, "id"),
])
def test_bad_patients_are_422_naming_the_field_and_nothing_is_written(
        stack: ApiStack, body: dict[str, object], where: str) -> None:
    with stack.client("admin") as client:
        answer = client.post("/api/v1/patients", json=body)
        assert answer.status_code == 422 and where in answer.json()["error"]
        assert client.get("/api/v1/patients/Q1").status_code == 404


@pytest.mark.parametrize("content,ctype", [(b"{not json", "application/json"),
                                           (b"id=Q1", "application/x-www-form-urlencoded"),
                                           (b"\xff\xfe", "text/plain"), (b"", "")])
def test_malformed_or_mistyped_bodies_are_4xx(stack: ApiStack, content: bytes,
                                              ctype: str) -> None:
    with stack.client("admin") as client:
        answer = client.post("/api/v1/patients", content=content,
                             headers={"content-type": ctype} if ctype else {})
    assert 400 <= answer.status_code < 500 and answer.json()["error"]


# -- days ------------------------------------------------------------------------------------

def test_targets_per_day_say_where_each_came_from(stack: ApiStack) -> None:
    with stack.client("patient") as client:
        answer = client.get("/api/v1/patients/P1/targets",
                            params={"from": "2024-05-10", "to": "2024-05-16"})
    days = answer.json()["days"]
    assert [d["local_date"] for d in days][::6] == ["2024-05-10", "2024-05-16"]
    assert days[0]["steps_low"]["origin"].startswith("protocol:")


@pytest.mark.parametrize("params,status,reason", [
    ({"from": "2023-02-30"}, 422, "from"),
    ({"from": "2024-05-10", "to": "2024-05-01"}, 400, "is after"),
    ({"from": "2020-01-01", "to": "2024-01-01"}, 400, "at most 366 days"),
    ({"form": "2024-01-01"}, 400, "unknown query parameter(s) form"),
])
def test_bad_date_ranges_are_4xx_with_the_reason(stack: ApiStack, params: dict[str, str],
                                                 status: int, reason: str) -> None:
    with stack.client("clinician") as client:
        for what in ("summaries", "targets"):
            answer = client.get(f"/api/v1/patients/P1/{what}", params=params)
            assert answer.status_code == status and reason in answer.json()["error"]


# -- uploads ---------------------------------------------------------------------------------

def test_real_device_files_upload_over_http(stack: ApiStack) -> None:
    fit, fitbit = device_file(FIT_WALK), device_file(FITBIT_MINUTES)
    new_patient(stack, "U-1", date(2019, 7, 1))
    with stack.client("clinician") as client:
        answer = client.post("/api/v1/patients/U-1/uploads", files=[
            ("file", (fit.name, fit.read_bytes())), ("file", (fitbit.name, fitbit.read_bytes()))])
        assert answer.status_code == 200, answer.text
        first, second = answer.json()["uploads"]
        again = client.post("/api/v1/patients/U-1/uploads",
                            files={"file": (fit.name, fit.read_bytes())}).json()["uploads"][0]
        listed = client.get("/api/v1/patients/U-1/uploads").json()["uploads"]
        summaries = client.get("/api/v1/patients/U-1/summaries",
                               params={"from": first["days"][0], "to": first["days"][-1]})
    assert (first["status"], first["format"]) == ("stored", "fit") and first["days"]
    assert (second["status"], second["format"]) == ("stored", "fitbit")
    assert again["status"] == "duplicate" and "same content" in again["reason"]
    assert [u["status"] for u in listed] == ["duplicate", "stored", "stored"]
    assert summaries.json()["days"][0]["steps"] > 0
    assert len(entries(stack, "upload.create")) >= 3


def test_a_patient_uploads_their_own_export_and_it_is_judged(stack: ApiStack,
                                                            tmp_path: Path) -> None:
    """Without a broker the patient is evaluated once the upload is stored: the alert is
    there as soon as the response is."""
    start = date.today() - timedelta(days=49)
    new_patient(stack, "U-2", start)
    token, _ = Accounts(stack.settings).create_token("patient", SETUP, "U-2")
    export = underactive_export(tmp_path / "export.csv", start)
    with stack.client() as client:
        client.headers["Authorization"] = f"Bearer {token}"
        answer = client.post("/api/v1/patients/U-2/uploads",
                             files={"file": ("export.csv", export.read_bytes())})
        assert answer.json()["uploads"][0]["status"] == "stored", answer.text
        assert client.get("/api/v1/patients/P1/uploads").status_code == 404
    with stack.client("clinician") as client:
        found = client.get("/api/v1/alerts", params={"patient": "U-2"}).json()["alerts"]
    assert "underactivity" in {a["rule"] for a in found}


def test_upload_names_are_labels_only(stack: ApiStack, tmp_path: Path) -> None:
    with stack.client("admin") as client:
        answer = client.post("/api/v1/patients/P2/uploads", files={
            "file": ("../../../etc/\x1bpasswd", b"timestamp,steps\n2024-05-02T10:00:00Z,12\n")})
    (upload,) = answer.json()["uploads"]
    assert upload["filename"] == "passwd" and upload["status"] == "stored"


def test_an_unreadable_file_is_rejected_with_the_reason_and_the_others_go_on(
        stack: ApiStack) -> None:
    with stack.client("admin") as client:
        answer = client.post("/api/v1/patients/P2/uploads", files=[
            ("file", ("junk.bin", b"\x00\x01 not any tracker format")),
            ("file", ("ok.csv", b"timestamp,steps\n2024-05-03T10:00:00Z,30\n"))])
    junk, ok = answer.json()["uploads"]
    assert answer.status_code == 200
    assert junk["status"] == "rejected" and junk["reason"] and junk["days"] == []
    assert ok["status"] == "stored" and ok["days"] == ["2024-05-03"]


@pytest.mark.parametrize("kwargs,status", [
    ({"content": b"timestamp,steps\n", "headers": {"content-type": "text/csv"}}, 415),
    ({"json": {"file": "x"}}, 415),
    ({"content": b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nbroken",
      "headers": {"content-type": "multipart/form-data; boundary=b"}}, 400),
    ({"files": {"other": ("a.csv", b"x")}}, 400),
    ({"data": {"file": "not a file"}, "files": {"x": ("a", b"")}}, 400),
])
def test_bad_upload_requests_are_4xx(stack: ApiStack, kwargs: dict[str, object],
                                     status: int) -> None:
    with stack.client("admin") as client:
        answer = client.post("/api/v1/patients/P2/uploads", **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == status and answer.json()["error"], answer.text


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiStack]:
    """A server taking uploads of at most 1 MB."""
    with api_stack(f"sqlite:///{tmp_path_factory.mktemp('small') / 'rw.db'}",
                   Settings(max_upload_mb=1)) as stack:
        yield stack


def test_an_oversized_upload_is_413_before_its_body_is_read(small: ApiStack) -> None:
    where = urlsplit(small.url)
    with socket.create_connection((where.hostname, where.port)) as conn:
        conn.sendall((f"POST /api/v1/patients/P1/uploads HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {small.tokens['admin']}\r\n"
                      "Content-Type: multipart/form-data; boundary=b\r\n"
                      f"Content-Length: {small.settings.max_upload_bytes * 2}\r\n\r\n").encode())
        answer = ""  # answered without a byte of the body
        while "}" not in answer and (chunk := conn.recv(4096)):
            answer += chunk.decode()
    assert answer.startswith("HTTP/1.1 413") and "at most 1 MB (RW_MAX_UPLOAD_MB)" in answer
    with small.client("admin") as client:
        assert client.get("/api/v1/patients/P1/uploads").json() == {"uploads": []}


def test_an_oversized_chunked_upload_is_cut_off_while_it_is_read(small: ApiStack) -> None:
    def body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        for _ in range(40):  # 2.5 MB, over the 1 MB limit
            yield b"timestamp,steps\n" * 4096

    with small.client("admin") as client:
        answer = client.post("/api/v1/patients/P1/uploads", content=body(),
                             headers={"content-type": "multipart/form-data; boundary=b"})
        assert answer.status_code == 413 and "RW_MAX_UPLOAD_MB" in answer.json()["error"]
        assert client.get("/api/v1/patients/P1/uploads").json() == {"uploads": []}


# -- alerts ----------------------------------------------------------------------------------

def test_alert_lifecycle_through_the_api_is_audited(stack: ApiStack) -> None:
    aid = stack.alert_id
    with stack.client("clinician") as client:
        shown = client.get(f"/api/v1/alerts/{aid}").json()
        assert shown["transitions"][0]["status"] == "open" and shown["last_evidence"]
        acked = client.post(f"/api/v1/alerts/{aid}/acknowledge", json={"reason": "seen"})
        assert acked.json()["status"] == "acknowledged"
        assert client.post(f"/api/v1/alerts/{aid}/acknowledge", json={}).status_code == 409
        bad = client.post(f"/api/v1/alerts/{aid}/snooze", json={"days": 5, "reason": "x"})
        assert bad.status_code == 422 and "1, 3, 7" in bad.json()["error"]
        snoozed = client.post(f"/api/v1/alerts/{aid}/snooze", json={"days": 3, "reason": "trip"})
        assert snoozed.json()["status"] == "snoozed"
        assigned = client.post(f"/api/v1/alerts/{aid}/assign", json={"assignee": "alice"})
        assert assigned.json()["assignee"] == "alice"
        nobody = client.post(f"/api/v1/alerts/{aid}/assign", json={"assignee": "root2"})
        assert nobody.status_code == 400
        mine = client.get("/api/v1/alerts", params={"assignee": "alice"}).json()["alerts"]
        assert [a["id"] for a in mine] == [aid]
        resolved = client.post(f"/api/v1/alerts/{aid}/resolve", json={"reason": "better"})
        history = [t["status"] for t in resolved.json()["transitions"]]
    assert history == ["open", "acknowledged", "snoozed", "resolved"]
    # one entry per action taken, none for those refused (the entry is the change's own)
    for action in ("alert.acknowledge", "alert.snooze", "alert.resolve", "alert.assign"):
        (entry,) = entries(stack, action)
        assert (entry.patient_id, entry.target, entry.role) == ("P1", aid, "clinician")


def test_a_patient_sees_their_nudges_without_clinician_evidence(stack: ApiStack) -> None:
    with stack.client("patient") as client:
        listed = client.get("/api/v1/alerts").json()["alerts"]
        nudge = client.get(f"/api/v1/alerts/{stack.nudge_id}").json()
        hidden = client.get(f"/api/v1/alerts/{stack.alert_id}")
        acted = client.post(f"/api/v1/alerts/{stack.nudge_id}/acknowledge", json={})
    assert [a["id"] for a in listed] == [stack.nudge_id]
    assert "last_evidence" not in nudge and "transitions" not in nudge
    assert hidden.status_code == 404 and acted.status_code == 403


def test_alert_filters_and_scope(stack: ApiStack) -> None:
    with stack.client("other_clinician") as client:
        south = client.get("/api/v1/alerts").json()["alerts"]
        assert {a["patient_id"] for a in south} <= {"P2"}  # uploads above judged P2
        assert client.get("/api/v1/alerts", params={"patient": "P1"}).status_code == 404
    with stack.client("monitoring") as client:
        found = client.get("/api/v1/alerts", params={"status": "open", "rule": "missing_data",
                                                     "patient": "P1"})
        assert [a["id"] for a in found.json()["alerts"]] == [stack.nudge_id]
        north = client.get("/api/v1/alerts", params={"team": "north", "severity": "warning"})
        assert {a["patient_id"] for a in north.json()["alerts"]} >= {"P1"}
        assert client.get("/api/v1/alerts", params={"team": "south"}).json() == {"alerts": []}
        assert client.get("/api/v1/alerts", params={"status": "closed"}).status_code == 422
        assert client.get("/api/v1/alerts", params={"older_than_days": 3650}).json() == {
            "alerts": []}


# -- audit -----------------------------------------------------------------------------------

def test_reads_of_patient_data_are_audited_and_admins_read_the_trail(stack: ApiStack) -> None:
    with stack.client("monitoring") as client:
        client.get("/api/v1/patients/P1/summaries")
        assert client.get("/api/v1/audit").status_code == 403
    with stack.client("admin") as client:
        trail = client.get("/api/v1/audit", params={"patient": "P1"}).json()["entries"]
    read = [e for e in trail if e["action"] == "patient.summaries"]
    assert read and read[-1]["role"] == "monitoring" and read[-1]["address"] == "127.0.0.1"
    assert read[-1]["actor"].startswith("token:")
