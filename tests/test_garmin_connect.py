"""Garmin Connect JSON: every Connect file in the shared data, checked against each other
(the 15-minute buckets add up to the day's totalSteps), variants and defects, precedence
against other sources, and the CLI end to end."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from ingest.base import ParseContext, ParseResult
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.garmin_connect import PARSER
from ingest.registry import detect
from processors.merge import merge_day
from schemas.binning import bin_batch
from schemas.daygrid import DAY, HOUR, MINUTE, WEAR_UNKNOWN, WORN, DayGrid, Source
from tests.cli_e2e import ingest_and_summarize
from tests.conftest import device_file, device_files

FOLDER = "garmin_connect_json"
PREFIX = f"{FOLDER}/python-garminconnect_test_"
CHART = (f"{PREFIX}steps_data__wellness-service-wellness-dailySummaryChart-mtamizi-date-"
         "2023-07-01.json")
SUMMARY = (f"{PREFIX}user_summary__usersummary-service-usersummary-daily-mtamizi-calendarDate-"
           "2023-07-01.json")
STATS = f"{PREFIX}daily_steps__usersummary-service-stats-steps-daily-2023-07-01-2023-07-01.json"
HEART = (f"{PREFIX}heart_rates__wellness-service-wellness-dailyHeartRate-mtamizi-date-"
         "2023-07-01.json")
TZ = "America/Denver"  # UTC-6 in July, as the files' own GMT/local pairs say
DAY_1 = date(2023, 7, 1)
EXPECTED: dict[str, type | None] = {CHART: None, SUMMARY: None, STATS: None,
                                    HEART: UnsupportedFormat}


def parse(data: bytes, filename: str = "connect.json", tz: str = TZ) -> ParseResult:
    return PARSER.parse(io.BytesIO(data), ParseContext("p1", tz, filename))


def grids(result: ParseResult, tz: str = TZ) -> list[DayGrid]:
    return [g for s in result.series for g in bin_batch(s.batch, "p1", tz)]


def load(name: str) -> object:
    return json.loads(device_file(name).read_text())


def bucket(start: str, steps: object, level: str = "active") -> dict[str, object]:
    end = datetime.fromisoformat(start) + timedelta(minutes=15)
    return {"startGMT": start, "endGMT": end.isoformat() + ".0",
            "steps": steps, "pushes": 0, "primaryActivityLevel": level,
            "activityLevelConstant": True}


def test_every_connect_file_has_an_expected_outcome() -> None:
    found = set(device_files(f"{FOLDER}/*"))
    assert found == set(EXPECTED)
    for name, outcome in EXPECTED.items():
        assert detect(device_file(name).read_bytes(), Path(name).name).name == "garmin-connect"
        if outcome is not None:
            with pytest.raises(outcome, match="upload the daily summary chart"):
                parse(device_file(name).read_bytes())


def test_the_buckets_add_up_to_the_days_total_steps() -> None:
    total = load(SUMMARY)["totalSteps"]
    assert total == load(STATS)[0]["totalSteps"] == 12413
    (chart,) = grids(parse(device_file(CHART).read_bytes()))
    assert (chart.local_date, chart.resolution_s, chart.n_slots) == (DAY_1, HOUR, 24)
    assert chart.total_steps == total
    for name in (SUMMARY, STATS):
        (day,) = grids(parse(device_file(name).read_bytes()))
        assert (day.local_date, day.resolution_s, day.total_steps) == (DAY_1, DAY, total)


def test_each_local_hour_holds_its_four_gmt_buckets() -> None:
    """startGMT is UTC although it has no zone: hour h of the Denver day is 06:00Z + h."""
    hours = np.zeros(24)
    levels: list[list[str]] = [[] for _ in range(24)]
    for item in load(CHART):
        at = datetime.fromisoformat(item["startGMT"]).replace(tzinfo=timezone.utc)
        hour = at.astimezone(ZoneInfo(TZ)).hour
        hours[hour] += item["steps"]
        levels[hour].append(item["primaryActivityLevel"])
    (chart,) = grids(parse(device_file(CHART).read_bytes()))
    assert chart.steps.tolist() == hours.tolist()
    assert chart.sedentary_s.tolist() == [900.0 * lv.count("sedentary") for lv in levels]
    worn = [WORN if set(lv) - {"sedentary"} else WEAR_UNKNOWN for lv in levels]
    assert chart.worn.tolist() == worn


def test_another_zone_moves_the_buckets_not_the_total() -> None:
    days = grids(parse(device_file(CHART).read_bytes(), tz="Europe/London"), "Europe/London")
    assert [g.local_date for g in days] == [DAY_1, date(2023, 7, 2)]  # 06:00Z = 07:00 BST
    assert sum(g.total_steps for g in days) == 12413
    result = parse(device_file(SUMMARY).read_bytes(), tz="Europe/London")
    assert "UTC-6 h" in result.notes[0] and "UTC+1 h" in result.notes[0]
    assert parse(device_file(SUMMARY).read_bytes()).notes == []


def test_buckets_without_data_are_missing_and_odd_items_counted() -> None:
    items = [bucket("2023-07-01T06:00:00.0", 0, "none"), bucket("2023-07-01T06:15:00.0", 12),
             bucket("2023-07-01T06:30:00.0", None), bucket("2023-07-01T07:00:00.0", 0, "none")]
    result = parse(json.dumps(items).encode())
    assert result.skipped == {"item without steps": 1} and result.records == 4
    (day,) = grids(result)
    assert day.steps[0] == 12 and np.isnan(day.steps[1])


def test_connect_ranks_after_fit_and_before_fitbit() -> None:
    (connect,) = grids(parse(device_file(CHART).read_bytes()))
    fitbit = DayGrid("p1", Source("fitbit", "fitbit"), DAY_1, TZ, HOUR,
                     steps=np.full(24, 1000.0), worn=np.full(24, WORN, np.int8))
    merged = merge_day([fitbit, connect])
    assert merged.steps.tolist() == connect.steps.tolist()
    watch = DayGrid("p1", Source("garmin-fit", "fr935", "1"), DAY_1, TZ, MINUTE,
                    steps=np.full(1440, 5.0), worn=np.full(1440, WORN, np.int8))
    merged = merge_day([connect, watch])
    assert merged.resolution_s == MINUTE and merged.sources == (watch.source.key,)


@pytest.mark.parametrize("edit, error, match", [
    (lambda t: t.replace('"steps": 406', '"steps": "406"', 1), CorruptFile,
     r"steps is not a non-negative number in 1 item\(s\) \(item 23: '406'\)"),
    (lambda t: t[:len(t) // 2], CorruptFile, "cut short"),
    (lambda t: t.replace('"2023-07-01T11:30:00.0"', '"half past eleven"', 1), CorruptFile,
     "not ISO-8601"),
    (lambda t: t.replace('"endGMT": "2023-07-01T06:15:00.0"',
                         '"endGMT": "2023-07-01T09:15:00.0"', 1), CorruptFile, "within an hour"),
    (lambda t: "[" + t.lstrip()[1:].replace("{", "7, {", 1), CorruptFile, "not an object"),
], ids=["non-numeric steps", "truncated", "bad time", "long bucket", "not an object"])
def test_malformed_charts_are_refused_clearly(edit, error, match) -> None:
    with pytest.raises(error, match=match):
        parse(edit(device_file(CHART).read_text()).encode())


def test_other_payloads_are_refused_with_what_to_upload() -> None:
    with pytest.raises(UnsupportedFormat, match="upload the daily summary chart"):
        parse(b'{"userProfilePK": 1, "calendarDate": "2023-07-01", "sleepLevels": []}')
    with pytest.raises(UnsupportedFormat, match="not a Garmin Connect JSON document"):
        parse(b"calendarDate,totalSteps\n2023-07-01,1\n")


def test_step_statistics_skip_days_without_a_total() -> None:
    items = [{"calendarDate": "2023-07-01", "totalSteps": 500, "stepGoal": 7000},
             {"calendarDate": "2023-07-02", "totalSteps": None, "stepGoal": 7000}]
    result = parse(json.dumps(items).encode())
    assert result.skipped == {"item without totalSteps": 1}
    assert [(g.local_date, g.total_steps) for g in grids(result)] == [(DAY_1, 500.0)]


def test_end_to_end_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    upload, days = ingest_and_summarize(device_file(CHART), TZ, tmp_path, monkeypatch, capsys)
    assert (upload["status"], upload["format"], upload["steps"]) == (
        "stored", "garmin-connect", 12413)
    (day,) = days
    assert (day["local_date"], day["steps"], day["resolution_s"]) == ("2023-07-01", 12413, HOUR)
    assert day["sources"] == ["garmin-connect:garmin-connect:"]


@pytest.mark.parametrize("chunk", [1, 7])
def test_chart_streamed_in_small_chunks_equals_one_chunk(monkeypatch: pytest.MonkeyPatch,
                                                         chunk: int) -> None:
    """Buckets streamed a few at a time give the batch, records and skip counts of one read."""
    import ingest.garmin_connect as garmin_connect

    data = device_file(CHART).read_bytes()
    whole = parse(data)
    monkeypatch.setattr(garmin_connect, "CHUNK", chunk)
    streamed = parse(data)
    assert (streamed.records, streamed.skipped) == (whole.records, whole.skipped)
    assert whole.records == len(load(CHART))  # type: ignore[arg-type]
    a, b = streamed.series[0].batch, whole.series[0].batch
    for field in ("start", "duration", "steps", "sedentary_s", "worn"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
