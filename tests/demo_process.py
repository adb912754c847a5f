"""``python -m rehabwatch.demo`` (what ``make demo`` runs) driven as a person would: started in a
subprocess, its printed lines read, its API called with the printed demo user, stopped with
Ctrl-C (SIGINT). Used by tests/test_demo_served.py and bench/bench_demo.py."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic
from typing import IO

import httpx

from rehabwatch.demo_cohort import EXPECTED, cohort

REPO = Path(__file__).resolve().parents[1]
PRINTED = ("RW_KAFKA_URL", "RW_API_URL", "RW_DEMO_USER", "RW_DEMO_PASSWORD")
Alert = tuple[str, str, str]  # patient, rule, audience


def expected_alerts() -> set[Alert]:
    """The open alerts the demo cohort's stories must raise, and no other."""
    return {(p.id, rule, audience) for p in cohort(datetime.now(timezone.utc))
            for rule, audience in EXPECTED[p.story]}


class Demo:
    """A running demo: its lines as printed, and when it started (``monotonic``)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.started, self.seen = proc, monotonic(), list[str]()
        self._lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout_s: float) -> str:
        """The first printed line matching ``pattern`` (waiting for it)."""
        deadline = monotonic() + timeout_s
        while True:
            found = [line for line in self.seen if re.search(pattern, line)]
            if found:
                return found[0]
            self.seen.append(self._lines.get(timeout=max(0.1, deadline - monotonic())))

    def values(self) -> dict[str, str]:
        """The ``NAME=value`` lines printed so far, of the names in :data:`PRINTED`."""
        return dict(line.split("=", 1) for line in self.seen
                    if line.split("=")[0] in PRINTED)

    @contextmanager
    def signed_in(self) -> Iterator[httpx.Client]:
        """An HTTP client of the printed API, signed in as the printed demo user."""
        values = self.values()
        with httpx.Client(base_url=values["RW_API_URL"], timeout=10) as client:
            me = client.post("/api/v1/session", json={"name": values["RW_DEMO_USER"],
                                                      "password": values["RW_DEMO_PASSWORD"]})
            assert me.status_code == 200, me.text
            yield client

    def stop(self, timeout_s: float = 60) -> int:
        """Ctrl-C, and the exit code; every line printed until the exit is in ``seen``."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(10)
        while not self._lines.empty():
            self.seen.append(self._lines.get())
        return code


@contextmanager
def demo(out: Path) -> Iterator[Demo]:
    """The demo on ``out`` (a free API port, Faust's folder inside ``out``), killed if still
    running on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RW_")}
    env.update(RW_API_PORT="0", RW_STREAM_DATADIR=str(out.parent / f"{out.name}-faust"))
    proc = subprocess.Popen([sys.executable, "-m", "rehabwatch.demo", "--out", str(out)],
                            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        yield Demo(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def open_alerts(client: httpx.Client) -> set[Alert]:
    """The open alerts ``GET /api/v1/alerts`` shows, every page."""
    found: list[dict[str, str]] = []
    while True:
        page = client.get("/api/v1/alerts", params={"status": "open", "limit": 500,
                                                    "offset": len(found)})
        assert page.status_code == 200, page.text
        found += page.json()["alerts"]
        if len(page.json()["alerts"]) < 500:
            return {(a["patient_id"], a["rule"], a["audience"]) for a in found}
