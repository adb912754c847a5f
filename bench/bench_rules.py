"""Throughput of the alert rules over 1,000 patients × 90 days.

    .venv/bin/python -m bench.bench_rules [--patients 1000] [--days 90]

Two views of the same work: *batch* evaluates each patient once as of the last day over their
90-day history (a backfill or report); *daily* evaluates every patient at the end of every day
(the stream: one evaluation per new patient-day). Summaries are given, not computed here.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, time as clock, timedelta

from alerts.rules import assess
from tests.cohort import Patient, make_cohort


def batch(cohort: list[Patient], days: int) -> float:
    """Seconds to assess each patient once, as of their last day."""
    inputs = [(sorted(p.days.values(), key=lambda s: s.local_date), p.targets) for p in cohort]
    t0 = time.perf_counter()
    for (history, targets), p in zip(inputs, cohort):
        as_of = p.plan.start_date + timedelta(days=days - 1)
        assess(history, targets, as_of, datetime.combine(as_of, clock(20), UTC))
    return time.perf_counter() - t0


def daily(cohort: list[Patient], days: int) -> float:
    """Seconds to assess every patient at the end of every day, on the history known then."""
    total = 0.0
    for p in cohort:
        history = sorted(p.days.values(), key=lambda s: s.local_date)
        t0 = time.perf_counter()
        k = 0
        for i in range(days):
            as_of = p.plan.start_date + timedelta(days=i)
            while k < len(history) and history[k].local_date <= as_of:
                k += 1
            assess(history[:k], p.targets[:i + 1], as_of, datetime.combine(as_of, clock(20), UTC))
        total += time.perf_counter() - t0
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    t0 = time.perf_counter()
    cohort = make_cohort(args.patients, args.days, seed=11)
    print(f"cohort built in {time.perf_counter() - t0:.1f} s")
    patient_days = args.patients * args.days
    b = batch(cohort, args.days)
    print(f"batch: {patient_days} patient-days in {b:.2f} s = {patient_days / b:,.0f} patient-days/s "
          f"({b / args.patients * 1e6:.0f} µs per patient)")
    d = daily(cohort, args.days)
    print(f"daily: {patient_days} evaluations in {d:.2f} s = {patient_days / d:,.0f} patient-days/s "
          f"({d / patient_days * 1e6:.0f} µs per evaluation)")


if __name__ == "__main__":
    main()
