"""Benchmark: how long an ``ingest`` (and a second ``evaluate``) waits while a long
``evaluate`` runs, on one SQLite file, each command a process of its own.

Run from the repository root:

    .venv/bin/python -m bench.bench_concurrency [--patients 10] [--years 4] [--files 20]
                                                [--code DIR]

``--patients`` patients get ``--years`` of minute data each (generic CSV, 10 walking hours a
day); every ``evaluate`` then rebuilds every one of those days. While it runs, an ``ingest``
of a folder of ``--files`` one-day files for a second patient, then a second ``evaluate``, are
started and timed; then a probe process commits a one-row UPDATE every 50 ms during a long
evaluate and reports how long each waited for the write lock. Last, two processes ingest the same folder
at once. Each is also timed alone first (the baseline: process start-up included). ``--code``
runs another checkout's code (e.g. a ``git archive`` of an older commit) for a before/after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_csv(path: Path, first: date, days: int, rng: np.random.Generator) -> None:
    """``days`` days of minute steps from ``first``: 08:00-18:00 local, 0-120 a minute."""
    with path.open("w") as out:
        out.write("timestamp,steps\n")
        for k in range(days):
            day = first + timedelta(days=k)
            steps = rng.integers(0, 120, 600)
            base = datetime(day.year, day.month, day.day, 8)
            out.writelines(f"{(base + timedelta(minutes=m)).isoformat()},{s}\n"
                           for m, s in enumerate(steps))


def run(code: Path, env: dict[str, str], *argv: str) -> tuple[float, int, str]:
    """(wall seconds, exit code, stderr's last line) of one CLI process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rehabwatch.cli", *argv], cwd=code, env=env,
                          capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    return time.perf_counter() - start, done.returncode, lines[-1] if lines else ""


#: The probe: one-row write transactions every 50 ms for argv[2] seconds; prints the waits.
PROBE = """
import statistics, sys, time
from sqlalchemy import text
from storage import database
url, waits = sys.argv[1], []
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    start = time.perf_counter()
    with database.session_scope(url) as session:
        session.execute(text("UPDATE patients SET tz = tz WHERE id = 'other'"))
    waits.append(time.perf_counter() - start)
    time.sleep(0.05)
print(f"{len(waits)} writes, wait median {statistics.median(waits) * 1000:.1f} ms, "
      f"p95 {sorted(waits)[int(len(waits) * 0.95)] * 1000:.1f} ms, max {max(waits) * 1000:.0f} ms")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--code", type=Path, default=REPO)
    parser.add_argument("--keep", type=Path, help="copy the database here at the end")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="rw-bench-conc-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "RW_DATABASE_URL": f"sqlite:///{root / 'rw.db'}",
               "PYTHONPATH": str(args.code)}
        env.pop("RW_KAFKA_URL", None)
        yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
        first = yesterday - timedelta(days=365 * args.years - 1)
        run(args.code, env, "init")
        long_ids = [f"long{n}" for n in range(args.patients)]
        for pid in (*long_ids, "other"):
            run(args.code, env, "patient", "add", pid, "--procedure", "microdiscectomy",
                "--start-date", first.isoformat(), "--tz", "Europe/London")
        history = root / "history"
        history.mkdir()
        for year in range(args.years):
            write_csv(history / f"year{year}.csv", first + timedelta(days=365 * year), 365, rng)
        for pid in long_ids:
            took, code, err = run(args.code, env, "ingest", str(history), "--patient", pid)
        print(f"history: {args.years} years ingested per patient in {took:.1f} s (exit {code})"
              f" {err}")
        folders = []
        for n in range(3):
            folder = root / f"files{n}"
            folder.mkdir()
            for k in range(args.files):
                write_csv(folder / f"day{k}.csv", first + timedelta(days=k + 40 * n), 1, rng)
            folders.append(folder)
        alone, code, err = run(args.code, env, "ingest", str(folders[0]), "--patient", "other")
        print(f"ingest of {args.files} files alone: {alone:.2f} s (exit {code}) {err}")
        took, code, _ = run(args.code, env, "evaluate")
        print(f"first evaluate (rebuilds {365 * args.years * args.patients} days) alone: "
              f"{took:.1f} s "
              f"(exit {code})")
        results = {}
        for name, argv in (("ingest", ["ingest", str(folders[1]), "--patient", "other",
                                       "--json"]),
                           ("evaluate", ["evaluate"])):
            long = subprocess.Popen([sys.executable, "-m", "rehabwatch.cli", "evaluate"],
                                    cwd=args.code, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(1.0)  # past its start-up, into its work
            took, code, err = run(args.code, env, *argv)
            _, long_err = long.communicate()
            results[name] = took
            print(f"{name} during a long evaluate: {took:.2f} s, exit {code} "
                  f"{err[:160]!r}; the long evaluate exited {long.returncode}"
                  f"{' ' + long_err.strip().splitlines()[-1][:160] if long_err.strip() else ''}")
            if name == "ingest" and code in (0, 1):
                out = subprocess.run([sys.executable, "-m", "rehabwatch.cli", "ingest",
                                      str(folders[2]), "--patient", "other", "--json"],
                                     cwd=args.code, env=env, capture_output=True, text=True)
                try:
                    statuses = [u["status"] for u in json.loads(out.stdout)["uploads"]]
                    print(f"  (a later ingest: {statuses.count('stored')} of "
                          f"{len(statuses)} stored)")
                except (ValueError, KeyError):
                    print(f"  (a later ingest printed no JSON: {out.stderr[-200:]!r})")
        long = subprocess.Popen([sys.executable, "-m", "rehabwatch.cli", "evaluate"],
                                cwd=args.code, env=env, stdout=subprocess.DEVNULL)
        time.sleep(1.0)
        probe = subprocess.run([sys.executable, "-c", PROBE, env["RW_DATABASE_URL"], "4"],
                               cwd=args.code, env=env, capture_output=True, text=True)
        long.wait()
        print(f"write probe during a long evaluate: {probe.stdout.strip()}"
              f"{probe.stderr.strip()[-200:]}")
        twice = root / "twice"
        twice.mkdir()
        for k in range(args.files):
            write_csv(twice / f"day{k}.csv", first + timedelta(days=k + 200), 1, rng)
        both = [subprocess.Popen([sys.executable, "-m", "rehabwatch.cli", "ingest", str(twice),
                                  "--patient", "other", "--json"], cwd=args.code, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        statuses = []
        for proc in both:
            out, err = proc.communicate()
            try:
                statuses += [u["status"] for u in json.loads(out)["uploads"]]
            except (ValueError, KeyError):
                statuses.append(f"no JSON, exit {proc.returncode}: {err.strip()[-120:]!r}")
        print(f"the same {args.files} files ingested by two processes at once: "
              f"{statuses.count('stored')} stored, {statuses.count('duplicate')} duplicate, "
              f"other: {[s for s in statuses if s not in ('stored', 'duplicate')]}")
        if args.keep:
            import shutil

            shutil.copy(root / "rw.db", args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
