"""Stream benchmark: a synthetic cohort through the real embedded broker and real workers.

    .venv/bin/python bench/bench_stream.py [--patients 2000] [--days 30] [--workers 1 2]
                                           [--order day|upload] [--rounds 1]
                                           [--db postgresql-temp | --db URL]

Measures, in one run: the raw aiokafka produce and consume rate of the same grid messages
(the ceiling); the same agents in one worker with handlers that cost nothing (no database,
summaries made up, no alerts: what Faust and the agents alone allow); per worker count,
patient-days/s from the first publish of a backlog (``--order day``: day by day across the
cohort; ``upload``: each patient's days together, as one export per patient publishes them)
to (a) the daily summary of every patient-day out of the pipeline (grid stored, day merged
and summarized, summary emitted) and (b) the last alert evaluation committed (check emitted,
rules and alert lifecycle stored: the whole pipeline drained); and the latency of day grids
trickled in at a steady rate once the backlog is gone, publish -> summary and publish -> alert
stored (p50/p95). With ``--rounds N`` each worker count runs N times, their order alternating
(1 2, 2 1, 1 2, ...), and the scaling is given per round (adjacent runs) and as the median.

The default cohort (2,000 patients x 30 days) keeps a run long enough to be read: with 500
patients a run lasted 3-6 s on this machine, so the start and the last batch weighed on the
rate, and the 8 partitions held 47 to 74 of 500 patients each (of 2,000: 231 to 264), so
the two workers' halves of the cohort were further from equal.

CPU time is read per process group (workers, broker, the PostgreSQL server's processes when
it runs here, this bench), so a rate can be read against what it cost the machine.

The bench's own load stays small, as it shares the two cores with the workers: grids are
published in per-partition batches, summary times are the create times the workers' producer
stamped on ``activity.daily``, read once the run is over (no collector consumes while the
workers are measured), and the workers' evaluation logs are read incrementally.

Workers are ``rehabwatch.worker`` with the production handlers; the only addition is a line
per alert check, written after its evaluation committed, for (b) and the alert latency.
Each worker count gets a fresh SQLite database (default), a fresh schema on the server at
``--db URL`` (emptied first), or a throwaway PostgreSQL cluster (``--db postgresql-temp``,
started as ``tests/pg_server.py`` does for the test suite).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processors.stream import run_worker as run_stream_worker  # noqa: E402
from rehabwatch.broker import EmbeddedBroker, free_port  # noqa: E402
from rehabwatch.delivery import channels_from  # noqa: E402
from rehabwatch.metrics import PrometheusSensors  # noqa: E402
from rehabwatch.settings import load  # noqa: E402
from rehabwatch.worker import database_handlers  # noqa: E402
from schemas.daygrid import MINUTE, WORN, DayGrid, Source, slot_count  # noqa: E402
from schemas.records import DailySummary  # noqa: E402
from schemas.wire import HEADER_ORIGIN_MS, AlertCheck, decode_record, encode_grid  # noqa: E402
from storage import database  # noqa: E402
from storage.tables import Patient  # noqa: E402

TZ = "Europe/London"
Record = tuple[str, date, bytes]  # (patient, local day, encoded grid)


def cohort(patients: int, days: int, first: date, seed: int = 1) -> list[Record]:
    """Day-ordered minute grids: walking blocks through a 14-hour worn day."""
    rng = np.random.default_rng(seed)
    out = []
    for d in range(days):
        day = first + timedelta(days=d)
        n = slot_count(day, TZ, MINUTE)
        for p in range(patients):
            steps = np.full(n, np.nan)
            steps[420:1260] = 0.0
            walks = rng.integers(420, 1240, 12)
            for w in walks:
                steps[w:w + 15] = rng.uniform(60, 110, 15)
            worn = np.full(n, -1, np.int8)
            worn[420:1260] = WORN
            grid = DayGrid(f"bench-{p}", Source("csv", "bench"), day, TZ, MINUTE,
                           steps=steps, worn=worn, origin="bench")
            out.append((grid.patient_id, day, encode_grid(grid)))
    return out


def upload_order(records: Sequence[Record], seed: int = 3) -> list[Record]:
    """``records`` as uploads publish them: each patient's days together, in day order (one
    export per patient), patients in a shuffled order."""
    patients = sorted({patient for patient, _, _ in records})
    rank = {p: i for i, p in enumerate(np.random.default_rng(seed).permutation(patients))}
    return sorted(records, key=lambda r: (rank[r[0]], r[1]))


# -- the bench worker --------------------------------------------------------------------

def bench_worker(free: bool) -> None:
    """The production worker; its evaluate handler also appends ``time patient as_of`` per
    check to ``$RW_BENCH_EVALUATED`` once the evaluation committed. ``free``: the same agents
    with handlers that cost nothing (no database; a summary is made up from each grid's
    total, no alert is raised): what Faust and the agents alone allow."""
    settings = load()
    handlers = database_handlers(settings, channels_from(settings.notify))
    evaluated = Path(os.environ["RW_BENCH_EVALUATED"])
    if free:
        handlers = dataclasses.replace(
            handlers, evaluate=lambda checks, now: [],
            summarize=lambda grids: [DailySummary(g.patient_id, g.local_date, g.total_steps,
                                                  True, True, 0, 0, "device", 0,
                                                  (g.source.key,)) for g in grids])

    def evaluate(checks: Sequence[AlertCheck], now: datetime) -> Sequence[object]:
        events = handlers.evaluate(checks, now)
        stamp = time.time()
        with evaluated.open("a") as out:
            out.writelines(f"{stamp} {c.patient_id} {c.as_of}\n" for c in checks)
        return events

    run_stream_worker(settings.stream, dataclasses.replace(handlers, evaluate=evaluate),
                      PrometheusSensors())


class EvaluatedLog:
    """Every (time, patient, as_of) the workers have logged so far, read incrementally (the
    bench polls these files while the workers run: only new lines cost anything)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.offsets = {path: 0 for path in paths}
        self.entries: list[tuple[float, str, date]] = []

    def read(self) -> list[tuple[float, str, date]]:
        """The entries logged since the last call (all of them are in ``entries``)."""
        new = len(self.entries)
        for path, offset in self.offsets.items():
            if not path.exists():
                continue
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]
            self.offsets[path] = offset + len(complete)
            for line in complete.decode().splitlines():
                stamp, patient, as_of = line.split()
                self.entries.append((float(stamp), patient, date.fromisoformat(as_of)))
        return self.entries[new:]


