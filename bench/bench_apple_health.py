"""Benchmark: Apple Health export.xml -> stored day grids, against healthkit-to-sqlite and a
bare lxml iterparse.

Run from the repository root:
    .venv/bin/python bench/bench_apple_health.py [--sizes 50,500,1000] [--whole-up-to 500]
Every row runs in its own subprocess on the same generated export (bench/apple_export.py,
written once per size into --dir and reused), one after the other in the same run; wall
time and peak RSS are that subprocess's own (``os.wait4``). Rows:

* ours, whole ingest: ``rehabwatch ingest FILE --patient p1 --json`` into a fresh SQLite
  database (schema and patient made before the clock starts): read, hash, parse, bin, store.
  Today the CLI reads the whole file into memory first (``path.read_bytes()``), so its RSS
  holds the file; sizes above --whole-up-to skip this row and healthkit-to-sqlite's.
* ours, parse only: ``PARSER.parse`` of the open file (what the upload path will call once
  it streams), then binning its series into day grids as the upload path does.
* healthkit-to-sqlite: ``healthkit-to-sqlite --xml -s FILE db`` into a fresh database.
* bare lxml iterparse: sums every StepCount value (no source priority, no dates, no wear):
  about the fastest a Python program that parses this XML with lxml can be.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.apple_export import write_export  # noqa: E402

RESULTS = REPO / "bench" / "results-apple-health.md"
BIN = Path(sys.executable).parent
TZ = "Europe/London"
PARSE_ONLY = """
import sys
from ingest.apple_health import PARSER
from ingest.base import ParseContext
from schemas.binning import bin_batch
with open(sys.argv[1], "rb") as f:
    result = PARSER.parse(f, ParseContext("p1", "{tz}", "export.xml"))
grids = [g for s in result.series for g in bin_batch(s.batch, "p1", "{tz}")]
print(round(sum(g.total_steps for g in grids)), len(grids), result.records)
""".format(tz=TZ)
LXML = """
import sys
from lxml import etree
total = 0.0
for _, el in etree.iterparse(sys.argv[1], events=("end",), tag="Record",
                             resolve_entities=False, no_network=True):
    if el.get("type") == "HKQuantityTypeIdentifierStepCount":
        total += float(el.get("value"))
    el.clear()
    while el.getprevious() is not None:
        del el.getparent()[0]
