"""The demo: a small synthetic cohort, generated, ingested and judged end to end.

``python -m rehabwatch.demo [--out DIR] [--batch]`` starts the embedded stack (broker and
stream worker, as ``rehabwatch up``) on ``DIR/rehabwatch.db``, writes each patient's tracker
export as the generic CSV (docs/csv-format.md), adds the patients, ingests the exports through
the service as the CLI does (which publishes their day grids), waits for the worker to summarize and judge them,
stops the stack and prints daily steps and alerts. ``--batch`` uses ``rehabwatch evaluate``
instead of the stream. Trajectories are planted so that each kind of alert has something to
find; everything is seeded.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from zoneinfo import ZoneInfo

import numpy as np

from ingest.base import ParseContext
from rehabwatch import stack, views
from rehabwatch.broker import free_port
from rehabwatch.service import Service
from rehabwatch.settings import Settings, load
from schemas.errors import RehabwatchError, UsageError
from storage import alerts, database, patients

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


def enrol_and_ingest(settings: Settings, exports: Path) -> int:
    """Enrol the cohort (those not enrolled yet) and ingest their generated exports as
    ``rehabwatch ingest`` does: with a broker, the stored day grids are published for the
    worker; without, the days are summarized at once."""
    service = Service(settings)
    start, last = date.today() - timedelta(days=DAYS), date.today() - timedelta(days=1)
    rng = np.random.default_rng(20261123)
    exports.mkdir(parents=True, exist_ok=True)
    for p in COHORT:
        export = exports / f"{p.id}.csv"
        write_export(p, start, last, export, rng)
        try:
            service.add_patient(p.id, p.procedure, start, p.tz, "default", {})
            print(f"$ rehabwatch patient add {p.id} --procedure {p.procedure} "
                  f"--start-date {start} --tz {p.tz}")
        except UsageError:
            pass  # enrolled by an earlier run
        with export.open("rb") as stream:
            out = service.ingest(stream, ParseContext(p.id, p.tz, export.name))
        print(f"$ rehabwatch ingest {export.name} --patient {p.id}: {out.status}, "
              f"{len(out.grids)} day grids, {out.steps:,.0f} steps")
        if out.status == "rejected" or out.publish_error:
            print(f"demo export not taken: {out.reason or out.publish_error}", file=sys.stderr)
            return 1
    return 0


def enrol_demo(settings: Settings) -> int:
    """``rehabwatch up --demo``: the cohort's exports written to a temporary folder and
    ingested (their grids published to the running stack)."""
    with tempfile.TemporaryDirectory() as exports:
        return enrol_and_ingest(settings, Path(exports))


def wait_until_judged(database_url: str, worker: subprocess.Popen[bytes]) -> int:
    """Wait until the worker has judged every patient through yesterday and the alerts have
    stopped changing (the missing-data scan judges the silent patient)."""
    yesterday = date.today() - timedelta(days=1)
    deadline, last_seen, quiet_since = monotonic() + WAIT_S, -1, monotonic()
    while monotonic() < deadline:
        if worker.poll() is not None:
            print(f"the worker exited with code {worker.returncode}", file=sys.stderr)
            return 1
        with database.session_scope(database_url) as session:
            behind = patients.count_judged_before(session, yesterday)
            seen = alerts.transition_count(session)
        if seen != last_seen:
            last_seen, quiet_since = seen, monotonic()
        if behind == 0 and monotonic() - quiet_since >= QUIET_S:
            return 0
        sleep(0.5)
    print(f"the worker has not judged every patient after {WAIT_S:g} s", file=sys.stderr)
    return 1


def run(out: Path, batch: bool = False, settings: Settings | None = None) -> int:
    """The demo on ``out/rehabwatch.db``, through the embedded streaming stack (or ``batch``:
    evaluated as ``rehabwatch evaluate`` does)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    settings = dataclasses.replace(settings or load(),
                                   database_url=f"sqlite:///{out / 'rehabwatch.db'}")
    last = date.today() - timedelta(days=1)
    if batch:
        database.upgrade(settings.database_url)
        code = enrol_and_ingest(settings, out / "exports")
        if not code:
            print(f"$ rehabwatch evaluate --as-of {last}")
            Service(settings).evaluate_all(last)
    else:
        with stack.broker(settings) as settings:
            print(f"\n$ rehabwatch up   # broker at {settings.kafka_url}", flush=True)
            code = enrol_and_ingest(settings, out / "exports")  # published before the worker
            if not code:  # starts, so its first missing-data scan comes after the backlog
                port = str(free_port())
                env = stack.worker_env(settings, RW_MISSING_DATA_SCAN_S="10",
                                       RW_WORKER_WEB_PORT=port)
                with stack.worker(env) as proc:
                    print(f"\n(a stream worker summarizes and judges every patient; metrics at "
                          f"http://127.0.0.1:{port}/metrics)", flush=True)
                    code = wait_until_judged(settings.database_url, proc)
    if not code:
        show(Service(settings), last)
        print(f"\ndemo database: {out / 'rehabwatch.db'}  "
              f"(RW_DATABASE_URL={settings.database_url})")
    return code


def show(service: Service, last: date) -> None:
    """What the clinicians would see: each patient's last week, and the alerts."""
    for p in COHORT:
        print(f"\n$ rehabwatch summary {p.id} --from {last - timedelta(days=6)}")
        days = service.summaries(p.id, last - timedelta(days=6))
        print(views.summary_text(views.summary_docs(days)))
    print("\n$ rehabwatch alerts")
    print(views.alerts_text([views.alert_doc(a) for a in service.alerts()]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--batch", action="store_true",
                        help="no broker: evaluate in batch instead of through the stream")
    args = parser.parse_args()
    try:
        return run(args.out.resolve(), args.batch)
    except RehabwatchError as exc:
        print(f"rehabwatch demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