def start_workers(n: int, env: dict[str, str], tmp: Path, mode: str
                  ) -> list[subprocess.Popen[bytes]]:
    procs = []
    logs = [tmp / f"worker{i}.log" for i in range(n)]
    for i, log in enumerate(logs):
        with open(log, "wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, __file__, mode], cwd=REPO, stdout=out,
                stderr=subprocess.STDOUT,
                env={**env, "RW_WORKER_WEB_PORT": str(free_port()),
                     "RW_BENCH_EVALUATED": str(tmp / f"evaluated{i}.txt")}))
    # Ready once every worker has been assigned partitions after the last one joined.
    deadline = time.time() + 60
    while time.time() < deadline and not (
            logs[0].read_text(errors="replace").count("Worker ready") >= n
            and all("Worker ready" in p.read_text(errors="replace") for p in logs)):
        time.sleep(0.2)
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(20)


# -- Kafka helpers -----------------------------------------------------------------------

async def publish(bootstrap: str, topic: str, records: Sequence[Record],
                  rate: float | None = None) -> list[float]:
    """Publish keyed by patient, each record to the partition of Kafka's default partitioner
    (as the product's publisher and the workers' producer place them); the wall time each
    record was appended (its origin header). Records go out in aiokafka's per-partition batches
    (its batch API), which keeps the load generator's CPU small beside the workers' on the same
    two cores; ``rate`` (per second): each record sent alone as soon as it is due."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_request_size=4_000_000)
    await producer.start()
    sent = [0.0] * len(records)
    try:
        partitions = sorted(await producer.partitions_for(topic))
        partition_of = functools.cache(
            lambda key: DefaultPartitioner()(key, partitions, partitions))
        order = range(len(records))
        if not rate:
            # The k-th record of every partition, then the (k+1)-th: each partition gets its
            # records in the same order (all a consumer can see), but consecutive records go
            # to different partitions, so a full batch never waits for the one before it to
            # that partition (in upload order that cost the bench ~1.7x the CPU).
            rank: dict[int, int] = {}
            place = []
            for i, (patient, _, _) in enumerate(records):
                partition = partition_of(patient.encode())
                rank[partition] = rank.get(partition, -1) + 1
                place.append((rank[partition], partition, i))
            order = [i for _, _, i in sorted(place)]
        batches: dict[int, Any] = {}
        delivered: list[asyncio.Future[Any]] = []
        for i in order:
            patient, _, value = records[i]
            if rate and i:
                await asyncio.sleep(max(0.0, sent[0] + i / rate - time.time()))
            key = patient.encode()
            partition = partition_of(key)
            sent[i] = time.time()
            headers = [(HEADER_ORIGIN_MS, str(int(sent[i] * 1000)).encode())]
            batch = batches.get(partition)
            if batch is None or batch.append(key=key, value=value, timestamp=None,
                                             headers=headers) is None:
                if batch is not None:
                    delivered.append(await producer.send_batch(batch, topic,
                                                               partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
            if rate:
                delivered.append(await producer.send_batch(batches.pop(partition), topic,
                                                           partition=partition))
        for partition, batch in batches.items():
            delivered.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*delivered)
    finally:
        await producer.stop()
    return sent


async def summary_times(bootstrap: str, topic: str, expected: set[tuple[str, date]],
                        timeout: float) -> tuple[dict[tuple[str, date], float], int]:
    """When the workers produced the first daily summary of each ``expected`` (patient, day) on
    ``topic`` (the message's create time, stamped by the worker's producer), and how many more
    summaries of those days there are (duplicates). Read after the run, from the beginning,
    until nothing more comes: no collector competes with the workers for CPU while they are
    measured. (The embedded broker's end offsets can be stale, so they are not used to stop.)"""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_bytes=50_000_000)
    await consumer.start()
    seen: dict[tuple[str, date], float] = {}
    duplicates = 0
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            batches = (await consumer.getmany(timeout_ms=1000)).values()
            if not batches and len(seen) == len(expected):
                break
            for message in (m for batch in batches for m in batch):
                summary = decode_record(message.value, DailySummary)
                key = (summary.patient_id, summary.local_date)
                if key in expected:
                    duplicates += key in seen
                    seen.setdefault(key, message.timestamp / 1000)
    finally:
        await consumer.stop()
    return seen, duplicates


async def raw_ceiling(bootstrap: str, records: Sequence[Record]) -> tuple[float, float]:
    """aiokafka produce and consume rates (messages/s) of the same messages."""
    t0 = time.time()
    await publish(bootstrap, "bench.raw", records)
    produce_rate = len(records) / (time.time() - t0)
    consumer = AIOKafkaConsumer("bench.raw", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_bytes=50_000_000)
    await consumer.start()
    seen, t0 = 0, time.time()
    while seen < len(records):
        seen += sum(len(b) for b in (await consumer.getmany(timeout_ms=500)).values())
    consume_rate = seen / (time.time() - t0)
    await consumer.stop()
    return produce_rate, consume_rate


# -- one measurement ---------------------------------------------------------------------

@contextlib.contextmanager
def bench_database(spec: str | None, tmp: Path, name: str) -> Iterator[str]:
    """The URL for run ``name`` (see the module docstring for ``spec``)."""
    if spec == "postgresql-temp":
        from tests.pg_server import postgres_server
        with postgres_server() as url:
            yield url
    else:
        yield spec or f"sqlite:///{tmp / f'{name}.db'}"


def fresh_database(url: str, patients: int, start: date) -> None:
    if url.startswith("postgresql"):
        from sqlalchemy import text
        with database.engine(url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    database.upgrade(url)
    with database.session_scope(url) as session:
        session.add_all(Patient(id=f"bench-{p}", procedure="microdiscectomy", start_date=start,
                                tz=TZ) for p in range(patients))
    database.engine(url).dispose()


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids(url: str) -> list[int]:
    """The PostgreSQL server behind ``url`` if it runs here (its postmaster, found by the
    port on its command line, and the postmaster's children: backends, writers); [] for
    SQLite, whose work is done in the workers' own processes."""
    port = make_url(url).port
    if not url.startswith("postgresql") or port is None:
        return []
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
            procs[int(stat.parent.name)] = (int(stat.read_text().rsplit(")", 1)[1].split()[1]),
                                            cmdline)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    masters = {pid for pid, (_, cmd) in procs.items() if cmd[0].endswith(b"/postgres")
               and b"-p" in cmd and str(port).encode() in cmd}
    return [pid for pid, (ppid, _) in procs.items() if pid in masters or ppid in masters]


class CpuMeter:
    """CPU seconds used since it was made by each group of processes; a group's processes
    are listed anew at each reading, so one that starts later counts from its start."""

    def __init__(self, groups: Mapping[str, Callable[[], Sequence[int]]]) -> None:
        self.groups = groups
        self.start = {name: {pid: cpu_seconds(pid) for pid in pids()}
                      for name, pids in groups.items()}

    def used(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) - self.start[name].get(pid, 0.0) for pid in pids())
                for name, pids in self.groups.items()}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(workers: int, args: argparse.Namespace, broker: EmbeddedBroker,
        backlog: list[Record], trickle: list[Record], start: date, tmp: Path,
        mode: str = "worker", round_: int = 0) -> dict[str, Any]:
    name = f"b{workers}{mode}{round_}"
    work = tmp / name
    work.mkdir()
    with bench_database(args.db, tmp, name) as url:
        fresh_database(url, args.patients, start)
        env = {**os.environ, "PYTHONPATH": str(REPO), "RW_KAFKA_URL": broker.url,
               "RW_DATABASE_URL": url, "RW_STREAM_APP_ID": name, "RW_TOPIC_PARTITIONS": "8",
               "RW_STREAM_DATADIR": str(work / "faust"), "RW_LOG_LEVEL": "info",
               "RW_KAFKA_SESSION_TIMEOUT_S": "10",
               **{f"RW_TOPIC_{t.upper()}": f"{name}.{t}"
                  for t in ("daygrids", "daily", "candidates", "events", "deadletter")}}
        procs = start_workers(workers, env, work, mode)
        log = EvaluatedLog([work / f"evaluated{i}.txt" for i in range(workers)])
        meter = CpuMeter({"workers": lambda: [p.pid for p in procs],
                          "broker": lambda: [broker.pid],
                          "database": functools.partial(server_pids, url),
                          "bench": lambda: [os.getpid()]})
        try:
            found = asyncio.run(_backlog(broker, name, backlog, log, args.timeout))
            found.update({f"cpu_{k}": v for k, v in meter.used().items()})
            if not server_pids(url):  # SQLite, or a server on another machine
                found["cpu_database"] = None
            found.update(asyncio.run(_latency(broker, name, trickle, log, args.trickle_rate,
                                              args.timeout)))
            found.update(asyncio.run(_summaries(broker, name, backlog, trickle, found,
                                                args.timeout)))
        finally:
            stop(procs)
            database.engine(url).dispose()
    n = len(backlog)
    return {"workers": workers, "patient_days": n, "summary_rate": n / found["summary_s"],
            "alert_rate": n / found["alert_s"], **found}


