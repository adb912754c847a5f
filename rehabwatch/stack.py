"""``rehabwatch up``: the whole stack on one machine, stopped cleanly on Ctrl-C or SIGTERM.

With no ``RW_KAFKA_URL`` it starts the embedded broker (free port, memory storage) and hands
its URL to the children; it upgrades the database schema, starts the stream worker as a
subprocess, prints ``RW_KAFKA_URL=...`` so a second shell can reach the same stack, and (with
``--demo``) enrols the demo cohort and ingests their exports, which publishes their day grids.
Durable state is in the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from storage import database
from rehabwatch.broker import EmbeddedBroker, die_with_parent, terminate
from rehabwatch.settings import Settings

WORKER_STOP_TIMEOUT_S = 20.0


@contextmanager
def broker() -> Iterator[Settings]:
    """The settings of a stack whose broker is up (embedded, stopped on exit, unless
    ``RW_KAFKA_URL`` names one) and whose database schema is current."""
    with ExitStack() as stack:
        if not os.environ.get("RW_KAFKA_URL"):
            os.environ["RW_KAFKA_URL"] = stack.enter_context(EmbeddedBroker()).url
            stack.callback(os.environ.pop, "RW_KAFKA_URL", None)  # gone with the broker
        settings = Settings()
        database.upgrade(settings.database_url)
        yield settings


@contextmanager
def worker() -> Iterator[subprocess.Popen[bytes]]:
    """A stream worker subprocess (settings from the environment), stopped on exit."""
    # Its own session: Ctrl-C reaches us, and we stop the worker before the broker.
    proc = subprocess.Popen([sys.executable, "-m", "rehabwatch.worker", "worker"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=die_with_parent)
    try:
        yield proc
    finally:
        terminate(proc, WORKER_STOP_TIMEOUT_S)


def run_up(demo: bool = False) -> int:
    """Start the stack, block until SIGINT/SIGTERM, stop everything; the exit code."""
    stop = _stop_on_signals()
    with broker() as settings, worker() as proc:
        print(f"RW_KAFKA_URL={settings.kafka_url}", flush=True)
        if demo:
            from rehabwatch.demo import enrol_and_ingest

            with tempfile.TemporaryDirectory() as exports:
                if code := enrol_and_ingest(settings.database_url, Path(exports)):
                    return code
        while not stop.wait(0.5):
            if proc.poll() is not None:
                print(f"worker exited with code {proc.returncode}", file=sys.stderr)
                return 1
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
