"""The README's main command, as a person runs it: ``python -m rehabwatch.demo`` (what
``make demo`` runs) in a subprocess prints the API's URL and the demo user, the user signs in
over HTTP, sees every story's alerts through ``GET /api/v1/alerts`` (through the stream: the
embedded broker and a worker), and Ctrl-C stops it all cleanly."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic, sleep
from typing import IO

import httpx
import pytest

from rehabwatch.demo_cohort import EXPECTED, cohort
from tests.conftest import REPO

ALERTS_WITHIN_S = 120.0  # the goal is a minute; the limit leaves room for a loaded machine
LINES = ("RW_KAFKA_URL", "RW_API_URL", "RW_DEMO_USER", "RW_DEMO_PASSWORD")


def reader(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def printed(lines: queue.Queue[str], seen: list[str], until: str, timeout_s: float) -> None:
    """Collect printed lines into ``seen`` until one matches ``until``."""
    deadline = monotonic() + timeout_s
    while not any(re.search(until, line) for line in seen):
        seen.append(lines.get(timeout=max(0.1, deadline - monotonic())))


def visible_alerts(client: httpx.Client) -> set[tuple[str, str, str]]:
    found, offset = [], 0
    while True:
        page = client.get("/api/v1/alerts", params={"status": "open", "limit": 500,
                                                    "offset": offset})
        assert page.status_code == 200, page.text
        found += page.json()["alerts"]
        if len(page.json()["alerts"]) < 500:
            return {(a["patient_id"], a["rule"], a["audience"]) for a in found}
        offset += 500


@pytest.mark.kafka
def test_make_demo_serves_every_story_over_http_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RW_")}
    env.update(RW_API_PORT="0", RW_STREAM_DATADIR=str(tmp_path / "faust"))
    started = monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "rehabwatch.demo", "--out",
                             str(tmp_path / "demo-out")], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=reader, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    expected = {(p.id, rule, audience) for p in cohort(datetime.now(timezone.utc))
                for rule, audience in EXPECTED[p.story]}
    try:
        printed(lines, seen, r"^Open http", 60)
        values = dict(line.split("=", 1) for line in seen if line.split("=")[0] in LINES)
        assert set(values) == set(LINES), seen
        assert f"Open {values['RW_API_URL']}/ and sign in as {values['RW_DEMO_USER']}" in seen[-1]
        with httpx.Client(base_url=values["RW_API_URL"], timeout=10) as client:
            me = client.post("/api/v1/session", json={"name": values["RW_DEMO_USER"],
                                                      "password": values["RW_DEMO_PASSWORD"]})
            assert me.status_code == 200, me.text
            assert me.json()["role"] == "clinician"
            assert set(me.json()["teams"]) == {"spine-north", "spine-south"}
            visible: set[tuple[str, str, str]] = set()
            while visible != expected and monotonic() - started < ALERTS_WITHIN_S:
                assert proc.poll() is None, seen
                sleep(1)
                visible = visible_alerts(client)
            took = monotonic() - started
            assert visible == expected, (took, expected ^ visible)
        print(f"every story's alerts visible over HTTP {took:.1f} s after the start")
        printed(lines, seen, r"^Every patient judged", 30)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not [line for line in seen if "Traceback" in line], seen