async def _backlog(broker: EmbeddedBroker, name: str, backlog: list[Record],
                   log: EvaluatedLog, timeout: float) -> dict[str, Any]:
    """When the first grid was published, seconds from then to the last evaluation (every
    patient evaluated through the last day), the alert checks evaluated until then, and how
    busy the machine's CPUs were meanwhile (0-1)."""
    cpu0 = cpu_jiffies()
    t0 = min(await publish(broker.bootstrap, f"{name}.daygrids", backlog))
    last = max(day for _, day, _ in backlog)
    waiting = {patient for patient, _, _ in backlog}
    done = 0.0
    while waiting and time.time() < t0 + timeout:
        await asyncio.sleep(0.1)
        for stamp, patient, as_of in log.read():
            if patient in waiting and as_of >= last:
                waiting.discard(patient)
                done = max(done, stamp)
    if waiting:
        raise SystemExit(f"{len(waiting)} patients not evaluated through {last} in {timeout} s")
    cpu1 = cpu_jiffies()
    return {"t0": t0, "alert_s": done - t0,
            "checks": sum(stamp <= done for stamp, _, _ in log.entries),
            "cpu_busy": (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])}


async def _latency(broker: EmbeddedBroker, name: str, trickle: list[Record],
                   log: EvaluatedLog, rate: float, timeout: float) -> dict[str, Any]:
    """Per trickled grid, when it was published, and publish -> the first evaluation of the
    patient as of that day or later committed after the publish."""
    keys = [(patient, day) for patient, day, _ in trickle]
    sent = dict(zip(keys, await publish(broker.bootstrap, f"{name}.daygrids", trickle,
                                        rate=rate)))
    pending = dict(sent)
    alert: list[float] = []
    deadline = time.time() + timeout
    while pending and time.time() < deadline:
        log.read()
        for (patient, day), published in list(pending.items()):
            done = [t for t, p, as_of in log.entries if p == patient and as_of >= day
                    and t >= published]
            if done:
                alert.append(min(done) - published)
                del pending[patient, day]
        await asyncio.sleep(0.2)
    return {"sent": sent, "alert_p50": percentile(alert, 50),
            "alert_p95": percentile(alert, 95), "alert_lost": len(pending)}


