"""A stored cohort for the overview's tests and its benchmark: patients with daily summaries,
uploads and alerts written through the storage layer (no parsing, so 2,000 patients × 90
days load in seconds).

Profiles (by patient number): on track, underactive, not wearing (uploads of unworn days),
stopped syncing 10 days ago, one overload spike yesterday, and never sent anything.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from alerts.rule_params import DEFAULT_PARAMS
from rehabwatch.service import evaluate_patients
from schemas.alert_records import Alert, AlertStatus, Severity, Transition
from schemas.records import DailySummary
from storage import alerts, database, grids, patients, summaries, uploads
from storage.tables import Upload

PROFILES = ("on_track", "underactive", "not_wearing", "not_syncing", "spike", "never_sent")
PROCEDURES = ("microdiscectomy", "decompression", "fusion", "conservative")


@dataclass(frozen=True)
class Enrolled:
    patient_id: str
    profile: str
    start: date


def _summary(pid: str, day: date, steps: float | None, worn: int) -> DailySummary:
    valid = steps is not None and worn >= 600
    return DailySummary(pid, day, steps, valid, True, worn, worn, "device", 60)


def _days(profile: str, rng: random.Random, pid: str, first: date, yesterday: date
          ) -> list[DailySummary]:
    out = []
    n = (yesterday - first).days + 1
    for i in range(n):
        day = first + timedelta(days=i)
        if profile == "not_syncing" and day > yesterday - timedelta(days=10):
            break
        if profile == "not_wearing" and day > yesterday - timedelta(days=6):
            out.append(_summary(pid, day, 0.0, 0))
            continue
        base = {"underactive": 900.0}.get(profile, 4500.0)
        steps = base * rng.uniform(0.8, 1.2)
        worn = 800 if rng.random() > 0.1 else 300  # one day in ten worn too little
        if profile == "spike" and day == yesterday:
            steps, worn = 14000.0, 800
        out.append(_summary(pid, day, round(steps), worn))
    return out


def fill_cohort(url: str, n: int, days: int, now: datetime, team: str = "north",
                seed: int = 7, teams: int = 1, prefix: str = "P", judged: bool = False
                ) -> list[Enrolled]:
    """Enrol ``n`` patients (spread over ``teams`` teams named ``team``, ``team-2``...) with
    ``days`` days of summaries up to their yesterday (zone UTC), ids ``prefix`` + number,
    and return them. Alerts: made up for the underactive and spiking (the reads' tests), or,
    ``judged``, the rules' own from judging every patient's days (real evidence sentences)."""
    rng = random.Random(seed)
    yesterday = now.astimezone(UTC).date() - timedelta(days=1)
    first = yesterday - timedelta(days=days - 1)
    enrolled = []
    with database.session_scope(url) as session:
        for k in range(n):
            pid = f"{prefix}{k:05d}"
            profile = PROFILES[k % len(PROFILES)]
            start = first + timedelta(days=rng.randrange(0, max(1, days - 14)))
            name = team if k % teams == 0 else f"{team}-{k % teams + 1}"
            patients.add(session, pid, PROCEDURES[k % len(PROCEDURES)], start, "UTC", name, {})
            enrolled.append(Enrolled(pid, profile, start))
        written = []
        for e in enrolled:
            if e.profile == "never_sent":
                continue
            found = _days(e.profile, rng, e.patient_id, first, yesterday)
            written += found
            last = found[-1].local_date
            synced = datetime.combine(last + timedelta(days=1), time(6), UTC)
            grids.advance_sync(session, {e.patient_id: synced})
            upload_id = uploads.add_upload(session, e.patient_id, "export.fit",
                                           f"{e.patient_id:0>64}", 1000, "fit", "stored",
                                           grids=len(found))
            session.get_one(Upload, upload_id).received_at = synced
            if e.profile in ("underactive", "spike") and not judged:
                alerts.save_alerts(session, [_alert(e, yesterday, now)])
        for i in range(0, len(written), 5000):
            summaries.upsert_summaries(session, written[i:i + 5000])
    if judged:
        with database.session_scope(url) as session:
            evaluate_patients(session, {e.patient_id: yesterday for e in enrolled},
                              DEFAULT_PARAMS, now)
    return enrolled


def _alert(e: Enrolled, day: date, now: datetime) -> Alert:
    rule = "underactivity" if e.profile == "underactive" else "overload_spike"
    severity = Severity.HIGH if e.profile == "underactive" else Severity.WARNING
    opened = now - timedelta(hours=5)
    return Alert(f"a-{e.patient_id}-{rule}", e.patient_id, rule, "clinician", severity,
                 AlertStatus.OPEN, day, opened, f"{rule} on {day}", {"day": day.isoformat()},
                 transitions=(Transition(AlertStatus.OPEN, opened, "rehabwatch", rule),))
