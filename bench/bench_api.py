"""HTTP API benchmark on the embedded stack (broker, a real stream worker and the API as its
own ``rehabwatch api`` process, on SQLite), from a client on 127.0.0.1.

    .venv/bin/python -m bench.bench_api [--export-mb 20] [--rounds 2] [--clients 50]
                                        [--requests 3000] [--big-mb 200]
                                        [--parts upload,load,memory]

1. **Upload to alert**: a generated ~20 MB export (the demo's generic CSV, minute rows of an
   under-active patient over ~2 years of conservative management) uploaded with a patient
   token: the response time, and the time from the start of the upload until its
   ``underactivity`` alert is readable through the API (polled every 50 ms), after one
   warm-up upload. With the broker, the day grids go to the stream and the worker judges
   them; the same is measured with a second API process without a broker,
   which evaluates the patient before it answers. Goal: under 5 s.
2. **50 concurrent clients**: a clinician token, each client looping over a mix of reads
   (a patient's plan, 30 days of summaries, their targets, the team's alert list) until
   ``--requests`` have been answered: requests/s, p50/p95 latency, errors (anything but 200).
   The client runs on the same two cores as the API, worker and broker.
3. **Memory of the API process during a 200 MB upload** (a generated Apple Health
   export.xml, streamed from disk by the client): resident memory sampled every 20 ms before,
   while the body is sent, while it is parsed and stored, and after; the same for a 20 MB one.
   Streamed to a spooled temp file, the body must not grow the process.

Results go to stdout and bench/results-api.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np

from bench import apple_export
from ingest.base import ParseContext
from rehabwatch.access import Actor
from rehabwatch.accounts import Accounts
from rehabwatch.broker import EmbeddedBroker, free_port
from rehabwatch.demo import DemoPatient, write_export
from rehabwatch.service import Service
from rehabwatch.settings import Settings, load
from rehabwatch.stack import worker, worker_env
from storage import database

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results-api.md"
SETUP = Actor("bench", "cli")
PATIENTS = 50
#: The upload's patient: conservative management, whose targets (7,000 steps from week 16)
#: are not lowered to a personal baseline, so ~2 years of under-activity is an alert.
PROCEDURE = "conservative"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@contextmanager
def api_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rehabwatch.cli", "api", "--port",
                                 str(port)], env=env, cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the API did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(15)


def underactive_csv(path: Path, size_mb: float) -> date:
    """An under-active patient's minute export of about ``size_mb`` MB; the start date."""
    days = max(60, int(size_mb * 1e6 / 27_200))  # ~27 kB per day of minute rows
    start = date.today() - timedelta(days=days)
    write_export(DemoPatient("B", PROCEDURE, "Europe/London", "underactive"), start,
                 date.today() - timedelta(days=1), path, np.random.default_rng(3))
    return start


def upload_to_alert(url: str, settings: Settings, pid: str, export: Path, start: date
                    ) -> tuple[float, float]:
    """Seconds to the upload's response, and to its alert being readable."""
    Service(settings).add_patient(pid, PROCEDURE, start, "Europe/London", "bench", {})
    token, _ = Accounts(settings).create_token("patient", SETUP, pid)
    staff, _ = Accounts(settings).create_token("clinician", SETUP, teams=["bench"])
    with httpx.Client(base_url=url, timeout=120) as client, export.open("rb") as body:
        began = time.perf_counter()
        answer = client.post(f"/api/v1/patients/{pid}/uploads",
                             headers={"Authorization": f"Bearer {token}"},
                             files={"file": (export.name, body)})
        responded = time.perf_counter() - began
        assert answer.status_code == 200 and answer.json()["uploads"][0]["status"] == "stored", \
            answer.text
        while True:
            found = client.get("/api/v1/alerts", params={"patient": pid},
                               headers={"Authorization": f"Bearer {staff}"}).json()["alerts"]
            if any(a["rule"] == "underactivity" for a in found):
                return responded, time.perf_counter() - began
            if time.perf_counter() - began > 120:
                raise RuntimeError("no underactivity alert after 120 s")
            time.sleep(0.05)


