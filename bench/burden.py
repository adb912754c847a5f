"""Alert burden and recall on a synthetic cohort, replayed day by day through rules + lifecycle.

    .venv/bin/python -m bench.burden [--patients 200] [--days 84] [--seed 7]

Reports clinician notifications per patient-week (RULES.md budget: <= 1 on a stable cohort;
published RPM programmes see 0.4-3.4) and whether every planted problem was caught by the
rule meant to catch it, within its planted days plus ``SLACK_DAYS``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import timedelta

from tests.cohort import Patient, Planted, Replay, make_cohort, replay

SLACK_DAYS = 7  # a problem may be confirmed a few valid days after it starts


def caught(planted: Planted, log: Replay) -> bool:
    """An alert of the planted rule carried evidence from the planted days (opened then, or an
    open episode refreshed by them); a boom-bust must have reached that stage."""
    until = planted.last + timedelta(days=SLACK_DAYS)
    stage = "boom_bust" if planted.problem == "boom_bust" else None
    return any(a.rule == planted.rule and a.last_seen_on and planted.first <= a.last_seen_on <= until
               and stage in (None, a.stage) for a in log.opened + log.refreshed)


def clinician_pages(log: Replay) -> list[str]:
    return [n.rule for n in log.notifications if n.route == "clinician"]


def summarize(cohort: list[Patient], logs: list[Replay], days: int) -> str:
    weeks = days / 7
    stable = [log for p, log in zip(cohort, logs) if not p.planted]
    planted = [(pl, log) for p, log in zip(cohort, logs) for pl in p.planted]
    pages = Counter(rule for log in logs for rule in clinician_pages(log))
    stable_pages = Counter(rule for log in stable for rule in clinician_pages(log))
    episodes = sum(1 for log in logs for a in log.opened if a.audience == "clinician" and a.severity != "info")
    routes = Counter(n.route for log in logs for n in log.notifications)
    missed = [f"{pl.problem} ({pl.first})" for pl, log in planted if not caught(pl, log)]
    lines = [
        f"| patients | {len(cohort)} ({len(stable)} on track, {len(planted)} with a planted problem) |",
        f"| days replayed | {days} per patient ({len(cohort) * weeks:.0f} patient-weeks) |",
        f"| clinician notifications / patient-week, whole cohort | {sum(pages.values()) / (len(cohort) * weeks):.3f} |",
        f"| clinician notifications / patient-week, on-track patients | {sum(stable_pages.values()) / (len(stable) * weeks):.3f} |",
        f"| new clinician episodes / patient-week, whole cohort | {episodes / (len(cohort) * weeks):.3f} |",
        f"| clinician notifications by rule | {dict(sorted(pages.items()))} |",
        f"| on-track clinician notifications by rule | {dict(sorted(stable_pages.items()))} |",
        f"| notifications by route | {dict(sorted(routes.items()))} |",
        f"| recall of planted problems | {len(planted) - len(missed)}/{len(planted)} |",
        f"| missed | {', '.join(missed) or 'none'} |",
    ]
    return "\n".join(["| measure | value |", "|---|---|", *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--days", type=int, default=84)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    t0 = time.perf_counter()
    cohort = make_cohort(args.patients, args.days, args.seed)
    logs = [replay(p) for p in cohort]
    print(summarize(cohort, logs, args.days))
    print(f"\n({time.perf_counter() - t0:.1f} s, seed {args.seed})")


if __name__ == "__main__":
    main()
