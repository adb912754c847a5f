"""Google Fit: every Google Fit file in the shared data (REST datasets from Open mHealth
shimmer), Takeout exports generated in the documented shape (no real Takeout is in the shared
data: its one public copy has no licence and holds personal data), defects, and the CLI."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from ingest.base import ParseContext, ParseResult
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.google_fit import PARSER
from ingest.registry import detect
from schemas.binning import bin_batch
from schemas.daygrid import DAY, HOUR, MINUTE, DayGrid
from tests.cli_e2e import ingest_and_summarize
from tests.conftest import device_file, device_files

FOLDER = "other_api_json/googlefit"
STEPS = f"{FOLDER}/googlefit-merge-step-deltas.json"
SEGMENTS = f"{FOLDER}/googlefit-merge-activity-segments.json"
TZ = "Asia/Kolkata"  # +05:30, no daylight saving: Takeout's offsets stay fixed
PARSED, EMPTY, REFUSED = "parsed", "empty", UnsupportedFormat
EXPECTED: dict[str, object] = {
    STEPS: PARSED, SEGMENTS: PARSED,
    f"{FOLDER}/googlefit-empty.json": EMPTY,
    f"{FOLDER}/googlefit-merge-activity-segments-only-sleep.json": EMPTY,  # self-reported
    f"{FOLDER}/googlefit-merge-activity-segments-only-stationary-activity.json": EMPTY,
    **{f"{FOLDER}/googlefit-merge-{kind}.json": REFUSED for kind in (
        "calories-expended", "heart-rate", "height", "location-samples", "speed", "weight")},
}
SELF_REPORTED = "self-reported point (user input), not a measurement"


def parse(data: bytes, filename: str = "fit.json", tz: str = TZ) -> ParseResult:
    return PARSER.parse(io.BytesIO(data), ParseContext("p1", tz, filename))


def grids(result: ParseResult, tz: str = TZ) -> list[DayGrid]:
    return [g for s in result.series for g in bin_batch(s.batch, "p1", tz)]


def ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


def rest(data_type: str, points: list[tuple[int, int, int, str]]) -> bytes:
    """A REST dataset of (start ns, end ns, intVal, origin) points."""
    return json.dumps({"minStartTimeNs": "0", "maxEndTimeNs": "0",
                       "dataSourceId": f"derived:{data_type}:com.google.android.gms:merged",
                       "point": [{"startTimeNanos": str(s), "endTimeNanos": str(e),
                                  "dataTypeName": data_type, "originDataSourceId": o,
                                  "value": [{"intVal": v}], "modifiedTimeMillis": "0"}
                                 for s, e, v, o in points]}).encode()


PHONE = "raw:com.google.step_count.cumulative:vivo:V2312:0a1b:STEP_COUNTER"
IST = timezone(timedelta(hours=5, minutes=30))
#: A synthetic two-day phone record: (local start, seconds, steps), in +05:30.
WALKS = [(datetime(2025, 2, 1, 8, 3, 10, tzinfo=IST), 95, 140),
         (datetime(2025, 2, 1, 8, 14, 40, tzinfo=IST), 47, 61),  # crosses 08:15
         (datetime(2025, 2, 1, 21, 30, 0, tzinfo=IST), 240, 410),
         (datetime(2025, 2, 1, 23, 59, 30, tzinfo=IST), 60, 70),  # crosses midnight
         (datetime(2025, 2, 2, 7, 0, 5, tzinfo=IST), 180, 300)]


def takeout_json() -> bytes:
    """Takeout's All Data shape: "Data Source", "Data Points", fitValue, numbers."""
    points = [{"fitValue": [{"value": {"intVal": steps}}], "originDataSourceId": PHONE,
               "endTimeNanos": ns(at + timedelta(seconds=length)),
               "dataTypeName": "com.google.step_count.delta", "startTimeNanos": ns(at),
               "modifiedTimeMillis": 0, "rawTimestampNanos": 0} for at, length, steps in WALKS]
    return json.dumps({"Data Source": "derived:com.google.step_count.delta:"
                                      "com.google.android.gms:estimated_steps",
                       "Data Points": points}).encode()


QUARTER_HEADER = ("Start time,End time,Move Minutes count,Calories (kcal),Distance (m),Heart "
                  "Points,Heart Minutes,Low latitude (deg),Low longitude (deg),High latitude "
                  "(deg),High longitude (deg),Average speed (m/s),Max speed (m/s),Min speed "
                  "(m/s),Step count,Average weight (kg),Max weight (kg),Min weight (kg),"
                  "Walking duration (ms)\n")
DAYS_HEADER = ("Date,Move Minutes count,Calories (kcal),Distance (m),Heart Points,Heart Minutes,"
               "Low latitude (deg),Low longitude (deg),High latitude (deg),High longitude "
               "(deg),Average speed (m/s),Max speed (m/s),Min speed (m/s),Step count,Average "
               "weight (kg),Max weight (kg),Min weight (kg),Walking duration (ms),Running "
               "duration (ms)\n")


