"""Benchmark: the activPAL, ActiGraph, Garmin Connect and Google Fit parsers, parse + binning.

Run from the repository root:  .venv/bin/python bench/bench_formats.py [--rounds N]
Each workload is a real file of shared/data made about a week or more long: activPAL events
and ActiGraph epochs repeated back to back (times shifted, counts carried on), the Garmin
Connect chart repeated over 365 days, the Google Fit REST step points cycled end to end (as
REST and as Takeout JSON). The clock covers ``PARSER.parse`` (bytes in memory) and
``bin_batch`` of every series into day grids: the CPU part of an upload, without storage.
Figures are the best of N rounds; records are the parser's own count (events, epochs,
buckets, points).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.base import ParseContext, Parser  # noqa: E402
from ingest.registry import parser  # noqa: E402
from schemas.binning import bin_batch  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402

RESEARCH = SHARED_DATA / "research_accelerometer"
Workload = tuple[str, str, str, bytes, str]  # label, format, file name, bytes, zone


def activpal(copies: int) -> bytes:
    """Test_Events.csv ``copies`` times back to back, each copy after the last one ends."""
    text = (RESEARCH / "activpal" / "Test_Events.csv").read_text()
    header, *rows = list(csv.reader(io.StringIO(text)))
    span = float(rows[-1][0]) + float(rows[-1][2]) / 86400 - float(rows[0][0])
    last = int(rows[-1][4])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for k in range(copies):
        for row in rows:
            writer.writerow([f"{float(row[0]) + k * span:.10f}", *row[1:4],
                             int(row[4]) + k * last, *row[5:]])
    return out.getvalue().encode()


def agd(copies: int) -> bytes:
    """The GT3X+ .agd with its data table repeated back to back (25 h each)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.agd"
        shutil.copy(RESEARCH / "actigraph" / "GT3XPlus-RawData-Day01.agd", path)
        with sqlite3.connect(path) as conn:
            lo, hi = conn.execute("SELECT MIN(dataTimestamp), MAX(dataTimestamp) "
                                  "FROM data").fetchone()
            span = hi - lo + 100_000_000  # one 10-s epoch in ticks
            for k in range(1, copies):
                conn.execute("INSERT INTO data SELECT dataTimestamp + ?, axis1, axis2, axis3, "
                             "steps, lux, inclineOff, inclineStanding, inclineSitting, "
                             "inclineLying FROM data WHERE dataTimestamp <= ?", (k * span, hi))
            conn.execute("UPDATE settings SET settingValue = (SELECT COUNT(*) FROM data) "
                         "WHERE settingName = 'epochcount'")
        conn.close()
        return path.read_bytes()


def actilife_csv(copies: int) -> bytes:
    """ActiGraph61.csv (mode 61, 5-s epochs) with its data rows repeated."""
    lines = (RESEARCH / "actigraph" / "ActiGraph61.csv").read_text().splitlines()
    return ("\n".join(lines[:10] + lines[10:] * copies) + "\n").encode()


def garmin_chart(days: int) -> bytes:
    """The dailySummaryChart's 96 buckets repeated over ``days`` consecutive days."""
    items = json.loads((SHARED_DATA / "garmin_connect_json" / (
        "python-garminconnect_test_steps_data__wellness-service-wellness-dailySummaryChart-"
        "mtamizi-date-2023-07-01.json")).read_text())
    out = []
    for d in range(days):
        for item in items:
            moved = dict(item)
            for key in ("startGMT", "endGMT"):
                at = datetime.fromisoformat(item[key]) + timedelta(days=d)
                moved[key] = at.isoformat(timespec="milliseconds")[:-2]
            out.append(moved)
    return json.dumps(out).encode()


def google_points(n: int) -> list[dict[str, object]]:
    """The REST step file's points cycled ``n`` times end to end, one minute apart."""
    template = json.loads((SHARED_DATA / "other_api_json" / "googlefit" /
                           "googlefit-merge-step-deltas.json").read_text())["point"]
    at, out = 1_700_000_000 * 10**9, []
    for i in range(n):
        point = dict(template[i % len(template)])
        length = int(point["endTimeNanos"]) - int(point["startTimeNanos"])
        point["startTimeNanos"], point["endTimeNanos"] = str(at), str(at + length)
        out.append(point)
        at += length + 60 * 10**9
    return out


def google_rest(n: int) -> bytes:
    return json.dumps({"dataSourceId": "derived:com.google.step_count.delta:"
                                       "com.google.android.gms:merge_step_deltas",
                       "point": google_points(n)}).encode()


def google_takeout(n: int) -> bytes:
    points = [{"fitValue": [{"value": p["value"][0]}], "originDataSourceId":
               p["originDataSourceId"], "endTimeNanos": int(p["endTimeNanos"]),
               "dataTypeName": p["dataTypeName"], "startTimeNanos": int(p["startTimeNanos"]),
               "modifiedTimeMillis": 0} for p in google_points(n)]
    return json.dumps({"Data Source": "derived:com.google.step_count.delta:"
                                      "com.google.android.gms:estimated_steps",
                       "Data Points": points}).encode()


def workloads() -> list[Workload]:
    return [
        ("activPAL events CSV, Test_Events.csv x 6 (~10 days)", "activpal", "e.csv",
         activpal(6), "Europe/London"),
        ("ActiGraph .agd, GT3X+ 10-s epochs x 7 (~7 days)", "actigraph", "g.agd", agd(7),
         "America/Chicago"),
        ("ActiLife CSV mode 61, 5-s epochs x 150 (~8.6 days)", "actigraph", "a.csv",
         actilife_csv(150), "America/Chicago"),
        ("Garmin Connect chart, 96 buckets x 365 days", "garmin-connect", "c.json",
         garmin_chart(365), "America/Denver"),
        ("Google Fit REST step deltas, 4 points cycled to 100,000", "google-fit", "r.json",
         google_rest(100_000), "UTC"),
        ("Google Fit Takeout All Data, the same 100,000 points", "google-fit", "t.json",
         google_takeout(100_000), "UTC"),
    ]


def parse_and_bin(fmt: Parser, name: str, data: bytes, tz: str) -> int:
    result = fmt.parse(io.BytesIO(data), ParseContext("bench", tz, name))
    for series in result.series:
        bin_batch(series.batch, "bench", tz)
    return result.records


def best(run: Callable[[], int], rounds: int) -> tuple[float, int]:
    times, records = [], 0
    for _ in range(rounds):
        t = time.perf_counter()
        records = run()
        times.append(time.perf_counter() - t)
    return min(times), records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    rounds = ap.parse_args().rounds
    print("| workload | `--format` | MB | records | parse + bin s | records/s | MB/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, name, filename, data, tz in workloads():
        secs, records = best(partial(parse_and_bin, parser(name), filename, data, tz), rounds)
        print(f"| {label} | `{name}` | {len(data) / 1e6:.2f} | {records:,} | {secs:.3f} | "
              f"{records / secs:,.0f} | {len(data) / 1e6 / secs:.2f} |")


if __name__ == "__main__":
    main()