print(round(total))
"""


#: Runs its arguments as a child and prints that child's wall seconds and peak RSS (KiB):
#: a small process forks it, so the RSS is the child's own, not a copy of this process's.
LAUNCHER = """
import resource, subprocess, sys, time
t = time.perf_counter()
code = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "wb")).returncode
wall = time.perf_counter() - t
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one subprocess."""
    with tempfile.NamedTemporaryFile() as out:
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, out.name, *argv], env=env,
                              cwd=REPO, stderr=subprocess.PIPE)
        last = proc.stderr.decode().strip().splitlines()[-1:] or [""]
        if proc.returncode:
            raise SystemExit(f"{' '.join(argv[:3])} failed: {proc.stderr.decode()[-2000:]}")
        wall, rss_kib = last[0].split()
        return float(wall), int(rss_kib) / 1024, Path(out.name).read_text().strip()


def whole_ingest(path: Path, tmp: Path) -> tuple[float, float, str]:
    env = {**os.environ, "RW_DATABASE_URL": f"sqlite:///{tmp / 'rw.db'}",
           "RW_MAX_UPLOAD_MB": "100000"}
    env.pop("RW_KAFKA_URL", None)
    (tmp / "rw.db").unlink(missing_ok=True)
    rw = str(BIN / "rehabwatch")
    measured([rw, "init"], env)
    measured([rw, "patient", "add", "p1", "--procedure", "microdiscectomy", "--start-date",
              "2019-03-01", "--tz", TZ], env)
    wall, rss, out = measured([rw, "ingest", str(path), "--patient", "p1", "--json"], env)
    upload = __import__("json").loads(out)["uploads"][0]
    return wall, rss, f"{upload['steps']:,} steps, {upload['grids']} grids, {upload['status']}"


def healthkit_to_sqlite(path: Path, tmp: Path) -> tuple[float, float, str]:
    (tmp / "h2s.db").unlink(missing_ok=True)
    wall, rss, _ = measured([str(BIN / "healthkit-to-sqlite"), "--xml", "-s", str(path),
                             str(tmp / "h2s.db")])
    return wall, rss, f"{(tmp / 'h2s.db').stat().st_size / 1e6:,.0f} MB database"


def parse_only(path: Path, tmp: Path) -> tuple[float, float, str]:
    wall, rss, out = measured([sys.executable, "-c", PARSE_ONLY, str(path)])
    steps, grids, records = out.split()
    return wall, rss, f"{int(steps):,} steps, {grids} grids, {int(records):,} records"


def bare_lxml(path: Path, tmp: Path) -> tuple[float, float, str]:
    wall, rss, out = measured([sys.executable, "-c", LXML, str(path)])
    return wall, rss, f"{int(out):,} steps (every source summed)"


ROWS = (("ours: whole ingest (CLI, SQLite)", whole_ingest, True),
        ("ours: parse only (+ day grids)", parse_only, False),
        ("healthkit-to-sqlite", healthkit_to_sqlite, True),
        ("bare lxml iterparse (sums steps)", bare_lxml, False))


def run_size(size_mb: int, folder: Path, whole_up_to: int, rounds: int) -> str:
    path = folder / f"export-{size_mb}mb.xml"
    if not path.exists():
        t = time.perf_counter()
        days = write_export(path, size_mb)
        print(f"wrote {path} ({days} days) in {time.perf_counter() - t:.0f} s", flush=True)
    mb = path.stat().st_size / 1e6
    records, tail = 0, b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 24):
            records += (tail + chunk).count(b"<Record ")
            tail = chunk[-7:]  # shorter than the tag: no tag is counted twice
    results: dict[str, tuple[float, float, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for name, row, whole in ROWS:
                if whole and size_mb > whole_up_to:
                    continue
                got = row(path, Path(tmp))
                print(f"{size_mb} MB  {name}: {got[0]:.2f} s, {got[1]:.0f} MB  {got[2]}",
                      flush=True)
                if name not in results or got[0] < results[name][0]:
                    results[name] = got
    peer = results.get("healthkit-to-sqlite", (None,))[0]
    lines = [f"### {mb:,.0f} MB export: {records:,} records ({mb * 1e6 / records:.0f} bytes "
             "each)", "", "| path | seconds | MB/s | peak RSS MB | × healthkit-to-sqlite | "
             "output |", "|---|---:|---:|---:|---:|---|"]
    for name, (wall, rss, what) in results.items():
        ratio = f"{peer / wall:.1f}" if peer else "–"
        lines.append(f"| {name} | {wall:.2f} | {mb / wall:.0f} | {rss:.0f} | {ratio} | {what} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,500,1000", help="export sizes in MB")
    ap.add_argument("--whole-up-to", type=int, default=500,
                    help="largest size (MB) for the whole-ingest and healthkit-to-sqlite rows")
    ap.add_argument("--rounds", type=int, default=1, help="best of this many runs per row")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "rw-apple-bench",
                    help="where generated exports are kept (reused across runs)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    tables = [run_size(int(s), args.dir, args.whole_up_to, args.rounds)
              for s in args.sizes.split(",")]
    command = f".venv/bin/python bench/bench_apple_health.py {' '.join(sys.argv[1:])}".strip()
    text = RESULTS.read_text() if RESULTS.exists() else ""
    head = text.split("<!-- tables -->")[0]  # the whole text when the marker is missing
    body = "\n\n".join(tables)
    RESULTS.write_text(f"{head}<!-- tables -->\nCommand: `{command}`\n\n{body}\n")
    print(body)


if __name__ == "__main__":
    main()
