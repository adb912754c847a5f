"""Stream benchmark: a synthetic cohort through the real embedded broker and real workers.

    .venv/bin/python bench/bench_stream.py [--patients 200] [--days 30] [--workers 1 2]

Measures, in one run: the raw aiokafka produce and consume rate of the same grid messages
(the ceiling); per worker count, patient-days/s from the first publish to the last daily
summary out of the pipeline (grid stored, day merged and summarized, summary emitted, alert
check emitted and evaluated); and publish -> summary latency (p50/p95) of day grids trickled in
at a steady rate once the backlog is gone. Workers use a fresh SQLite database each
(``--db postgresql://...`` to use a server instead; it is emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rehabwatch import db  # noqa: E402
from rehabwatch.broker import EmbeddedBroker, free_port  # noqa: E402
from schemas.daygrid import MINUTE, WORN, DayGrid, Source, slot_count  # noqa: E402
from schemas.models import Patient  # noqa: E402
from schemas.wire import HEADER_ORIGIN_MS, encode_grid  # noqa: E402
from rehabwatch.worker import run_worker  # noqa: E402

TZ = "Europe/London"


def cohort(patients: int, days: int, first: date, seed: int = 1) -> list[tuple[str, bytes]]:
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
            out.append((grid.patient_id, encode_grid(grid)))
    return out


async def publish(bootstrap: str, topic: str, records: list[tuple[str, bytes]],
                  rate: float | None = None) -> float:
    """Publish; return the wall time of the first send. ``rate`` paces messages per second."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_request_size=4_000_000)
    await producer.start()
    started = time.time()
    try:
        for i, (key, value) in enumerate(records):
            if rate:
                await asyncio.sleep(max(0.0, started + i / rate - time.time()))
            await producer.send(topic, value, key=key.encode(),
                                headers=[(HEADER_ORIGIN_MS, str(int(time.time() * 1000)).encode())])
        await producer.flush()
    finally:
        await producer.stop()
    return started


async def collect(bootstrap: str, topic: str, n: int, timeout: float) -> list[tuple[float, int]]:
    """(receipt time, origin ms) of the next ``n`` messages on ``topic``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                enable_auto_commit=False, fetch_max_bytes=50_000_000)
    await consumer.start()
    await consumer.seek_to_end()
    out: list[tuple[float, int]] = []
    deadline = time.time() + timeout
    try:
        while len(out) < n and time.time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                now = time.time()
                out += [(now, int(dict(m.headers).get(HEADER_ORIGIN_MS, b"0"))) for m in batch]
    finally:
        await consumer.stop()
    return out


async def raw_ceiling(bootstrap: str, records: list[tuple[str, bytes]]) -> tuple[float, float]:
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


def fresh_database(url: str, patients: int, start: date) -> None:
    if url.startswith("postgresql"):
        from sqlalchemy import text
        with db.engine(url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade(url)
    with db.session_scope(url) as session:
        session.add_all(Patient(id=f"bench-{p}", procedure="microdiscectomy", start_date=start,
                                tz=TZ) for p in range(patients))


def start_workers(n: int, env: dict[str, str], tmp: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        log = open(tmp / f"worker{i}.log", "wb")
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "worker"], cwd=REPO,
            env={**env, "RW_WORKER_WEB_PORT": str(free_port())}, stdout=log,
            stderr=subprocess.STDOUT))
    logs = [tmp / f"worker{i}.log" for i in range(n)]
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


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(workers: int, args: argparse.Namespace, broker: EmbeddedBroker, backlog, trickle,
        start: date, tmp: Path) -> dict[str, float]:
    url = args.db or f"sqlite:///{tmp / f'bench{workers}.db'}"
    fresh_database(url, args.patients, start)
    name = f"b{workers}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RW_KAFKA_URL": broker.url,
           "RW_DATABASE_URL": url, "RW_STREAM_APP_ID": name, "RW_TOPIC_PARTITIONS": "8",
           "RW_STREAM_DATADIR": str(tmp / name), "RW_LOG_LEVEL": "info",
           "RW_KAFKA_SESSION_TIMEOUT_S": "10",
           **{f"RW_TOPIC_{t.upper()}": f"{name}.{t}"
              for t in ("daygrids", "daily", "candidates", "events", "deadletter")}}
    procs = start_workers(workers, env, tmp)
    try:
        got = asyncio.run(_measure(broker, name, backlog, args.timeout))
        t0, done = got
        lat = asyncio.run(_latency(broker, name, trickle, args.trickle_rate, args.timeout))
    finally:
        stop(procs)
    return {"workers": workers, "patient_days": len(backlog), "seconds": done - t0,
            "rate": len(backlog) / (done - t0), **lat}


async def _measure(broker: EmbeddedBroker, name: str, backlog, timeout: float
                   ) -> tuple[float, float]:
    collector = asyncio.create_task(collect(broker.bootstrap, f"{name}.daily", len(backlog),
                                            timeout))
    await asyncio.sleep(1.0)  # let the collector join at the end of the topic
    t0 = await publish(broker.bootstrap, f"{name}.daygrids", backlog)
    got = await collector
    if len(got) < len(backlog):
        raise SystemExit(f"only {len(got)} of {len(backlog)} summaries within {timeout} s")
    return t0, max(t for t, _ in got)


async def _latency(broker: EmbeddedBroker, name: str, trickle, rate: float, timeout: float
                   ) -> dict[str, float]:
    daily = asyncio.create_task(collect(broker.bootstrap, f"{name}.daily", len(trickle),
                                        timeout))
    await asyncio.sleep(1.0)
    await publish(broker.bootstrap, f"{name}.daygrids", trickle, rate=rate)
    lags = [t - origin / 1000 for t, origin in await daily]
    return {"p50": percentile(lags, 50), "p95": percentile(lags, 95)}


def main() -> None:
    if sys.argv[1:] == ["worker"]:
        return run_worker()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--trickle-rate", type=float, default=50.0, help="grids/s")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file per run)")
    args = parser.parse_args()
    start = datetime.now(timezone.utc).date() - timedelta(days=args.days + 30)
    backlog = cohort(args.patients, args.days, start + timedelta(days=30))
    trickle = cohort(args.patients, 1, start + timedelta(days=30 + args.days), seed=2)[:250]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        produce_rate, consume_rate = asyncio.run(raw_ceiling(broker.bootstrap, backlog))
        print(f"raw aiokafka: produce {produce_rate:,.0f} msg/s, consume {consume_rate:,.0f} "
              f"msg/s ({len(backlog)} grid messages, "
              f"{np.mean([len(v) for _, v in backlog]) / 1024:.1f} KiB each)")
        results = [run(n, args, broker, backlog, trickle, start, Path(tmp))
                   for n in args.workers]
    for r in results:
        print(f"{r['workers']} worker(s): {r['patient_days']} patient-days in "
              f"{r['seconds']:.1f} s = {r['rate']:,.0f} patient-days/s; publish->summary "
              f"p50 {r['p50'] * 1000:.0f} ms, p95 {r['p95'] * 1000:.0f} ms")
    if len(results) == 2:
        print(f"scaling: {results[1]['rate'] / results[0]['rate']:.2f}x")


if __name__ == "__main__":
    main()
