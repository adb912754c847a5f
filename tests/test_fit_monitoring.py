"""FIT monitoring files: day totals against the device's own midnight summary rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from ingest.base import ParseContext, ParseResult
from ingest.fit import PARSER
from processors.merge import merge_day
from processors.summary import summarize_days
from schemas.binning import bin_batch
from schemas.daygrid import WORN, DayGrid
from tests.conftest import device_file, device_files
from tests.fit_evidence import device_counts, device_zone, midnight_totals

MONITORING = [Path(rel) for rel in device_files("fit/monitoring/*.fit")]
FIRST, CONTINUED = "andrew@acooke.org_24696160481.fit", "andrew@acooke.org_24696163486.fit"


def parse(path: Path, tz: str = "UTC") -> ParseResult:
    return PARSER.parse(io.BytesIO(path.read_bytes()), ParseContext("p1", tz, filename=path.name))


def grids(path: Path) -> list[DayGrid]:
    tz = device_zone(path)
    result = parse(path, tz)
    return [g for s in result.series for g in bin_batch(s.batch, "p1", tz)]


def monitoring_files() -> list[Path]:
    return [device_file(rel.as_posix()) for rel in MONITORING] + [
        device_file("fit/sdk_samples/MonitoringFile.fit")]


def monitoring_file(name: str) -> Path:
    folder = "sdk_samples" if name == "MonitoringFile.fit" else "monitoring"
    return device_file(f"fit/{folder}/{name}")


@pytest.mark.parametrize("name", [p.name for p in MONITORING] + ["MonitoringFile.fit"])
def test_day_totals_equal_device_midnight_rows(name: str) -> None:
    path = monitoring_file(name)
    result = parse(path, device_zone(path))
    assert result.partial is None and result.series
    batch = result.series[0].batch
    assert batch.source.kind == "garmin-fit" and batch.source.device in ("fr35", "vivo_fit")
    assert batch.resolution_s == 60 and np.all(batch.duration >= 0)
    by_day = {g.local_date: g.total_steps for g in grids(path)}
    for day, total in midnight_totals(path).items():
        assert by_day[day] == pytest.approx(total), day


@pytest.mark.parametrize("name", [p.name for p in MONITORING] + ["MonitoringFile.fit"])
def test_day_totals_equal_the_device_counters(name: str) -> None:
    """Alone, each file's days total the device's own count at the file's last row, also when
    the file starts in the middle of the day (its first counters: steps of unknown time)."""
    path = monitoring_file(name)
    assert {g.local_date: pytest.approx(g.total_steps) for g in grids(path)} == \
        device_counts(path)


def test_full_day_files_have_a_midnight_row() -> None:
    """The check above is not vacuous: these files each end with a day-total row."""
    for path in map(monitoring_file, ("andrew@acooke.org_24696157869.fit", CONTINUED,
                                      "MonitoringFile.fit")):
        assert midnight_totals(path), path.name


def test_continued_file_does_not_double_count() -> None:
    """A file and its continuation, overlaid slot-wise in either order, give the device's
    total; the continuation alone spreads its starting counters over the hours before it."""
    first, second = map(monitoring_file, (FIRST, CONTINUED))
    (old,), (new,) = grids(first), grids(second)
    assert old.local_date == new.local_date
    total = pytest.approx(sum(midnight_totals(second).values()))
    assert old.overlay(new).total_steps == new.overlay(old).total_steps == total
    assert new.total_steps == total
    assert old.overlay(new).same_data(new.overlay(old))


def test_posture_and_wear() -> None:
    path = monitoring_file("andrew@acooke.org_24696157869.fit")
    (day,) = [g for g in grids(path) if g.n_slots == 1440]
    assert day.sedentary_s is not None and day.stepping_s is not None
    covered = ~np.isnan(day.sedentary_s)
    assert np.nansum(day.sedentary_s) > 12 * 3600  # a full day of an office worker's watch
    assert np.all(day.sedentary_s[covered] + day.upright_s[covered] + day.stepping_s[covered]
                  <= 60 + 1e-6)
    stepping = day.steps > 0
    assert np.all(day.worn[stepping] == WORN)


def test_timestamp_16_is_monotonic() -> None:
    for path in monitoring_files():
        start = parse(path).series[0].batch.start
        assert np.all(np.diff(start) >= 0), path.name


def test_unknown_activity_type_is_kept_without_posture() -> None:
    """Type 9 (not in the profile) opens the continued file: an interval with no posture."""
    path = monitoring_file(CONTINUED)
    batch = parse(path).series[0].batch
    assert batch.sedentary_s is not None
    assert np.isnan(batch.sedentary_s).any() and len(batch) > 200


@pytest.mark.parametrize("name", [p.name for p in MONITORING] + ["MonitoringFile.fit"])
def test_daily_summaries_report_the_device_day_totals(name: str) -> None:
    """Through merge and summary, each full day's steps are the device's own midnight total."""
    path = monitoring_file(name)
    by_day = {g.local_date: g for g in grids(path)}
    totals = midnight_totals(path)
    summaries = {s.local_date: s for s in summarize_days(
        [merge_day([by_day[d]]) for d in sorted(totals) if d in by_day])}
    assert set(summaries) == set(totals)
    for day, total in totals.items():
        s = summaries[day]
        assert s.steps == pytest.approx(total), day
        assert [src.split(":")[0] for src in s.sources] == ["garmin-fit"]
        assert s.wear_method.startswith("device")  # the monitoring rows are wear evidence
        assert s.walking_minutes + s.stationary_minutes <= s.wear_minutes <= 1440
