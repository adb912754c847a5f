"""Benchmark: how long ``make demo`` takes until a clinician sees the alerts.

Run from the repository root:  .venv/bin/python -m bench.bench_demo [--rounds N]
Each round starts ``python -m rehabwatch.demo`` (what ``make demo`` runs after its venv check)
in a new folder, as tests/demo_process.py drives it, and times from the start: the sign-in
lines printed, the first open alert visible through ``GET /api/v1/alerts`` (signed in as the
printed demo user, polled every 0.5 s), every story's alert visible (exactly the expected set),
the demo's own "Every patient judged" line (after its 3 s of quiet), and the exit after
Ctrl-C. The goal (issue 18): alerts on the inbox within a minute of the command.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from time import monotonic, sleep

from tests.demo_process import demo, expected_alerts, open_alerts

STEPS = ("sign-in lines printed", "first alert visible", "every story's alert visible",
         "'Every patient judged' printed", "exited after Ctrl-C")


def one_round(folder: Path) -> list[float]:
    expected = expected_alerts()
    with demo(folder / "demo-out") as run:
        run.wait_for(r"^Open http", 120)
        times = [monotonic() - run.started]
        first = None
        with run.signed_in() as client:
            while True:
                visible = open_alerts(client)
                if visible and first is None:
                    first = monotonic() - run.started
                if visible == expected:
                    break
                if monotonic() - run.started > 300:
                    raise SystemExit(f"not every alert after 300 s: {expected ^ visible}")
                sleep(0.5)
        times += [first or 0.0, monotonic() - run.started]
        run.wait_for(r"^Every patient judged", 120)
        times.append(monotonic() - run.started)
        stop = monotonic()
        if run.stop() != 0:
            raise SystemExit(f"the demo exited with an error: {run.seen[-5:]}")
        times.append(times[-1] + monotonic() - stop)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    results = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            results.append(one_round(Path(folder)))
    print(f"load average before the last round: {os.getloadavg()[0]:.1f} "
          f"({os.cpu_count()} cores)\n")
    print("| step | " + " | ".join(f"round {i + 1} s" for i in range(rounds)) + " | best s |")
    print("|---|" + "---:|" * (rounds + 1))
    for i, step in enumerate(STEPS):
        values = [r[i] for r in results]
        print(f"| {step} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {min(values):.1f} |")


if __name__ == "__main__":
    main()
