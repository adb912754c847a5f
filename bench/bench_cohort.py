"""Benchmark: the cohort overview (the dashboard's landing page) for a large cohort.

Run from the repository root:

    .venv/bin/python -m bench.bench_cohort [--patients 2000] [--days 90] [--rounds 30] [--postgres]

A cohort of ``--patients`` patients with ``--days`` days of daily summaries each, uploads and
alerts (tests.cohort_db) is stored in SQLite (or, with ``--postgres``, a throwaway PostgreSQL
server), then measured:

1. read model: :meth:`rehabwatch.dashboard.Dashboard.cohort` (every patient's row, sorted
   "needs attention" first, one page of 100 sliced and audited), cold (an empty memo: every
   patient's days read and judged) and warm (the memo of an API process that served the page
   before; nothing changed in between);
2. server: ``GET /`` over HTTP from the real app on uvicorn (127.0.0.1) with a staff session,
   the rendered HTML included, with and, ``--touch N``, after N patients' summaries changed;
3. browser: the same page in the system Chromium (Playwright), from navigation start to the
   load event (the page is server-rendered: rendered = loaded).

Prints p50/p95 (ms) of each. Bounded in count and time; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx

from rehabwatch.access import Caller
from rehabwatch.accounts import Accounts
from rehabwatch.api.server import background
from rehabwatch.cohort import Filters
from rehabwatch.dashboard import Dashboard
from rehabwatch.settings import ApiSettings, Settings
from schemas.records import DailySummary
from storage import database, summaries
from tests.cohort_db import fill_cohort
from tests.web_stack import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SETUP

TEAMS = 4


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def report(label: str, samples: list[tuple[float, float]]) -> None:
    """Wall-clock and CPU percentiles (CPU of this process, which serves the app on a
    thread: on a loaded machine wall time waits for a core, CPU time does not)."""
    print(f"{label}: wall {percentiles([w for w, _ in samples])}; "
          f"CPU {percentiles([c for _, c in samples])}")


def timed(rounds: int, run: Callable[[], object]) -> list[tuple[float, float]]:
    out = []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        out.append((time.perf_counter() - t0, time.process_time() - c0))
    return out


@contextmanager
def database_url(postgres: bool) -> Iterator[str]:
    if postgres:
        from tests.pg_server import postgres_server

        with postgres_server() as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/cohort.db"


def touch(url: str, patient_ids: list[str], day: datetime) -> None:
    """Write yesterday's summary of ``patient_ids`` again (as an upload would)."""
    yesterday = day.date() - timedelta(days=1)
    with database.session_scope(url) as session:
        summaries.upsert_summaries(session, [DailySummary(p, yesterday, 5000.0, True, True, 800,
                                                          800, "device", 60)
                                             for p in patient_ids])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--touch", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    now = datetime.now(UTC)
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    with database_url(args.postgres) as url:
        database.upgrade(url)
        t0 = time.perf_counter()
        enrolled = fill_cohort(url, args.patients, args.days, now, teams=TEAMS)
        print(f"stored {args.patients} patients x {args.days} days in "
              f"{time.perf_counter() - t0:.0f} s ({'PostgreSQL' if args.postgres else 'SQLite'})")
        settings = Settings(database_url=url, api=ApiSettings(port=0))
        teams = frozenset(["north", *(f"north-{k}" for k in range(2, TEAMS + 1))])
        caller = Caller("bench", "clinician", teams)

        def cold() -> object:
            return Dashboard(settings).cohort(caller, "127.0.0.1", Filters())

        warm_dashboard = Dashboard(settings)
        warm_dashboard.cohort(caller, "127.0.0.1", Filters())
        report("read model, cold", timed(max(3, args.rounds // 5), cold))
        report("read model, warm", timed(args.rounds, lambda: warm_dashboard.cohort(
            caller, "127.0.0.1", Filters())))
        Accounts(settings).add_user("bench", "clinician", sorted(teams), PASSWORD, SETUP)
        with background(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
            client.post("/api/v1/session", json={"name": "bench", "password": PASSWORD}
                        ).raise_for_status()

            def page() -> None:
                client.get("/", headers={"accept": "text/html"}).raise_for_status()

            page()  # the process's first view: its memo fills
            report("GET / over HTTP, warm", timed(args.rounds, page))
            ids = [e.patient_id for e in enrolled]

            samples: list[tuple[float, float]] = []
            for k in range(max(3, args.rounds // 3)):
                touch(url, ids[k * args.touch:(k + 1) * args.touch], now)
                samples += timed(1, page)
            report(f"GET / over HTTP, {args.touch} patients' summaries written before each",
                   samples)
            print("browser, navigation to load event:", percentiles(browser_times(
                base, client.cookies, args.rounds)))


def browser_times(base: str, cookies: httpx.Cookies, rounds: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_cookies([{"name": c.name, "value": c.value or "", "url": base}
                             for c in cookies.jar])
        tab = context.new_page()
        out = []
        for _ in range(rounds):
            tab.goto(base + "/", wait_until="load")
            out.append(tab.evaluate(
                "performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000)
        browser.close()
        return out


if __name__ == "__main__":
    main()