async def _summaries(broker: EmbeddedBroker, name: str, backlog: list[Record],
                     trickle: list[Record], found: Mapping[str, Any], timeout: float
                     ) -> dict[str, float]:
    """From the summaries the workers produced (read once the run is over): seconds from the
    first publish to the backlog's last summary, publish -> summary per trickled grid, and
    duplicate or missing summaries."""
    backlog_keys = {(patient, day) for patient, day, _ in backlog}
    sent = found["sent"]
    got, duplicates = await summary_times(broker.bootstrap, f"{name}.daily",
                                          backlog_keys | sent.keys(), timeout)
    if not backlog_keys <= got.keys():
        raise SystemExit(f"only {len(backlog_keys & got.keys())} of {len(backlog_keys)} "
                         "backlog summaries")
    summary = [got[k] - t for k, t in sent.items() if k in got]
    return {"summary_s": max(got[k] for k in backlog_keys) - found["t0"],
            "summary_p50": percentile(summary, 50), "summary_p95": percentile(summary, 95),
            "summary_lost": len(sent.keys() - got.keys()), "duplicates": duplicates}


def _server_cpu(seconds: float | None, patient_days: int) -> str:
    if seconds is None:
        return "not seen (SQLite runs in the workers; a remote server is not measured)"
    return f"{seconds * 1000 / patient_days:.2f}"


