"""The demo: a cohort of 48 synthetic patients, their real export files, ingested and judged.

``python -m rehabwatch.demo [--out DIR]`` (``make demo``) is ``rehabwatch up --demo`` on a
new ``DIR/rehabwatch.db``: the embedded broker, a stream worker and the HTTP API; it prints
``RW_KAFKA_URL=``, ``RW_API_URL=``, ``RW_DEMO_USER=`` and ``RW_DEMO_PASSWORD=`` lines and the
page to open, enrols the cohort of :mod:`rehabwatch.demo_cohort`, writes each patient's
tracker export in its format (:mod:`rehabwatch.demo_exports`: FIT, Fitbit, CSV, Apple Health,
activPAL) and ingests every file through the service as ``rehabwatch ingest`` does (format
detected, day grids published), says when the worker has judged everyone, and serves until
Ctrl-C or SIGTERM. ``--batch``: no broker and no API, ``rehabwatch evaluate`` instead of the
stream, the alerts printed. Everything is seeded.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from time import monotonic, sleep

from ingest.base import ParseContext
from rehabwatch import stack, views
from rehabwatch.access import Actor
from rehabwatch.accounts import Accounts
from rehabwatch.broker import free_port
from rehabwatch.demo_cohort import (EXPECTED, TEAMS, DemoPatient, cohort, plan_days,
                                    yesterday)
from rehabwatch.demo_exports import write_exports
from rehabwatch.publish import publish_checks
from rehabwatch.service import Service
from rehabwatch.settings import Settings, load
from schemas.errors import RehabwatchError, UsageError
from schemas.wire import AlertCheck
from storage import alerts, database, patients

DEMO_USER = "demo-clinician"
STARTED = monotonic()  # this module is imported as the demo starts
WAIT_S = 180.0  # for the worker to judge everyone
QUIET_S = 3.0  # alerts unchanged this long: the worker is done
SESSION_TIMEOUT_S = 10.0


def enrol_and_ingest(settings: Settings, exports: Path, patients: Sequence[DemoPatient],
                     now: datetime, stop: threading.Event | None = None) -> int:
    """Enrol ``patients`` (those not enrolled yet), write their exports and ingest each file
    as ``rehabwatch ingest`` does (format detected from the bytes): with a broker, the stored
    day grids are published for the worker; without, the days are summarized at once.
    Stops early (exit code 0) once ``stop`` is set."""
    service = Service(settings)
    for p in patients:
        if stop is not None and stop.is_set():
            return 0
        try:
            service.add_patient(p.id, p.procedure, p.start_date, p.tz, p.team, {})
        except UsageError:
            pass  # enrolled by an earlier run
        files = write_exports(p, plan_days(p, now), exports / p.id)
        grids, steps, again = 0, 0.0, 0
        for path in files:
            with path.open("rb") as stream:
                out = service.ingest(stream, ParseContext(p.id, "", path.name))
            if out.status == "rejected" or out.publish_error:
                print(f"demo export {path.name} not taken: {out.reason or out.publish_error}",
                      file=sys.stderr)
                return 1
            grids, steps = grids + len(out.grids), steps + out.steps
            again += out.status == "duplicate"
        stored = f"{grids} day grids, {steps:,.0f} steps" + (
            f" ({again} stored before)" if again else "")
        print(f"{p.id}  {p.procedure:<15} {p.team:<11} {p.tz:<19} start {p.start_date}  "
              f"{p.story:<11} {p.export or 'no data':<12} {len(files)} file(s), {stored}",
              flush=True)
    return 0


def add_demo_user(settings: Settings) -> tuple[str, str]:
    """A clinician of every demo team with a new random password: ``demo-clinician``, or
    ``demo-clinician-2``... when an earlier run on this database made the first."""
    accounts = Accounts(settings)
    password = secrets.token_urlsafe(12)
    for n in range(1, 100):
        name = DEMO_USER if n == 1 else f"{DEMO_USER}-{n}"
        try:
            accounts.add_user(name, "clinician", TEAMS, password, Actor("demo", "cli"))
            return name, password
        except UsageError:
            continue  # made by an earlier run
    raise UsageError("99 demo users exist already; start the demo on a new database")


def enrol_demo(settings: Settings, api_url: str, stop: threading.Event,
               exports: Path | None = None) -> int:
    """``make demo`` and ``rehabwatch up --demo``, on the running stack: the demo user (its
    name and password printed, with the page to open), then the cohort enrolled and its
    exports (in ``exports``, else a temporary folder) ingested, which publishes their day
    grids to the worker. The patients whose stories raise alerts go first, then a missing-data
    check is sent for everyone silent for 48 hours, as the worker's own scan sends them (its
    first is only due after ``RW_MISSING_DATA_SCAN_S``), then the patients on track: so the
    alerts are on the inbox before the last files are in. A thread says when every patient is
    judged."""
    name, password = add_demo_user(settings)
    print(f"RW_DEMO_USER={name}\nRW_DEMO_PASSWORD={password}\n\nOpen {api_url}/ and sign "
          f"in as {name} with the password above. Ctrl-C stops the demo.\n", flush=True)
    now = datetime.now(timezone.utc)
    raising = [p for p in cohort(now) if EXPECTED[p.story]]
    quiet = [p for p in cohort(now) if not EXPECTED[p.story]]
    with ExitStack() as cleanup:
        folder = exports or Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        if (code := enrol_and_ingest(settings, folder, raising, now, stop)) or stop.is_set():
            return code
        checks = [AlertCheck(pid, day, "missing-data")
                  for pid, day in Service(settings).silent(datetime.now(timezone.utc))]
        publish_checks(settings.kafka_url, checks, settings.stream.topics)
        if code := enrol_and_ingest(settings, folder, quiet, now, stop):
            return code
    threading.Thread(target=_announce, args=(settings.database_url, api_url),
                     daemon=True, name="demo-judged").start()
    return 0


def _announce(database_url: str, api_url: str) -> None:
    if wait_until_judged(database_url):
        return
    with database.session_scope(database_url) as session:
        count = sum(alerts.open_alert_counts(session).values())
    print(f"\nEvery patient judged: {count} open alerts, {monotonic() - STARTED:.0f} s after "
          f"the start. See {api_url}/ (Ctrl-C stops the demo)", flush=True)


def wait_until_judged(database_url: str) -> int:
    """Wait until every patient is judged through their own yesterday and the alerts have
    stopped changing; 1 if :data:`WAIT_S` passed first."""
    deadline, last_seen, quiet_since = monotonic() + WAIT_S, -1, monotonic()
    while monotonic() < deadline:
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
    print(f"not every patient was judged after {WAIT_S:g} s", file=sys.stderr)
    return 1


def run(out: Path, batch: bool = False, settings: Settings | None = None) -> int:
    """The demo on a new ``out/rehabwatch.db``: the stack served until SIGINT/SIGTERM, as
    ``rehabwatch up --demo``, its exports kept in ``out/exports``; or ``batch``: no broker,
    no API, the cohort evaluated as ``rehabwatch evaluate`` does and its alerts printed."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    settings = dataclasses.replace(settings or load(),
                                   database_url=f"sqlite:///{out / 'rehabwatch.db'}")
    print(f"demo database: {out / 'rehabwatch.db'}  (RW_DATABASE_URL={settings.database_url})",
          flush=True)
    if not batch:
        return stack.run_up(stack_settings(settings),
                            partial(enrol_demo, exports=out / "exports"))
    database.upgrade(settings.database_url)
    now = datetime.now(timezone.utc)
    if code := enrol_and_ingest(settings, out / "exports", cohort(now), now):
        return code
    print("$ rehabwatch evaluate")
    Service(settings).evaluate_all()
    print("\n$ rehabwatch alerts")
    print(views.alerts_text([views.alert_doc(a) for a in Service(settings).alerts()]))
    return 0


def stack_settings(settings: Settings) -> Settings:
    """``settings`` for the demo's stack: a free port for the API and for the worker's
    metrics where theirs is taken (a demo should not fail for want of port 8000), and a
    session timeout of :data:`SESSION_TIMEOUT_S` at most: the stack's one worker then joins
    its group in about 3 s instead of 15 s (the broker holds a first join for a time that
    grows with the timeout; measured with the embedded broker)."""
    api, stream = settings.api, settings.stream
    if not _can_listen(api.host, api.port):
        print(f"port {api.port} is taken: the API gets a free one", flush=True)
        api = dataclasses.replace(api, port=0)
    if not _can_listen(stream.web_host, stream.web_port):
        stream = dataclasses.replace(stream, web_port=free_port())
    stream = dataclasses.replace(
        stream, session_timeout_s=min(stream.session_timeout_s, SESSION_TIMEOUT_S))
    return dataclasses.replace(settings, api=api, stream=stream)


def _can_listen(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--batch", action="store_true",
                        help="no broker, no API: evaluate in batch, print the alerts, exit")
    args = parser.parse_args()
    try:
        return run(args.out.resolve(), args.batch)
    except RehabwatchError as exc:
        print(f"rehabwatch demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
