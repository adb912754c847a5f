"""Benchmark: peak memory of one ingest at the default upload limit, per format, and of files
whose dates span centuries (issue 20: memory must stay under 500 MB whatever a file holds).

Run from the repository root:  .venv/bin/python bench/bench_hostile_memory.py [--mb 195]
    [--only csv,fitbit,...] [--code DIR]
Each workload is written to a temp folder (real files of shared/data grown to about ``--mb``
MB, or generated rows), then ``rehabwatch ingest`` runs on it in a child process against a
fresh SQLite database; the figure is that child's maximum resident set size (``wait4``),
which includes the interpreter and libraries (about 110 MB for a two-row CSV). ``--code DIR``
runs the CLI from another checkout (e.g. ``git archive <commit> | tar -x -C DIR``), to
measure before a change.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import SHARED_DATA  # noqa: E402

CLI = "from rehabwatch.cli import main; sys.exit(main())"
Writer = Callable[[Path, int], None]  # (path, bytes wanted)


def _rows(path: Path, header: str, row: Callable[[int], str], size: int) -> None:
    """``header`` then ``row(i)`` for i = 0, 1, ... until the file is about ``size`` bytes."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(header)
        written, i = len(header), 0
        while written < size:
            block = "".join(row(j) for j in range(i, i + 10_000))
            out.write(block)
            written, i = written + len(block), i + 10_000


def minute_csv(path: Path, size: int) -> None:
    start = datetime(2009, 1, 1)
    _rows(path, "timestamp,steps\n",
          lambda i: f"{(start + timedelta(minutes=i)).isoformat()},{(i * 7) % 130}\n", size)


def centuries_csv(path: Path, size: int) -> None:
    """One row an hour from 1700 on (into the future once the file is large enough)."""
    start = datetime(1700, 1, 1)
    _rows(path, "timestamp,steps\n",
          lambda i: f"{(start + timedelta(hours=i)).isoformat()},{i % 90}\n", size)


def far_off_csv(path: Path, size: int) -> None:
    path.write_text("timestamp,steps\n0001-01-01T10:00:00,10\n2026-11-20T10:00:00,100\n"
                    "9999-12-31T10:00:00,10\n")


def fitabase_minutes(path: Path, size: int) -> None:
    start = datetime(2010, 1, 1)

    def row(i: int) -> str:
        t = start + timedelta(minutes=i)
        return f"1503960366,{t.month}/{t.day}/{t.year} {t:%I:%M:%S %p},{(i * 7) % 130}\n"
    _rows(path, "Id,ActivityMinute,Steps\n", row, size)


