"""``rehabwatch up``: the whole stack on one machine, stopped cleanly on Ctrl-C or SIGTERM.

With no ``RW_KAFKA_URL`` it starts the embedded broker (free port, memory storage); it
upgrades the database schema, starts the stream worker as a subprocess (its settings in its
environment) and the HTTP API on a thread (``RW_API_HOST``/``RW_API_PORT``), prints
``RW_KAFKA_URL=...`` and ``RW_API_URL=...`` so a second shell can reach the same stack, and
(with ``--demo``) enrols the demo cohort and ingests their exports, which publishes their day
grids (:func:`rehabwatch.demo.enrol_demo`). Durable state is in the database.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager

from rehabwatch.broker import EmbeddedBroker, die_with_parent, terminate
from rehabwatch.settings import Settings
from storage import database

WORKER_STOP_TIMEOUT_S = 20.0


@contextmanager
def broker(settings: Settings) -> Iterator[Settings]:
    """``settings`` for a stack whose broker is up (embedded, stopped on exit, unless
    ``settings`` name one) and whose database schema is current."""
    with ExitStack() as stack:
        if not settings.kafka_url:
            url = stack.enter_context(EmbeddedBroker()).url
            settings = dataclasses.replace(
                settings, stream=dataclasses.replace(settings.stream, kafka_url=url))
        database.upgrade(settings.database_url)
        yield settings


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker subprocess of this stack: ours, with the stack's
    database, broker, metrics port and session timeout (and ``extra`` RW_* variables)."""
    return {**os.environ, "RW_DATABASE_URL": settings.database_url,
            "RW_KAFKA_URL": settings.kafka_url,
            "RW_WORKER_WEB_PORT": str(settings.stream.web_port),
            "RW_KAFKA_SESSION_TIMEOUT_S": str(settings.stream.session_timeout_s), **extra}


@contextmanager
def worker(env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A stream worker subprocess with the environment ``env``, stopped on exit."""
    # Its own session: Ctrl-C reaches us, and we stop the worker before the broker.
    proc = subprocess.Popen([sys.executable, "-m", "rehabwatch.worker", "worker"],
                            env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=die_with_parent)
    try:
        yield proc
    finally:
        terminate(proc, WORKER_STOP_TIMEOUT_S)


def run_up(settings: Settings,
           then: Callable[[Settings, str, threading.Event], int] | None = None) -> int:
    """Start the stack, run ``then`` with its settings, the API's URL and the event set by
    SIGINT/SIGTERM (``--demo``: enrol the demo cohort), block until that signal, stop
    everything; the exit code."""
    from rehabwatch.api.server import background

    stop = _stop_on_signals()
    with broker(settings) as settings, worker(worker_env(settings)) as proc, \
            background(settings) as api_url:
        print(f"RW_KAFKA_URL={settings.kafka_url}", flush=True)
        print(f"RW_API_URL={api_url}", flush=True)
        if then is not None and (code := then(settings, api_url, stop)):
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
