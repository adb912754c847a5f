"""Benchmark: FIT files -> stored day grids, against plain decoding by the Python FIT decoders.

Run from the repository root:  .venv/bin/python bench/bench_fit.py [--rounds N]
Every decoder reads the same files (shared/data/fit activity, monitoring and SDK samples:
the files all of them decode) in the same run; each figure is the best of N rounds.
"ours: decode + grids + store" is the real upload path, ``Service.ingest`` (hash, detect, parse,
bin, overlay-upsert every grid, log the upload, summarize the days changed), one transaction per file, into a
fresh SQLite database in a temp dir (schema created before the clock starts).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import fitdecode  # noqa: E402
import fitparse  # noqa: E402
from garmin_fit_sdk import Decoder, Stream  # noqa: E402

from ingest.base import ParseContext  # noqa: E402
from ingest.fit import FIELDS, PARSER  # noqa: E402
from ingest.fit_reader import FitReader  # noqa: E402
from schemas.binning import bin_batch  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402

TZ = "America/Santiago"  # the FR35 owner's zone (UTC-3 in these files)
RESULTS = REPO / "bench" / "results-fit.md"


def files() -> list[tuple[str, bytes]]:
    folders = ("activity", "monitoring", "sdk_samples")
    return [(p.name, p.read_bytes()) for f in folders
            for p in sorted((SHARED_DATA / "fit" / f).glob("*.fit"))]


def fitparse_decode(data: bytes) -> None:
    for _ in fitparse.FitFile(io.BytesIO(data)).get_messages():
        pass


def fitdecode_decode(data: bytes) -> None:
    with fitdecode.FitReader(io.BytesIO(data)) as reader:
        for _ in reader:
            pass


def sdk_decode(data: bytes) -> None:
    Decoder(Stream.from_byte_array(bytearray(data))).read()


def reader_only(data: bytes) -> None:
    for _ in FitReader(data, FIELDS).messages():
        pass


def decode_and_grids(data: bytes) -> None:
    result = PARSER.parse(io.BytesIO(data), ParseContext("bench", TZ))
    for series in result.series:
        bin_batch(series.batch, "bench", TZ)


def timed(run: Callable[[], None], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return best


def each(fn: Callable[[bytes], None], corpus: list[tuple[str, bytes]]) -> Callable[[], None]:
    return lambda: [fn(data) for _, data in corpus] and None


def store_round(corpus: list[tuple[str, bytes]]) -> float:
    """Seconds to ingest every file into a fresh SQLite database (schema made beforehand)
    through the upload path (``Service.ingest``: hash, detect, parse, bin, store the grids,
    summarize the days they changed), one transaction per file."""
    from rehabwatch.service import Service
    from rehabwatch.settings import Settings
    from storage.database import upgrade
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        service = Service(Settings(database_url=url))
        service.add_patient("bench", "microdiscectomy", date(2018, 1, 1), TZ, "default", {})
        t = time.perf_counter()
        for name, data in corpus:
            service.ingest(io.BytesIO(data), ParseContext("bench", TZ, filename=name))
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    corpus = files()
    n_bytes = sum(len(d) for _, d in corpus)
    n_msgs = 0
    for _, data in corpus:
        reader = FitReader(data, {})
        list(reader.messages())
        n_msgs += reader.count
    rows = [
        ("fitparse (plain decode)", timed(each(fitparse_decode, corpus), args.rounds)),
        ("fitdecode (plain decode)", timed(each(fitdecode_decode, corpus), args.rounds)),
        ("garmin-fit-sdk (plain decode)", timed(each(sdk_decode, corpus), args.rounds)),
        ("ours: reader only", timed(each(reader_only, corpus), args.rounds)),
        ("ours: decode + grids", timed(each(decode_and_grids, corpus), args.rounds)),
        ("ours: decode + grids + store (SQLite)",
         min(store_round(corpus) for _ in range(args.rounds))),
    ]
    report(rows, len(corpus), n_msgs, n_bytes, " ".join(sys.argv[1:]))


def report(rows: list[tuple[str, float]], n_files: int, n_msgs: int, n_bytes: int,
           argv: str) -> None:
    base = rows[0][1]
    lines = [f"{n_files} files, {n_msgs:,} messages, {n_bytes / 1e6:.2f} MB; best of rounds", "",
             "| path | seconds | messages/s | MB/s | × fitparse |", "|---|---:|---:|---:|---:|"]
    for name, secs in rows:
        lines.append(f"| {name} | {secs:.3f} | {n_msgs / secs:,.0f} | {n_bytes / 1e6 / secs:.2f} "
                     f"| {base / secs:.1f} |")
    table = "\n".join(lines)
    print(table)
    command = f".venv/bin/python bench/bench_fit.py {argv}".strip()
    text = RESULTS.read_text() if RESULTS.exists() else ""
    head = text.split("<!-- table -->")[0] if "<!-- table -->" in text else ""
    RESULTS.write_text(f"{head}<!-- table -->\nCommand: `{command}`\n\n{table}\n")


if __name__ == "__main__":
    main()
