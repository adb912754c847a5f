"""Benchmark: daily summaries of synthetic minute grids (default 1,000 patients x 90 days).

Run from the repository root:  .venv/bin/python -m bench.bench_summary [--patients N] [--days D]

Grids are generated and merged per chunk of patients (outside the timed section except for
the merge timing); one third of patients wear an activPAL (worn flags and posture), the rest
a watch (Choi wear). Days run from 2024-02-01 in Europe/Berlin, so the 1,380-slot DST day is
included. Prints patient-days per second for ``summarize_days`` and, apart, for ``merge_day``.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import numpy as np

from processors.merge import MergedDay, merge_day
from processors.summary import summarize_days
from schemas.daygrid import MINUTE, WEAR_UNKNOWN, WORN, DayGrid, Source, slot_count

TZ, FIRST_DAY = "Europe/Berlin", date(2024, 2, 1)
WATCH, ACTIVPAL = Source("garmin-fit", "fenix"), Source("activpal", "ap4")
BLOCK_MIN = 5  # activity is drawn in 5-minute blocks: bouts, sitting spells, still nights


def synthetic_steps(rng: np.random.Generator, n: int) -> np.ndarray:
    """One day of plausible minute steps: still nights, mixed sitting and walking by day."""
    blocks = -(-n // BLOCK_MIN)
    walking = rng.random(blocks) < 0.15
    cadence = np.repeat(np.where(walking, rng.integers(60, 130, blocks), 0), BLOCK_MIN)[:n]
    shuffle = rng.random(n) < 0.05
    steps = np.where(shuffle, rng.integers(1, 40, n), cadence).astype(float)
    steps[: 7 * 60] = 0.0
    steps[22 * 60:] = 0.0
    return steps


def patient_days(rng: np.random.Generator, patient: int, days: int) -> list[DayGrid]:
    source = ACTIVPAL if patient % 3 == 0 else WATCH
    grids = []
    for k in range(days):
        day = FIRST_DAY + timedelta(days=k)
        n = slot_count(day, TZ, MINUTE)
        steps = synthetic_steps(rng, n)
        posture = {"sedentary_s": np.where(steps == 0, 60.0, 0.0)} if source is ACTIVPAL else {}
        worn = np.full(n, WORN if source is ACTIVPAL else WEAR_UNKNOWN, np.int8)
        grids.append(DayGrid(f"p{patient}", source, day, TZ, MINUTE, steps, worn, **posture))
    return grids


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def run(patients: int, days: int, chunk: int) -> tuple[dict[str, float], dict[str, float], int]:
    """(summary seconds by clock, merge seconds by clock, patient-days). CPU time is reported
    beside wall time because the bench box is shared: wall time counts waiting for a core."""
    rng = np.random.default_rng(0)
    summary_s = dict.fromkeys(CLOCKS, 0.0)
    merge_s = dict.fromkeys(CLOCKS, 0.0)
    total = 0
    for first in range(0, patients, chunk):
        grids = [g for p in range(first, min(first + chunk, patients))
                 for g in patient_days(rng, p, days)]
        t0 = {k: clock() for k, clock in CLOCKS.items()}
        merged: list[MergedDay] = [merge_day([g]) for g in grids]
        t1 = {k: clock() for k, clock in CLOCKS.items()}
        total += len(summarize_days(merged))
        for k, clock in CLOCKS.items():
            summary_s[k] += clock() - t1[k]
            merge_s[k] += t1[k] - t0[k]
    return summary_s, merge_s, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--chunk", type=int, default=100, help="patients generated at a time")
    args = parser.parse_args()
    summary_s, merge_s, total = run(args.patients, args.days, args.chunk)
    print(f"patient-days: {total}")
    for name, seconds in (("summarize_days", summary_s), ("merge_day (1 grid/day)", merge_s)):
        rates = "  ".join(f"{k} {s:.2f} s = {total / s:,.0f}/s" for k, s in seconds.items())
        print(f"{name}: {rates}")


if __name__ == "__main__":
    main()
