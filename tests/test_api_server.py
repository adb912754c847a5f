"""``rehabwatch api`` as an operator runs it: it prints its URL, serves, logs JSON lines by
route template (never a patient id), stops gracefully on SIGTERM; and a bug is a 500 that
says only that."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from rehabwatch.access import ROLES, Caller
from rehabwatch.api.app import create_app, served
from rehabwatch.api.rules import allow
from tests.api_server import api_stack, seed

REPO = Path(__file__).resolve().parents[1]
# starlette's TestClient (the in-process bug test) warns that it wants httpx2
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def test_rehabwatch_api_serves_logs_by_template_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rw.db'}"
    with api_stack(url) as stack:
        token = stack.tokens["clinician"]
    env = {**os.environ, "RW_DATABASE_URL": url, "RW_LOG_LEVEL": "info", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "rehabwatch.cli", "api", "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("RW_API_URL=http://127.0.0.1:")
        base = line.removeprefix("RW_API_URL=")
        for _ in range(100):  # up to 5 s for the server to accept connections
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        answer = httpx.get(f"{base}/api/v1/patients/P1/summaries",
                           headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (the exit status a
    # process manager expects of a process stopped by SIGTERM)
    assert proc.returncode == -signal.SIGTERM and "Finished server process" in err
    logged = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
    assert {"method": "GET", "route": "/api/v1/patients/{patient_id}/summaries",
            "status": 200} in [{k: d[k] for k in ("method", "route", "status")} for d in logged]
    assert "P1" not in err and token not in err


def test_a_bug_is_a_500_that_says_no_more(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from rehabwatch.settings import Settings
    from storage import database

    url = f"sqlite:///{tmp_path / 'rw.db'}"
    database.upgrade(url)
    settings = Settings(database_url=url)
    stack = seed(settings)
    buggy = APIRouter()

    @buggy.get("/api/v1/buggy")
    def broken(caller: Caller = allow(*ROLES)) -> None:
        raise KeyError("secret detail of P1")

    app = create_app(settings, [buggy])
    with TestClient(served(app), raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/buggy",
                            headers={"Authorization": f"Bearer {stack.tokens['admin']}"})
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error (a bug, logged on the server)",
                             "details": []}
    assert "secret" not in answer.text

