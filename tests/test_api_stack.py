"""The API with the rest of the stack: a real device file over HTTP on PostgreSQL (batch:
judged at once), and, with the embedded broker and a real stream worker, an upload's day
grids going to the stream and its alert readable through the API."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from rehabwatch.broker import EmbeddedBroker
from rehabwatch.settings import load
from storage import database
from tests.api_server import FIT_WALK, ApiStack, api_stack, underactive_export
from tests.conftest import device_file
from tests.kafka_fixtures import Worker, wait_for, worker_env


def enrol(stack: ApiStack, pid: str, start: date) -> None:
    with stack.client("clinician") as client:
        client.post("/api/v1/patients", json={
            "id": pid, "procedure": "microdiscectomy", "tz": "Europe/London",
            "team": "north", "start_date": start.isoformat()}).raise_for_status()


def alerts_of(client: httpx.Client, pid: str) -> set[str]:
    return {a["rule"] for a in client.get("/api/v1/alerts",
                                          params={"patient": pid}).json()["alerts"]}


@pytest.mark.postgres
def test_uploads_over_http_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    with database.engine(postgres_url).begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    fit = device_file(FIT_WALK)
    start = date.today() - timedelta(days=49)
    with api_stack(postgres_url) as stack:
        enrol(stack, "PG-1", start)
        export = underactive_export(tmp_path / "export.csv", start)
        with stack.client("clinician") as client:
            answer = client.post("/api/v1/patients/PG-1/uploads", files=[
                ("file", (fit.name, fit.read_bytes())),
                ("file", ("export.csv", export.read_bytes()))])
            fit_out, csv_out = answer.json()["uploads"]
            assert (fit_out["status"], fit_out["format"]) == ("stored", "fit")
            assert (csv_out["status"], csv_out["format"]) == ("stored", "csv")
            assert "underactivity" in alerts_of(client, "PG-1")
            listed = client.get("/api/v1/patients/PG-1/uploads").json()["uploads"]
            assert len(listed) == 2
    database.engine(postgres_url).dispose()


@pytest.mark.kafka
def test_an_uploads_alert_comes_through_the_stream(kafka_broker: EmbeddedBroker,
                                                   tmp_path: Path) -> None:
    """With a broker the upload's grids are published; the worker summarizes and judges
    them, and the alert is then readable through the API."""
    url = f"sqlite:///{tmp_path / 'rw.db'}"
    env = worker_env(kafka_broker, "api-e2e", tmp_path, RW_DATABASE_URL=url)
    start = date.today() - timedelta(days=49)
    with api_stack(url, load(env)) as stack:
        worker = Worker(env, tmp_path / "worker.log")
        try:
            enrol(stack, "K-1", start)
            export = underactive_export(tmp_path / "export.csv", start)
            worker.wait_assigned()
            with stack.client("clinician") as client:
                answer = client.post("/api/v1/patients/K-1/uploads",
                                     files={"file": ("export.csv", export.read_bytes())})
                (out,) = answer.json()["uploads"]
                assert out["status"] == "stored" and out["published"] == len(out["days"])
                wait_for(lambda: "underactivity" in alerts_of(client, "K-1"), 60, worker.tail)
        finally:
            worker.stop()