def main() -> None:
    if sys.argv[1:] in (["worker"], ["free-worker"]):
        return bench_worker(free=sys.argv[1] == "free-worker")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--trickle", type=int, default=250, help="grids in the latency phase")
    parser.add_argument("--trickle-rate", type=float, default=50.0, help="grids/s")
    parser.add_argument("--order", choices=("day", "upload"), default="day",
                        help="backlog order: day by day across the cohort (one alert check per "
                             "patient-day at most), or each patient's days together (an export "
                             "each)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of each worker count, alternating their order; with two "
                             "counts the scaling is given per round and as the median")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--db", help="database URL, or postgresql-temp (default: a fresh "
                                     "SQLite file per worker count)")
    args = parser.parse_args()
    trickle_days = -(-args.trickle // args.patients)
    # Complete days only: the last trickled day is yesterday; the programme starts 30 days
    # before the backlog.
    first = datetime.now(ZoneInfo(TZ)).date() - timedelta(days=args.days + trickle_days)
    start = first - timedelta(days=30)
    backlog = cohort(args.patients, args.days, first)
    if args.order == "upload":
        backlog = upload_order(backlog)
    trickle = cohort(args.patients, trickle_days, first + timedelta(days=args.days),
                     seed=2)[:args.trickle]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        produce, consume = asyncio.run(raw_ceiling(broker.bootstrap, backlog))
        print(f"raw aiokafka: produce {produce:,.0f} msg/s, consume {consume:,.0f} msg/s "
              f"({len(backlog)} grid messages, "
              f"{np.mean([len(v) for _, _, v in backlog]) / 1024:.1f} KiB each)", flush=True)
        free = run(1, args, broker, backlog, trickle, start, Path(tmp), "free-worker")
        print(f"free handlers (the agents with no database, summaries made up, no alerts), 1 "
              f"worker: to last alert check {free['alert_rate']:,.0f} patient-days/s "
              f"({free['alert_rate'] / produce:.3f}x raw produce, "
              f"{free['alert_rate'] / consume:.3f}x raw consume); worker CPU "
              f"{free['cpu_workers'] * 1000 / free['patient_days']:.2f} ms per patient-day",
              flush=True)
        results: dict[int, list[dict[str, Any]]] = {n: [] for n in args.workers}
        for i in range(args.rounds):
            # Alternate the order of worker counts, so drift of the machine's speed during a
            # round (other tenants, CPU frequency) does not always favour the same count.
            for n in (args.workers if i % 2 == 0 else args.workers[::-1]):
                r = run(n, args, broker, backlog, trickle, start, Path(tmp), round_=i)
                results[n].append(r)
                print(f"round {i + 1}: " if args.rounds > 1 else "", end="")
                print(describe(r, free, produce, consume, len(trickle), args.trickle_rate),
                      flush=True)
    if len(results) == 2:
        one, two = (results[n] for n in args.workers)
        for key, label in (("summary_rate", "to last summary"),
                           ("alert_rate", "to last alert evaluation")):
            ratios = [b[key] / a[key] for a, b in zip(one, two)]
            per_round = " ".join(f"{x:.2f}" for x in ratios)
            print(f"scaling ({args.workers[1]} vs {args.workers[0]} workers), {label}: "
                  + (f"median {statistics.median(ratios):.2f}x of rounds {per_round}"
                     if len(ratios) > 1 else f"{per_round}x"))


def describe(r: Mapping[str, Any], free: Mapping[str, Any], produce: float, consume: float,
             trickled: int, trickle_rate: float) -> str:
    """The report of one run (:func:`run`)."""
    n_days = r["patient_days"]
    return (f"{r['workers']} worker(s), {n_days} patient-days:\n"
            f"  to last summary {r['summary_s']:.1f} s = {r['summary_rate']:,.0f} "
            f"patient-days/s ({r['summary_rate'] / produce:.3f}x raw produce, "
            f"{r['summary_rate'] / consume:.3f}x raw consume)\n"
            f"  to last alert evaluation {r['alert_s']:.1f} s = {r['alert_rate']:,.0f} "
            f"patient-days/s ({r['alert_rate'] / produce:.3f}x raw produce, "
            f"{r['alert_rate'] / consume:.3f}x raw consume, "
            f"{r['alert_rate'] / free['alert_rate']:.2f}x free handlers); "
            f"{r['checks']:.0f} alert "
            f"checks evaluated ({n_days / r['checks']:.1f} patient-days each); "
            f"machine CPU {r['cpu_busy']:.0%} busy ({os.cpu_count()} cores); CPU ms "
            f"per patient-day: workers {r['cpu_workers'] * 1000 / n_days:.2f}, broker "
            f"{r['cpu_broker'] * 1000 / n_days:.2f}, database server "
            f"{_server_cpu(r['cpu_database'], n_days)}, this bench "
            f"(publisher, log reader) "
            f"{r['cpu_bench'] * 1000 / n_days:.2f}\n"
            f"  trickle {trickled} grids at {trickle_rate:g}/s: publish->summary"
            f" p50 {r['summary_p50'] * 1000:.0f} ms, p95 {r['summary_p95'] * 1000:.0f} ms;"
            f" publish->alert stored p50 {r['alert_p50'] * 1000:.0f} ms, "
            f"p95 {r['alert_p95'] * 1000:.0f} ms"
            f"\n  duplicate summaries: {r['duplicates']:.0f}; trickled grids never "
            f"summarized {r['summary_lost']:.0f}, never evaluated {r['alert_lost']:.0f}")


if __name__ == "__main__":
    main()