def seed_cohort(settings: Settings, tmp: Path) -> list[str]:
    """Patients of team ``cohort`` with 60 days of data each (batch-ingested)."""
    service = Service(settings)
    start = date.today() - timedelta(days=60)
    rng = np.random.default_rng(11)
    ids = [f"C-{i:03d}" for i in range(PATIENTS)]
    for i, pid in enumerate(ids):
        service.add_patient(pid, "microdiscectomy", start, "Europe/London", "cohort", {})
        path = tmp / f"{pid}.csv"
        write_export(DemoPatient(pid, "microdiscectomy", "Europe/London",
                                 "underactive" if i % 5 == 0 else "on_track"),
                     start, date.today() - timedelta(days=1), path, rng)
        with path.open("rb") as stream:
            service.ingest(stream, ParseContext(pid, "Europe/London", path.name))
        path.unlink()
    service.evaluate_all()
    return ids


async def load_test(url: str, token: str, ids: list[str], clients: int, total: int
                    ) -> dict[str, Any]:
    last = date.today() - timedelta(days=1)
    paths = []
    for pid in ids:
        paths += [f"/api/v1/patients/{pid}",
                  f"/api/v1/patients/{pid}/summaries?from={last - timedelta(days=29)}&to={last}",
                  f"/api/v1/patients/{pid}/targets", "/api/v1/alerts?team=cohort&limit=50"]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    issued = 0

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal errors, issued
        while issued < total:
            path = paths[issued % len(paths)]
            issued += 1
            began = time.perf_counter()
            try:
                answer = await client.get(path)
                if answer.status_code != 200:
                    errors[f"{answer.status_code} {answer.json().get('error', '')[:80]}"] += 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - began)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        began = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(clients)))
        wall = time.perf_counter() - began
    latencies.sort()
    return {"requests": len(latencies), "wall_s": wall, "rps": len(latencies) / wall,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
            "errors": sum(errors.values()), "kinds": dict(errors)}


def memory_during_upload(url: str, pid: int, token: str, patient: str, export: Path
                         ) -> dict[str, float]:
    """Resident MB of the API process: before, peak while the body is sent, peak while it
    is parsed and stored (after the last byte, until the response), after."""
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), rss_mb(pid)))
            time.sleep(0.02)

    sent_at: list[float] = []

    def body() -> Iterator[bytes]:
        with export.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
        sent_at.append(time.perf_counter())

    boundary = "benchboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"export.xml\"\r\nContent-Type: application/xml\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def multipart() -> Iterator[bytes]:
        yield head
        yield from body()
        yield tail

    before = rss_mb(pid)
    thread = threading.Thread(target=sample)
    thread.start()
    began = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600) as client:
        answer = client.post(f"/api/v1/patients/{patient}/uploads", content=multipart(),
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": f"multipart/form-data; boundary={boundary}",
                                      "Content-Length": str(len(head) + export.stat().st_size
                                                            + len(tail))})
    done = time.perf_counter()
    time.sleep(0.5)
    stop.set()
    thread.join()
    assert answer.status_code == 200, answer.text
    status = answer.json()["uploads"][0]["status"]
    sending = [mb for t, mb in samples if began <= t <= sent_at[0]]
    parsing = [mb for t, mb in samples if sent_at[0] < t <= done]
    return {"size_mb": export.stat().st_size / 1e6, "before": before,
            "sending_peak": max(sending, default=before), "parse_peak": max(parsing, default=0),
            "after": rss_mb(pid), "send_s": sent_at[0] - began, "total_s": done - began,
            "status": status}  # type: ignore[dict-item]


def load_section(result: dict[str, Any], clients: int) -> list[str]:
    lines = ["", f"## {clients} concurrent clients, {PATIENTS} patients", "",
             "| requests | wall s | requests/s | p50 ms | p95 ms | errors |",
             "|---:|---:|---:|---:|---:|---:|",
             f"| {result['requests']:.0f} | {result['wall_s']:.1f} | {result['rps']:.0f} | "
             f"{result['p50_ms']:.0f} | {result['p95_ms']:.0f} | {result['errors']:.0f} |"]
    return lines + (["", f"Errors: {result['kinds']}"] if result["kinds"] else [])