def fitbit_daily_json(path: Path, size: int) -> None:
    """The daily series 2000-2026, repeated (exact repeats are skipped) up to the size."""
    days = [{"dateTime": (date(2000, 1, 1) + timedelta(days=d)).isoformat(),
             "value": str(d % 9000)} for d in range(9800)]
    one = json.dumps(days)[1:-1]
    copies = max(1, size // len(one))
    path.write_text('{"activities-steps": [' + ", ".join([one] * copies) + "]}")


def grown(make: str, per_unit: int) -> Writer:
    """The bench_formats generator ``make`` called with as many units as make the size."""
    def write(path: Path, size: int) -> None:
        from bench import bench_formats

        path.write_bytes(getattr(bench_formats, make)(max(1, size // per_unit)))
    return write


def actilife(path: Path, size: int) -> None:
    """ActiGraph61.csv's epochs repeated, its download date moved past the last of them."""
    from bench import bench_formats

    data = bench_formats.actilife_csv(max(1, size // 18_000))
    path.write_bytes(data.replace(b"Download Date 8/24/2016", b"Download Date 8/24/2026", 1))


def fit_chain(path: Path, size: int) -> None:
    """A real activity FIT file chained with copies of itself up to the size."""
    data = (SHARED_DATA / "fit" / "activity" / "activity-small-fenix2-run.fit").read_bytes()
    path.write_bytes(data * max(1, size // len(data)))


def apple(path: Path, size: int) -> None:
    from bench.apple_export import write_export

    write_export(path, size / 1e6)


WORKLOADS: dict[str, tuple[str, str, str, Writer]] = {
    # key: (label, --format, file name, writer)
    "csv": ("generic CSV, one-minute rows from 2009", "csv", "steps.csv", minute_csv),
    "centuries": ("generic CSV, hourly rows from 1700 (centuries)", "csv", "old.csv",
                  centuries_csv),
    "far-off": ("generic CSV, 3 rows: years 0001, 2026, 9999", "csv", "far.csv", far_off_csv),
    "fitbit": ("Fitabase minuteStepsNarrow, one-minute rows from 2010", "fitbit",
               "minuteStepsNarrow_merged.csv", fitabase_minutes),
    "fitbit-api": ("Fitbit Web API daily series 2000-2026, repeated", "fitbit-api",
                   "steps.json", fitbit_daily_json),
    "activpal": ("activPAL Test_Events.csv back to back", "activpal", "x_Events.csv",
                 grown("activpal", 1_010_617)),
    "actilife": ("ActiLife CSV mode 61 rows repeated", "actigraph", "a.csv",
                 actilife),
    "agd": ("ActiGraph .agd data table repeated", "actigraph", "g.agd",
            grown("agd", 424_960)),
    "garmin-connect": ("Garmin Connect chart, 96 buckets a day repeated", "garmin-connect",
                       "c.json", grown("garmin_chart", 15_300)),
    "google-fit": ("Google Fit REST step points cycled", "google-fit", "r.json",
                   grown("google_rest", 290)),
    "apple-health": ("Apple Health export.xml (bench/apple_export.py)", "apple-health",
                     "export.xml", apple),
    "fit": ("FIT activity file chained with copies of itself", "fit", "a.fit", fit_chain),
}


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, int, float, str]:
    """(exit code, max RSS in KB, seconds, last output line) of one CLI run."""
    t = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", "import sys; " + CLI, *args], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = child.stdout.read().decode(errors="replace") if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = out.strip().splitlines() or [""]
    return child.returncode, usage.ru_maxrss, time.perf_counter() - t, lines[-1]


def main() -> None:
    if sys.argv[1:2] == ["--write"]:  # in a child, so the measured CLI forks from a small parent
        key, path, size = sys.argv[2:5]
        WORKLOADS[key][3](Path(path), int(size))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=195, help="file size (default limit: 200 MB)")
    ap.add_argument("--only", default="", help="comma-separated workload keys")
    ap.add_argument("--code", default="", help="run the CLI from this checkout")
    opts = ap.parse_args()
    keys = opts.only.split(",") if opts.only else list(WORKLOADS)
    print("| workload | `--format` | MB | peak RSS MB | s | outcome |")
    print("|---|---|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RW_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
        if opts.code:
            env["PYTHONPATH"] = opts.code
        for setup in (["init"], ["patient", "add", "p1", "--procedure", "microdiscectomy",
                                 "--start-date", "2026-11-01", "--tz", "Europe/London"]):
            run_cli(setup, env)
        for key in keys:
            label, fmt, name, _ = WORKLOADS[key]
            path = Path(tmp) / name
            subprocess.run([sys.executable, __file__, "--write", key, str(path),
                            str(int(opts.mb * 1e6))], check=True)
            code, rss_kb, secs, last = run_cli(["ingest", str(path), "--patient", "p1",
                                                "--format", fmt], env)
            outcome = last.replace(str(path), name).replace("|", "/")[:150]
            print(f"| {label} | `{fmt}` | {path.stat().st_size / 1e6:.1f} | "
                  f"{rss_kb / 1024:,.0f} | {secs:.1f} | exit {code}: {outcome} |", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
