"""The demo: a small synthetic cohort, generated, ingested and evaluated end to end.

``python -m rehabwatch.demo [--out DIR]`` writes each patient's tracker export as the generic
CSV (docs/csv-format.md), creates ``DIR/rehabwatch.db``, adds the patients, ingests the
exports through the CLI, evaluates, and prints daily steps and alerts. Trajectories are
planted so that each kind of alert has something to find; everything is seeded.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from rehabwatch.cli import main as cli

DAYS = 49


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


def run(out: Path) -> int:
    if out.exists():
        shutil.rmtree(out)
    (out / "exports").mkdir(parents=True)
    os.environ["RW_DATABASE_URL"] = f"sqlite:///{out / 'rehabwatch.db'}"
    today = date.today()
    start, last = today - timedelta(days=DAYS), today - timedelta(days=1)
    rng = np.random.default_rng(20261123)
    steps = [["init"]]
    for p in COHORT:
        export = out / "exports" / f"{p.id}.csv"
        write_export(p, start, last, export, rng)
        steps.append(["patient", "add", p.id, "--procedure", p.procedure,
                      "--start-date", start.isoformat(), "--tz", p.tz])
        steps.append(["ingest", str(export), "--patient", p.id])
    steps.append(["evaluate", "--as-of", last.isoformat()])
    for p in COHORT:
        steps.append(["summary", p.id, "--from", (last - timedelta(days=6)).isoformat()])
    steps.append(["alerts"])
    for argv in steps:
        print(f"\n$ rehabwatch {' '.join(argv)}", flush=True)
        if code := cli(argv):
            return code
    print(f"\ndemo database: {out / 'rehabwatch.db'}  (RW_DATABASE_URL=sqlite:///{out / 'rehabwatch.db'})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    return run(parser.parse_args().out.resolve())


if __name__ == "__main__":
    raise SystemExit(main())