def memory_section(url: str, pid: int, settings: Settings, tmp: Path,
                   sizes: tuple[float, ...]) -> list[str]:
    lines = ["", "## API process memory during an upload (Apple Health export.xml)", "",
             "| file MB | status | RSS before | peak while sent | peak while parsed and stored "
             "| after | send s | total s |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    Service(settings).add_patient("M-1", "microdiscectomy", date(2019, 3, 1), "Europe/London",
                                  "bench", {})
    token, _ = Accounts(settings).create_token("patient", SETUP, "M-1")
    for size in sizes:
        xml = tmp / f"export-{size:g}.xml"
        apple_export.write_export(xml, size, seed=int(size))
        m = memory_during_upload(url, pid, token, "M-1", xml)
        xml.unlink()
        lines.append(f"| {m['size_mb']:.0f} | {m['status']} | {m['before']:.0f} | "
                     f"{m['sending_peak']:.0f} | {m['parse_peak']:.0f} | {m['after']:.0f} | "
                     f"{m['send_s']:.1f} | {m['total_s']:.1f} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-mb", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--big-mb", type=float, default=200)
    parser.add_argument("--parts", default="upload,load,memory",
                        help="which of upload, load, memory to run (comma-separated)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    out: list[str] = [f"# HTTP API benchmark ({date.today()})", "",
                      f"`.venv/bin/python -m bench.bench_api --export-mb {args.export_mb:g} "
                      f"--rounds {args.rounds} --clients {args.clients} --requests "
                      f"{args.requests} --big-mb {args.big_mb:g}`; load before the run: "
                      f"{os.getloadavg()[0]:.1f}", ""]
    with tempfile.TemporaryDirectory() as tmp_dir, EmbeddedBroker() as broker:
        tmp = Path(tmp_dir)
        url_db = f"sqlite:///{tmp / 'rw.db'}"
        database.upgrade(url_db)
        batch = Settings(database_url=url_db)
        ids = seed_cohort(batch, tmp)
        stream = load({"RW_DATABASE_URL": url_db, "RW_KAFKA_URL": broker.url})
        env = worker_env(stream, RW_STREAM_DATADIR=str(tmp / "faust"),
                         RW_WORKER_WEB_PORT=str(free_port()), RW_MAX_UPLOAD_MB="256",
                         RW_LOG_LEVEL="warning")
        no_broker = {k: v for k, v in env.items() if k != "RW_KAFKA_URL"}
        export = tmp / "export.csv"
        start = underactive_csv(export, args.export_mb)
        out += [f"## Upload of a {export.stat().st_size / 1e6:.1f} MB export to its alert", "",
                "| path | round | response s | alert readable s |", "|---|---:|---:|---:|"]
        with worker(env), api_process(env, tmp / "api.log") as (url, proc):
            if "upload" in parts:
                upload_to_alert(url, stream, "W-0", export, start)  # warm-up: worker joins
            for r in range(args.rounds if "upload" in parts else 0):
                resp, alert = upload_to_alert(url, stream, f"S-{r}", export, start)
                out.append(f"| broker + worker | {r + 1} | {resp:.2f} | {alert:.2f} |")
                print(out[-1], flush=True)
            with api_process(no_broker, tmp / "api-batch.log") as (batch_url, _):
                for r in range(args.rounds + 1 if "upload" in parts else 0):
                    resp, alert = upload_to_alert(batch_url, batch, f"B-{r}", export, start)
                    if r == 0:
                        continue  # warm-up
                    out.append(f"| no broker (evaluated before answering) | {r} | "
                               f"{resp:.2f} | {alert:.2f} |")
                    print(out[-1], flush=True)
            if "load" in parts:
                time.sleep(15)  # the worker may still be writing the uploads' last days
                staff, _ = Accounts(batch).create_token("clinician", SETUP, teams=["cohort"])
                out += load_section(asyncio.run(load_test(url, staff, ids, args.clients,
                                                          args.requests)), args.clients)
                print(out[-1], flush=True)
            if "memory" in parts:
                out += memory_section(url, proc.pid, batch, tmp, (args.export_mb, args.big_mb))
    text = "\n".join(out) + "\n"
    print(text)
    if parts == {"upload", "load", "memory"}:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
