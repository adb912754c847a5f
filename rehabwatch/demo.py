"""The demo: a cohort of 48 synthetic patients, their real export files, ingested and judged.

``python -m rehabwatch.demo [--out DIR] [--batch]`` starts the embedded stack (broker and
stream worker, as ``rehabwatch up``) on ``DIR/rehabwatch.db``, enrols the cohort of
:mod:`rehabwatch.demo_cohort`, writes each patient's tracker export in its format
(:mod:`rehabwatch.demo_exports`: FIT, Fitbit, CSV, Apple Health, activPAL) and ingests every
file through the service as ``rehabwatch ingest`` does (format detected, day grids
published), waits for the worker to summarize and judge everyone, and prints the alerts.
``--batch`` uses ``rehabwatch evaluate`` instead of the stream. Everything is seeded.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic, sleep

from ingest.base import ParseContext
from rehabwatch import stack, views
from rehabwatch.broker import free_port
from rehabwatch.demo_cohort import cohort, plan_days, yesterday
from rehabwatch.demo_exports import write_exports
from rehabwatch.service import Service
from rehabwatch.settings import Settings, load
from schemas.errors import RehabwatchError, UsageError
from storage import alerts, database, patients

WAIT_S = 180.0  # for the worker to judge everyone
QUIET_S = 3.0  # alerts unchanged this long: the worker is done


def enrol_and_ingest(settings: Settings, exports: Path, now: datetime | None = None) -> int:
    """Enrol the cohort (those not enrolled yet), write their exports and ingest each file as
    ``rehabwatch ingest`` does (format detected from the bytes): with a broker, the stored
    day grids are published for the worker; without, the days are summarized at once."""
    service = Service(settings)
    now = now or datetime.now(timezone.utc)
    for p in cohort(now):
        try:
            service.add_patient(p.id, p.procedure, p.start_date, p.tz, p.team, {})
        except UsageError:
            pass  # enrolled by an earlier run
        files = write_exports(p, plan_days(p, now), exports / p.id)
        grids, steps = 0, 0.0
        for path in files:
            with path.open("rb") as stream:
                out = service.ingest(stream, ParseContext(p.id, "", path.name))
            if out.status == "rejected" or out.publish_error:
                print(f"demo export {path.name} not taken: {out.reason or out.publish_error}",
                      file=sys.stderr)
                return 1
            grids, steps = grids + len(out.grids), steps + out.steps
        print(f"{p.id}  {p.procedure:<15} {p.team:<11} {p.tz:<19} start {p.start_date}  "
              f"{p.story:<11} {p.export or 'no data':<12} {len(files)} file(s), "
              f"{grids} day grids, {steps:,.0f} steps", flush=True)
    return 0


def enrol_demo(settings: Settings) -> int:
    """``rehabwatch up --demo``: the cohort's exports written to a temporary folder and
    ingested (their grids published to the running stack)."""
    with tempfile.TemporaryDirectory() as exports:
        return enrol_and_ingest(settings, Path(exports))


def wait_until_judged(database_url: str, worker: subprocess.Popen[bytes]) -> int:
    """Wait until the worker has judged every patient through their own yesterday and the
    alerts have stopped changing (the missing-data scan judges the silent ones)."""
    deadline, last_seen, quiet_since = monotonic() + WAIT_S, -1, monotonic()
    while monotonic() < deadline:
        if worker.poll() is not None:
            print(f"the worker exited with code {worker.returncode}", file=sys.stderr)
            return 1
        now = datetime.now(timezone.utc)
        with database.session_scope(database_url) as session:
            rows = patients.rows(session, patients.ids_and_zones(session))
            behind = sum(r.evaluated_through is None
                         or r.evaluated_through < yesterday(r.tz, now) for r in rows)
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
    evaluated as ``rehabwatch evaluate`` does, each patient as of their yesterday)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    settings = dataclasses.replace(settings or load(),
                                   database_url=f"sqlite:///{out / 'rehabwatch.db'}")
    if batch:
        database.upgrade(settings.database_url)
        code = enrol_and_ingest(settings, out / "exports")
        if not code:
            print("$ rehabwatch evaluate")
            Service(settings).evaluate_all()
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
        print("\n$ rehabwatch alerts")
        print(views.alerts_text([views.alert_doc(a) for a in Service(settings).alerts()]))
        print(f"\ndemo database: {out / 'rehabwatch.db'}  "
              f"(RW_DATABASE_URL={settings.database_url})")
    return code


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
