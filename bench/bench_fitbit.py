"""Benchmark: Fitabase CSV -> interval batches, against pandas reading the same file.

Run from the repository root:  .venv/bin/python bench/bench_fitbit.py [--rounds N]
The peer is ``pandas.read_csv`` of the same bytes (a plain read, no checks, no time zones):
our parser reads with pandas too, then checks every value, detects the date order and turns
local times into UTC, so the ratio says what that care costs.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import pandas as pd

from ingest.base import ParseContext
from ingest.fitbit_csv import PARSER

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fitbit"
FILES = ("fitabase_kaggle_4.12.16-5.12.16/minuteStepsWide_merged.csv",
         "fitabase_export_actiwearcheck/name5_minuteStepsNarrow_20190730_20230830.csv",
         "fitabase_kaggle_4.12.16-5.12.16/hourlySteps_merged.csv")


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    rounds = ap.parse_args().rounds
    print("| file | MB | rows | pandas.read_csv s | ours s | ours rows/s | ours / pandas |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in FILES:
        data = (DATA / name).read_bytes()
        rows = data.count(b"\n") - 1
        frame = pd.read_csv(io.BytesIO(data))
        ids = {str(i): f"p{i}" for i in frame["Id"].unique()} if "Id" in frame else {}
        ctx = ParseContext("p1", "America/Chicago", Path(name).name, id_map=ids)
        peer = best(lambda: pd.read_csv(io.BytesIO(data)), rounds)
        ours = best(lambda: PARSER.parse(io.BytesIO(data), ctx), rounds)
        print(f"| {Path(name).name} | {len(data) / 1e6:.2f} | {rows:,} | {peer:.3f} | "
              f"{ours:.3f} | {rows / ours:,.0f} | {ours / peer:.1f}× |")


if __name__ == "__main__":
    main()