def takeout_day_csv(day: date, steps: dict[int, float]) -> bytes:
    """A Takeout day file: 96 rows of 15 minutes, Step count by quarter (empty if none)."""
    rows = []
    for q in range(96):
        start = datetime(2000, 1, 1) + timedelta(minutes=15 * q)
        end = start + timedelta(minutes=15)
        count = f"{steps[q]:g}" if q in steps else ""
        rows.append(f"{start:%H:%M:%S}.000+05:30,{end:%H:%M:%S}.000+05:30,,14.16,,,,,,,,,,,"
                    f"{count},,,,\n")
    return (QUARTER_HEADER + "".join(rows)).encode()


def quarters_of_walks() -> dict[date, dict[int, float]]:
    """The synthetic walks' steps by local day and quarter hour (shared over their seconds)."""
    out: dict[date, dict[int, float]] = {}
    for at, length, steps in WALKS:
        for second in range(length):
            t = at + timedelta(seconds=second)
            day = out.setdefault(t.date(), {})
            q = (t.hour * 60 + t.minute) // 15
            day[q] = day.get(q, 0.0) + steps / length
    return out


def test_every_google_fit_file_has_an_expected_outcome() -> None:
    found = set(device_files(f"{FOLDER}/*"))
    assert found == set(EXPECTED)
    for name, outcome in EXPECTED.items():
        data = device_file(name).read_bytes()
        assert detect(data, Path(name).name).name == "google-fit"
        if outcome is REFUSED:
            with pytest.raises(UnsupportedFormat, match="upload the step count deltas"):
                parse(data)
        else:
            assert bool(parse(data).series) == (outcome == PARSED)


def test_step_deltas_keep_every_measured_step_and_skip_typed_ones() -> None:
    document = json.loads(device_file(STEPS).read_text())
    measured = sum(p["value"][0]["intVal"] for p in document["point"]
                   if not p["originDataSourceId"].endswith(":user_input"))
    result = parse(device_file(STEPS).read_bytes())
    assert result.skipped == {SELF_REPORTED: 2} and result.records == 4
    days = grids(result, "UTC")
    assert sum(g.total_steps for g in days) == pytest.approx(measured) and measured == 4163
    nike = days[0]  # 4146 steps over 35 min 41 s: shared over those minutes, no others
    covered = np.flatnonzero(nike.covered)
    assert (covered[0], covered[-1]) == (22 * 60 + 49, 23 * 60 + 25)
    assert nike.resolution_s == MINUTE and nike.total_steps == pytest.approx(4146)


def test_segments_give_stepping_and_sedentary_evidence_without_steps() -> None:
    result = parse(device_file(SEGMENTS).read_bytes())
    assert result.skipped == {SELF_REPORTED: 1}
    walk, aerobics = grids(result, "UTC")
    assert np.nansum(walk.stepping_s) == pytest.approx(4072)  # Strava walk, 4,072 s
    assert np.nansum(walk.sedentary_s) == 0 and np.isnan(walk.steps).all()
    assert np.nansum(aerobics.stepping_s) == 0 == np.nansum(aerobics.sedentary_s)
    still, sleep, unknown = (datetime(2025, 2, 1, h, tzinfo=timezone.utc) for h in (9, 12, 18))
    hour = 3_600_000_000_000
    device = rest("com.google.activity.segment",
                  [(ns(still), ns(still) + hour, 3, "raw:…:wear_os"),
                   (ns(sleep), ns(sleep) + hour, 72, "raw:…:wear_os"),
                   (ns(unknown), ns(unknown) + hour, 4, "raw:…:wear_os")])
    (day,) = grids(parse(device), "UTC")
    assert day.sedentary_s[9 * 60:10 * 60].sum() == 3600
    assert day.sedentary_s[12 * 60:13 * 60].sum() == 0 == day.stepping_s[12 * 60:13 * 60].sum()
    assert np.isnan(day.sedentary_s[18 * 60:19 * 60]).all()


def test_takeout_json_and_daily_csvs_agree_day_by_day() -> None:
    """The same phone record in Takeout's three shapes: All Data points (minute grid), the
    per-day 15-minute CSVs (hourly grid, date from the file name, times with offset) and the
    Daily activity metrics summary (daily grid) give the same steps per local day."""
    quarters = quarters_of_walks()
    minute = {g.local_date: g.total_steps for g in grids(parse(takeout_json()))}
    hourly: dict[date, float] = {}
    for day, steps in quarters.items():
        data = takeout_day_csv(day, steps)
        assert detect(data, f"{day}.csv").name == "google-fit"
        (grid,) = grids(parse(data, f"{day}.csv"))
        assert (grid.local_date, grid.resolution_s) == (day, HOUR)
        hourly[day] = grid.total_steps
    summary = DAYS_HEADER + "".join(f"{day},1,1500.0,100.0,,,,,,,,,,{round(sum(s.values()))},"
                                    ",,,,\n" for day, s in quarters.items())
    daily = {g.local_date: g.total_steps for g in grids(parse(summary.encode(),
                                                              "Daily activity metrics.csv"))}
    assert set(minute) == set(hourly) == set(daily) == {date(2025, 2, 1), date(2025, 2, 2)}
    for day in daily:
        assert minute[day] == pytest.approx(hourly[day]) == pytest.approx(daily[day], abs=0.5)
    assert {g.resolution_s for g in grids(parse(summary.encode(), "x.csv"))} == {DAY}


