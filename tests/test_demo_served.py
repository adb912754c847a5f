"""The README's main command, as a person runs it: ``python -m rehabwatch.demo`` (what
``make demo`` runs) in a subprocess prints the API's URL and the demo user, the user signs in
over HTTP, sees every story's alerts through ``GET /api/v1/alerts`` (through the stream: the
embedded broker and a worker), and Ctrl-C stops it all cleanly."""

from __future__ import annotations

from pathlib import Path
from time import monotonic, sleep

import pytest

from tests.demo_process import PRINTED, demo, expected_alerts, open_alerts

ALERTS_WITHIN_S = 120.0  # the goal is a minute; the limit leaves room for a loaded machine


@pytest.mark.kafka
def test_make_demo_serves_every_story_over_http_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    expected = expected_alerts()
    with demo(tmp_path / "demo-out") as run:
        opening = run.wait_for(r"^Open http", 60)
        values = run.values()
        assert set(values) == set(PRINTED), run.seen
        assert opening.startswith(f"Open {values['RW_API_URL']}/ and sign in as "
                                  f"{values['RW_DEMO_USER']} ")
        with run.signed_in() as client:
            me = client.get("/api/v1/session").json()
            assert me["role"] == "clinician" and set(me["teams"]) == {"spine-north",
                                                                      "spine-south"}
            visible: set[tuple[str, str, str]] = set()
            while visible != expected and monotonic() - run.started < ALERTS_WITHIN_S:
                assert run.proc.poll() is None, run.seen
                sleep(1)
                visible = open_alerts(client)
            took = monotonic() - run.started
        assert visible == expected, (took, expected ^ visible)
        print(f"every story's alerts visible over HTTP {took:.1f} s after the start")
        run.wait_for(r"^Every patient judged", 30)
        assert run.stop() == 0, run.seen
    assert not [line for line in run.seen if "Traceback" in line], run.seen
