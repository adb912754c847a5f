"""The demo: a small synthetic cohort, generated, ingested and judged end to end.

``python -m rehabwatch.demo [--out DIR] [--batch]`` starts the embedded stack (broker and
stream worker, as ``rehabwatch up``) on ``DIR/rehabwatch.db``, writes each patient's tracker
export as the generic CSV (docs/csv-format.md), adds the patients, ingests the exports through
the CLI (which publishes their day grids), waits for the worker to summarize and judge them,
stops the stack and prints daily steps and alerts. ``--batch`` uses ``rehabwatch evaluate``
instead of the stream. Trajectories are planted so that each kind of alert has something to
find; everything is seeded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select

from rehabwatch import stack
from storage import database
from rehabwatch.broker import free_port
from rehabwatch.cli import main as cli
from storage.tables import AlertTransitionRow, Patient

DAYS = 49
WAIT_S = 180.0  # for the worker to judge everyone
QUIET_S = 3.0  # alerts unchanged this long: the worker is done


@dataclass(frozen=True)
class DemoPatient:
    id: str
    procedure: str
    tz: str
    story: str  # on_track | underactive | spike | silent


COHORT = (
    DemoPatient("DEMO-001", "microdiscectomy", "Europe/London", "on_track"),
    DemoPatient("DEMO-002", "microdiscectomy", "Europe/London", "underactive"),
    DemoPatient("DEMO-003", "decompression", "America/New_York", "spike"),
    DemoPatient("DEMO-004", "fusion", "Europe/Berlin", "silent"),
    DemoPatient("DEMO-005", "conservative", "Australia/Sydney", "on_track"),
)


def daily_steps(story: str, week: float, rng: np.random.Generator) -> float:
    """Steps planned for a day ``week`` weeks after the start, per the patient's story."""
    plan = 700 + 900 * min(week, 2) + 800 * max(0.0, min(week, 8) - 2)
    if story == "underactive" and week >= 4:
        plan *= 0.45
    if story == "spike" and 6.55 <= week < 6.7:
        plan *= 2.6
    return max(0.0, plan * rng.normal(1.0, 0.12))


def day_minutes(steps: float, rng: np.random.Generator) -> np.ndarray:
    """Minute steps 06:30–22:30 (960 minutes): walking bouts plus a little pottering."""
    minutes = np.zeros(960)
    pottering = rng.random(960) < 0.08
    minutes[pottering] = rng.integers(3, 25, pottering.sum())
    left = max(0.0, steps - minutes.sum())
    while left > 0:
        length = int(rng.integers(4, 20))
        start = int(rng.integers(30, 960 - length))
        cadence = float(rng.uniform(75, 110))
        minutes[start:start + length] += np.minimum(cadence, left / length)
        left -= min(cadence * length, left)
    return np.round(minutes)


def write_export(patient: DemoPatient, start: date, last: date, path: Path,
                 rng: np.random.Generator) -> None:
    """The patient's export from ``start - 7 days`` (baseline week) to ``last``."""
    zone = ZoneInfo(patient.tz)
    with path.open("w") as out:
        out.write("timestamp,steps\n")
        day = start - timedelta(days=7)
        while day <= last:
            if not (patient.story == "silent" and (last - day).days < 5):
                week = max(0.0, (day - start).days / 7)
                first = datetime.combine(day, time(6, 30), zone)
                for i, s in enumerate(day_minutes(daily_steps(patient.story, week, rng), rng)):
                    stamp = (first + timedelta(minutes=i)).isoformat(timespec="seconds")
                    out.write(f"{stamp},{int(s)}\n")
            day += timedelta(days=1)


def enrol_and_ingest(database_url: str, exports: Path) -> int:
    """Enrol the cohort (those not enrolled yet) and ingest their generated exports through
    the CLI, which also publishes the day grids when ``RW_KAFKA_URL`` is set."""
    os.environ["RW_DATABASE_URL"] = database_url
    start, last = date.today() - timedelta(days=DAYS), date.today() - timedelta(days=1)
    rng = np.random.default_rng(20261123)
    exports.mkdir(parents=True, exist_ok=True)
    with database.session_scope(database_url) as session:
        enrolled = set(session.scalars(select(Patient.id)))
    steps = []
    for p in COHORT:
        export = exports / f"{p.id}.csv"
        write_export(p, start, last, export, rng)
        if p.id not in enrolled:
            steps.append(["patient", "add", p.id, "--procedure", p.procedure,
                          "--start-date", start.isoformat(), "--tz", p.tz])
        steps.append(["ingest", str(export), "--patient", p.id])
    return _run(steps)


def wait_until_judged(database_url: str, worker: subprocess.Popen[bytes]) -> int:
    """Wait until the worker has judged every patient through yesterday and the alerts have
    stopped changing (the missing-data scan judges the silent patient)."""
    yesterday = date.today() - timedelta(days=1)
    deadline, last_seen, quiet_since = monotonic() + WAIT_S, None, monotonic()
    while monotonic() < deadline:
        if worker.poll() is not None:
            print(f"the worker exited with code {worker.returncode}", file=sys.stderr)
            return 1
        with database.session_scope(database_url) as session:
            behind = session.scalar(select(func.count()).select_from(Patient).where(
                (Patient.evaluated_through.is_(None)) | (Patient.evaluated_through < yesterday)))
            seen = session.scalar(select(func.count()).select_from(AlertTransitionRow))
        if seen != last_seen:
            last_seen, quiet_since = seen, monotonic()
        if behind == 0 and monotonic() - quiet_since >= QUIET_S:
            return 0
        sleep(0.5)
    print(f"the worker has not judged every patient after {WAIT_S:g} s", file=sys.stderr)
    return 1


def run(out: Path, batch: bool = False) -> int:
    """The demo, through the embedded streaming stack (or ``batch``: ``rehabwatch evaluate``)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    url = os.environ["RW_DATABASE_URL"] = f"sqlite:///{out / 'rehabwatch.db'}"
    last = date.today() - timedelta(days=1)
    if batch:
        code = (_run([["init"]]) or enrol_and_ingest(url, out / "exports")
                or _run([["evaluate", "--as-of", last.isoformat()]]))
    else:
        os.environ.setdefault("RW_MISSING_DATA_SCAN_S", "10")
        os.environ.setdefault("RW_WORKER_WEB_PORT", str(free_port()))
        with stack.broker() as settings:
            print(f"\n$ rehabwatch up   # broker at {settings.kafka_url}", flush=True)
            code = enrol_and_ingest(url, out / "exports")  # published before the worker starts,
            if not code:  # so its first missing-data scan comes after the backlog
                with stack.worker() as proc:
                    print(f"\n(a stream worker summarizes and judges every patient; metrics at "
                          f"http://127.0.0.1:{os.environ['RW_WORKER_WEB_PORT']}/metrics)",
                          flush=True)
                    code = wait_until_judged(url, proc)
    if code:
        return code
    code = _run([*(["summary", p.id, "--from", (last - timedelta(days=6)).isoformat()]
                   for p in COHORT), ["alerts"]])
    print(f"\ndemo database: {out / 'rehabwatch.db'}  (RW_DATABASE_URL={url})")
    return code


def _run(steps: list[list[str]]) -> int:
    for argv in steps:
        print(f"\n$ rehabwatch {' '.join(argv)}", flush=True)
        if code := cli(argv):
            return code
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--batch", action="store_true",
                        help="no broker: evaluate in batch instead of through the stream")
    args = parser.parse_args()
    return run(args.out.resolve(), args.batch)


if __name__ == "__main__":
    raise SystemExit(main())
