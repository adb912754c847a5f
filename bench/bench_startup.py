"""Benchmark: start-up of the command line, beside a CLI of the same ecosystem users know.

Run from the repository root:  .venv/bin/python bench/bench_startup.py [--runs 15]

Times, in one run and interleaved (so drift of the machine hits all alike), the wall time of
``rehabwatch --help``, ``rehabwatch alerts`` on an empty (initialized) SQLite database, and
``sqlite-utils --help`` (the peer: a Python CLI over SQLite, from the bench extra), each a fresh
process started the way a user starts it (the console script). Prints the median and the best
of each and the ratios to the peer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RW_DATABASE_URL": f"sqlite:///{tmp}/empty.db"}
        subprocess.run([str(BIN / "rehabwatch"), "init"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        commands = {"rehabwatch --help": [str(BIN / "rehabwatch"), "--help"],
                    "rehabwatch alerts (empty db)": [str(BIN / "rehabwatch"), "alerts"],
                    "sqlite-utils --help": [str(BIN / "sqlite-utils"), "--help"]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    peer = statistics.median(times["sqlite-utils --help"])
    print(f"{'command':<30} {'median s':>9} {'best s':>8} {'/ peer':>7}   ({args.runs} runs)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<30} {median:>9.3f} {min(values):>8.3f} {median / peer:>7.2f}")


if __name__ == "__main__":
    main()