def test_a_takeout_day_file_needs_its_date_in_its_name() -> None:
    data = takeout_day_csv(date(2025, 2, 1), {32: 140})
    (grid,) = grids(parse(data, "2025-02-01(1).csv"))
    assert grid.steps[8] == 140  # 08:00-08:15 +05:30
    with pytest.raises(CorruptFile, match="date comes from the file's name"):
        parse(data, "my steps.csv")


@pytest.mark.parametrize("edit, error, match", [
    (lambda t: t.replace('"intVal": 4146', '"intVal": "lots"'), CorruptFile,
     "point 1 has a value that is not a whole number"),
    (lambda t: t.replace('"intVal": 4146', '"intVal": 41.5'), CorruptFile, "not a whole number"),
    (lambda t: t.replace('"1422917379811000000"', '"yesterday"'), CorruptFile,
     "not a whole number of nanoseconds"),
    (lambda t: t[:len(t) // 2], CorruptFile, "cut short"),
    (lambda t: t.replace("step_count.delta:com.google.android.gms:merge",
                         "step_count.cumulative:com.google.android.gms:merge"),
     UnsupportedFormat, "raw cumulative step counter"),
], ids=["non-numeric steps", "fractional steps", "bad time", "truncated", "cumulative"])
def test_malformed_datasets_are_refused_clearly(edit, error, match) -> None:
    with pytest.raises(error, match=match):
        parse(edit(device_file(STEPS).read_text()).encode())


def test_duplicate_overlapping_and_long_points_are_skipped_and_counted() -> None:
    t0 = ns(datetime(2025, 2, 1, 6, tzinfo=timezone.utc))
    minute = 60_000_000_000
    data = rest("com.google.step_count.delta", [
        (t0, t0 + minute, 50, PHONE), (t0, t0 + minute, 50, PHONE),  # duplicate
        (t0 + minute // 2, t0 + 2 * minute, 70, PHONE),  # overlaps the first
        (t0 + 2 * minute, t0 + 3 * minute, 30, PHONE),
        (t0 + 5 * minute, t0 + 70 * minute, 900, PHONE)])  # 65 minutes: too coarse
    result = parse(data)
    assert result.skipped == {"duplicate point": 1,
                              "point overlapping an earlier one (never added twice)": 1,
                              "step count over more than an hour (not spread into minutes)": 1}
    assert sum(g.total_steps for g in grids(result)) == 80


def test_takeout_csv_defects() -> None:
    data = takeout_day_csv(date(2025, 2, 1), {32: 140}).decode()
    with pytest.raises(CorruptFile, match="Step count is not a non-negative number"):
        parse(data.replace(",140,", ",many,").encode(), "2025-02-01.csv")
    with pytest.raises(CorruptFile, match="hh:mm:ss.fff"):
        parse(data.replace("08:00:00.000+05:30,08:15", "8 am,08:15").encode(), "2025-02-01.csv")
    result = parse(data.rstrip("\n")[:-12].encode(), "2025-02-01.csv")
    assert result.records == 95 and "cut short" in (result.partial or "")


def test_end_to_end_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    upload, days = ingest_and_summarize(device_file(STEPS), "UTC", tmp_path, monkeypatch, capsys)
    assert (upload["status"], upload["format"], upload["steps"]) == ("stored", "google-fit", 4163)
    assert upload["skipped"] == {SELF_REPORTED: 2}
    assert [(d["local_date"], round(d["steps"])) for d in days] == [
        ("2015-02-02", 4146), ("2015-07-10", 17)]


@pytest.mark.parametrize("name", [STEPS, SEGMENTS])
@pytest.mark.parametrize("chunk", [1, 7])
def test_points_streamed_in_small_chunks_equal_one_chunk(monkeypatch: pytest.MonkeyPatch,
                                                         name: str, chunk: int) -> None:
    """Points streamed a few at a time (each repeated in a later chunk) give the batch and
    skip counts of one whole read."""
    import ingest.google_fit as google_fit

    document = json.loads(device_file(name).read_bytes())
    document["point"] = document["point"] * 2
    data = json.dumps(document).encode()
    whole = parse(data)
    monkeypatch.setattr(google_fit, "CHUNK", chunk)
    streamed = parse(data)
    assert streamed.skipped == whole.skipped and streamed.records == whole.records
    assert whole.skipped["duplicate point"] > 0
    a, b = streamed.series[0].batch, whole.series[0].batch
    for field in ("start", "duration", "steps", "sedentary_s", "stepping_s"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
