"""``rehabwatch up``: the whole stack on one machine, stopped cleanly on Ctrl-C or SIGTERM.

With no ``RW_KAFKA_URL`` it starts the embedded broker (free port, memory storage) and hands
its URL to the children; it upgrades the database schema, starts the stream worker as a
subprocess, prints ``RW_KAFKA_URL=...`` so a second shell can reach the same stack, and (with
``--demo``) publishes the demo cohort's day grids. Durable state is in the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ingest.base import ParseContext
from ingest.generic_csv import GenericCsvParser
from rehabwatch import db
from rehabwatch.broker import EmbeddedBroker, die_with_parent, terminate
from rehabwatch.demo import COHORT, DAYS, write_export
from rehabwatch.publish import publish_grids
from rehabwatch.settings import Settings
from schemas.binning import bin_batch
from schemas.daygrid import DayGrid
from schemas.models import Patient

WORKER_STOP_TIMEOUT_S = 20.0


def run_up(demo: bool = False) -> int:
    """Start the stack, block until SIGINT/SIGTERM, stop everything; the exit code."""
    stop = _stop_on_signals()
    with ExitStack() as stack:
        if not os.environ.get("RW_KAFKA_URL"):
            os.environ["RW_KAFKA_URL"] = stack.enter_context(EmbeddedBroker()).url
        settings = Settings()
        db.upgrade(settings.database_url)
        worker = _start_worker()
        stack.callback(terminate, worker, WORKER_STOP_TIMEOUT_S)
        print(f"RW_KAFKA_URL={settings.kafka_url}", flush=True)
        if demo:
            print(f"demo: published {load_demo(settings)} day grids", flush=True)
        while not stop.wait(0.5):
            if worker.poll() is not None:
                print(f"worker exited with code {worker.returncode}", file=sys.stderr)
                return 1
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _start_worker() -> subprocess.Popen[bytes]:
    # Its own session: Ctrl-C reaches us, and we stop the worker before the broker.
    return subprocess.Popen([sys.executable, "-m", "rehabwatch.worker", "worker"],
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=die_with_parent)


def load_demo(settings: Settings) -> int:
    """Enrol the demo cohort (if missing) and publish their exports' day grids."""
    start, last = date.today() - timedelta(days=DAYS), date.today() - timedelta(days=1)
    rng = np.random.default_rng(20261123)
    grids: list[DayGrid] = []
    with tempfile.TemporaryDirectory() as tmp, db.session_scope(settings.database_url) as s:
        for p in COHORT:
            if s.get(Patient, p.id) is None:
                s.add(Patient(id=p.id, procedure=p.procedure, start_date=start, tz=p.tz))
            export = Path(tmp) / f"{p.id}.csv"
            write_export(p, start, last, export, rng)
            grids += _grids(export, p.id, p.tz)
    return publish_grids(settings.kafka_url, grids)


def _grids(export: Path, patient_id: str, tz: str) -> list[DayGrid]:
    result = GenericCsvParser().parse(export.read_bytes(),
                                      ParseContext(patient_id, tz, export.name))
    return [g for series in result.series for g in bin_batch(series.batch, patient_id, tz)]
