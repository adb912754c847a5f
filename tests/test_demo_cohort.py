"""The demo cohort: its make-up, its export files (real formats, read back by our parsers as
planned), and, through the real ingest and ``rehabwatch evaluate``, exactly the alerts each
story was built to raise."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.base import ParseContext
from ingest.plausibility import DEFAULT_BOUNDS
from ingest.registry import detect
from ingest.upload import parse_upload
from rehabwatch.demo import run
from rehabwatch.demo_cohort import (ALL_EXPORTS, EXPECTED, PROCEDURES, SILENT_DAYS, TEAMS,
                                    cohort, plan_days, yesterday)
from rehabwatch.demo_exports import write_exports
from rehabwatch.service import Service
from rehabwatch.settings import Settings
from rehabwatch.views import alert_doc
from storage import database

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=timezone.utc)


def test_the_cohort_spans_procedures_phases_zones_teams_formats_and_stories() -> None:
    patients = cohort(NOW)
    assert len(patients) >= 40 and len({p.id for p in patients}) == len(patients)
    assert {p.procedure for p in patients} == set(PROCEDURES)
    assert {p.team for p in patients} == set(TEAMS) and len({p.tz for p in patients}) >= 4
    assert {p.export for p in patients} - {""} == set(ALL_EXPORTS)
    assert set(Counter(p.story for p in patients)) == set(EXPECTED)
    weeks = {(yesterday(p.tz, NOW) - p.start_date).days // 7 for p in patients}
    assert min(weeks) <= 1 and max(weeks) >= 16  # protected walking to return to life
    assert cohort(NOW) == patients  # seeded


def test_stories_leave_out_or_unwear_the_last_days() -> None:
    for p in cohort(NOW):
        days = plan_days(p, NOW)
        last = yesterday(p.tz, NOW)
        if p.story == "never":
            assert days == []
        elif p.story == "silent":
            assert days[-1].local_date == last - timedelta(days=SILENT_DAYS)
        else:
            assert days[-1].local_date == last
            unworn = [d.local_date for d in days if not d.worn]
            expected = SILENT_DAYS if p.story == "not_worn" else 0
            assert len(unworn) == expected and all(d.total == 0 for d in days if not d.worn)


@pytest.mark.parametrize("export", ALL_EXPORTS)
def test_each_export_is_detected_and_reads_back_as_planned(export: str, tmp_path: Path) -> None:
    """Every day's steps as planned, whatever the format (activPAL counts strides: steps of a
    minute rounded to an even number), none on a day not worn (a not-worn patient's where the
    format has one: Apple Health leaves such days out)."""
    sending = [p for p in cohort(NOW) if p.export == export]
    patient = next((p for p in sending if p.story == "not_worn"), sending[0])
    days = plan_days(patient, NOW)
    files = write_exports(patient, days, tmp_path)
    grids = []
    for path in files:
        data = path.read_bytes()
        assert detect(data[:4096], path.name).name == export
        with path.open("rb") as stream:
            ctx = ParseContext(patient.id, patient.tz, path.name)
            result, found = parse_upload(stream, ctx, "auto", hashlib.sha256(data).hexdigest(),
                                         DEFAULT_BOUNDS, NOW)
        assert not result.partial and not result.skipped, (result.partial, result.skipped)
        grids += found
    got = Counter()
    for grid in grids:
        got[grid.local_date] += grid.total_steps
    tolerance = 0.02 if export == "activpal" else 0.0
    for day in days:
        if day.worn:
            assert got[day.local_date] == pytest.approx(day.total, rel=tolerance, abs=1)
        else:
            assert got[day.local_date] == 0


@pytest.fixture(scope="module")
def batch_alerts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[str, str, str]]]:
    out = tmp_path_factory.mktemp("demo") / "batch"
    env = pytest.MonkeyPatch()
    for name in ("RW_DATABASE_URL", "RW_KAFKA_URL"):
        env.delenv(name, raising=False)
    try:
        assert run(out, batch=True) == 0
    finally:
        env.undo()
    url = f"sqlite:///{out / 'rehabwatch.db'}"
    found: dict[str, set[tuple[str, str, str]]] = {}
    for a in (alert_doc(a) for a in Service(Settings(database_url=url)).alerts()):
        found.setdefault(a["patient_id"], set()).add((a["rule"], a["audience"], a["status"]))
    database.engine(url).dispose()
    return found


def test_each_story_raises_its_alerts_and_on_track_patients_none(
        batch_alerts: dict[str, set[tuple[str, str, str]]]) -> None:
    wrong = {p.id: (p.story, batch_alerts.get(p.id, set()))
             for p in cohort(datetime.now(timezone.utc))
             if batch_alerts.get(p.id, set()) != {(*rule, "open") for rule in EXPECTED[p.story]}}
    assert not wrong
