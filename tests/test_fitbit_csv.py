"""Fitabase CSV exports: every real file in ../shared/data/fitbit, and generated variants."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from ingest.base import ParseContext, ParseResult
from ingest.errors import (AmbiguousFormat, CorruptFile, IngestError, UnknownSubject,
                           UnsupportedFormat)
from ingest.fitbit_csv import PARSER
from ingest.generic_csv import PARSER as GENERIC
from schemas.daygrid import DAY, HOUR, MINUTE
from tests.conftest import device_file

KAGGLE = "fitbit/fitabase_kaggle_4.12.16-5.12.16"
SUBJECT = "fitbit/fitabase_export_actiwearcheck"
VARIANTS = "fitbit/fitabase_kaggle_variants"
PARSED, REFUSED = "parsed", UnsupportedFormat
#: Every Fitabase CSV in the shared data and what must become of it.
EXPECTED: dict[str, object] = {
    **{f"{SUBJECT}/name5_{t}_20190730_20230830.csv": PARSED for t in (
        "dailyIntensities", "dailySteps", "fitbitWearTimeViaHR", "hourlySteps",
        "minuteIntensitiesNarrow", "minuteStepsNarrow", "syncEvents")},
    **{f"{SUBJECT}/name5_{t}_20190730_20230830.csv": REFUSED for t in (
        "dailyCalories", "hourlyCalories", "hourlyIntensities", "minuteCaloriesNarrow",
        "minuteMETsNarrow")},
    **{f"{KAGGLE}/{t}_merged.csv": PARSED for t in (
        "dailyActivity", "dailyIntensities", "dailySteps", "hourlySteps",
        "minuteIntensitiesWide", "minuteStepsWide")},
    **{f"{KAGGLE}/{t}_merged.csv": REFUSED for t in (
        "dailyCalories", "hourlyCalories", "hourlyIntensities", "sleepDay", "weightLogInfo")},
    f"{VARIANTS}/dailyActivity_merged__excel_resaved.csv": PARSED,
    f"{VARIANTS}/hourlySteps_merged__period1_3.12.16-4.11.16.csv": PARSED,
}


def context(path: Path, tz: str = "UTC") -> ParseContext:
    """Every Id of a merged file mapped to patient "P<Id>"; per-subject files to "name5"."""
    ids = pd.read_csv(path, usecols=[0], dtype=str).iloc[:, 0].unique()
    id_map = {i: f"P{i}" for i in ids} if path.name.endswith("csv") and "_merged" in path.name \
        else {}
    return ParseContext("name5", tz, path.name, id_map=id_map)


class Parsed(dict):
    """name -> each file parsed once per session when first asked for (in UTC, so day sums are
    plain epoch arithmetic); asking for a file that is not here skips the test (device_file)."""

    def __missing__(self, name: str) -> ParseResult | IngestError:
        path = device_file(name)
        try:
            self[name] = PARSER.parse(io.BytesIO(path.read_bytes()), context(path))
        except IngestError as exc:
            self[name] = exc
        return self[name]


@pytest.fixture(scope="session")
def parsed() -> dict[str, ParseResult | IngestError]:
    return Parsed()


def raw(name: str) -> pd.DataFrame:
    return pd.read_csv(device_file(name))


def by_key(result: ParseResult, measure: str = "steps") -> pd.Series:
    """Values of one measure indexed by (patient, interval start)."""
    parts = [pd.Series(getattr(s.batch, measure), index=pd.MultiIndex.from_arrays(
        [np.full(len(s.batch), s.patient_id), s.batch.start])) for s in result.series]
    return pd.concat(parts)


def test_every_fitbit_csv_has_an_expected_outcome(shared_data: Path) -> None:
    found = {str(p.relative_to(shared_data)) for p in (shared_data / "fitbit").rglob("*.csv")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_outcome(name: str, parsed: dict) -> None:
    got = parsed[name]
    if EXPECTED[name] is PARSED:
        assert isinstance(got, ParseResult), got
        rows = len(raw(name))
        assert got.records + sum(got.skipped.values()) == rows
    else:
        assert isinstance(got, UnsupportedFormat) and "no activity data" in str(got)


def test_sniff_prefers_fitabase_over_generic_csv() -> None:
    for name in EXPECTED:
        head = device_file(name).read_bytes()[:65536]
        assert PARSER.sniff(head, name) > GENERIC.sniff(head, name)


def test_minute_wide_hour_sums_equal_hourly_steps(parsed: dict) -> None:
    wide = by_key(parsed[f"{KAGGLE}/minuteStepsWide_merged.csv"])
    hours = wide.groupby([wide.index.get_level_values(0),
                          wide.index.get_level_values(1) // HOUR * HOUR]).sum()
    hourly = by_key(parsed[f"{KAGGLE}/hourlySteps_merged.csv"])
    common = hours.index.intersection(hourly.index)
    assert len(common) > 10_000
    assert (hours[common] == hourly[common]).all()


def test_wide_minutes_are_unique_and_complete(parsed: dict) -> None:
    steps = by_key(parsed[f"{KAGGLE}/minuteStepsWide_merged.csv"])
    intensity = by_key(parsed[f"{KAGGLE}/minuteIntensitiesWide_merged.csv"], "sedentary_s")
    assert steps.index.is_unique and len(steps) == 60 * len(
        raw(f"{KAGGLE}/minuteStepsWide_merged.csv"))
    assert steps.index.equals(intensity.index)
    zeros = (raw(f"{KAGGLE}/minuteIntensitiesWide_merged.csv").iloc[:, 2:] == 0)
    assert (intensity == MINUTE).sum() == zeros.to_numpy().sum()


def test_daily_activity_steps_equal_daily_steps(parsed: dict) -> None:
    activity = by_key(parsed[f"{KAGGLE}/dailyActivity_merged.csv"])
    daily = by_key(parsed[f"{KAGGLE}/dailySteps_merged.csv"])
    assert activity.sort_index().equals(daily.sort_index())
    resaved = by_key(parsed[f"{VARIANTS}/dailyActivity_merged__excel_resaved.csv"])
    assert (resaved[activity.index] == activity).all()


def test_daily_activity_keeps_sedentary_minutes(parsed: dict) -> None:
    sedentary = by_key(parsed[f"{KAGGLE}/dailyActivity_merged.csv"], "sedentary_s")
    assert sedentary.sum() == raw(f"{KAGGLE}/dailyActivity_merged.csv")[
        "SedentaryMinutes"].sum() * MINUTE
    result = parsed[f"{KAGGLE}/dailyActivity_merged.csv"]
    assert {s.batch.resolution_s for s in result.series} == {DAY}


def test_period_folders_agree_where_they_overlap(parsed: dict) -> None:
    period1 = by_key(parsed[f"{VARIANTS}/hourlySteps_merged__period1_3.12.16-4.11.16.csv"])
    period2 = by_key(parsed[f"{KAGGLE}/hourlySteps_merged.csv"])
    common = period1.index.intersection(period2.index)
    assert len(common) > 0 and (period1[common] == period2[common]).all()


def test_subject_minutes_have_1440_rows_a_day_and_daily_is_at_least_their_sum(
        parsed: dict) -> None:
    minutes = by_key(parsed[f"{SUBJECT}/name5_minuteStepsNarrow_20190730_20230830.csv"])
    days = minutes.groupby(minutes.index.get_level_values(1) // DAY * DAY)
    assert (days.size() == 1440).all() and len(days.size()) == 46
    daily = by_key(parsed[f"{SUBJECT}/name5_dailySteps_20190730_20230830.csv"]).droplevel(0)
    sums = days.sum()
    assert (daily[sums.index] >= sums).all()
    assert (daily[sums.index] == sums).sum() >= 40
    hourly = by_key(parsed[f"{SUBJECT}/name5_hourlySteps_20190730_20230830.csv"])
    assert hourly.sum() == minutes.sum()


def test_subject_wear_time_is_a_daily_worn_flag(parsed: dict) -> None:
    name = f"{SUBJECT}/name5_fitbitWearTimeViaHR_20190730_20230830.csv"
    (series,) = parsed[name].series
    minutes = raw(name)["TotalMinutesWearTime"]
    assert series.patient_id == "name5" and series.batch.resolution_s == DAY
    assert (series.batch.worn == 1).sum() == (minutes > 0).sum()
    assert np.isnan(series.batch.steps).all()


def test_subject_sync_events(parsed: dict) -> None:
    result = parsed[f"{SUBJECT}/name5_syncEvents_20190730_20230830.csv"]
    assert len(result.sync_times) == 1137 and result.series == []
    assert str(result.sync_times[0][1]) == "2023-02-24 18:28:28+00:00"
    assert result.notes == ["devices: Alta HR"]


def test_dst_gap_rows_of_real_data_are_dropped() -> None:
    name = f"{VARIANTS}/hourlySteps_merged__period1_3.12.16-4.11.16.csv"
    path, in_gap = device_file(name), raw(name)
    in_gap = in_gap[in_gap["ActivityHour"] == "3/13/2016 2:00:00 AM"]
    result = PARSER.parse(io.BytesIO(path.read_bytes()), context(path, "America/Chicago"))
    assert result.skipped == {"local time in daylight-saving gap": len(in_gap)}
    assert f"({in_gap['StepTotal'].sum():g} steps)" in result.notes[0]


# --- generated variants -------------------------------------------------------------------

def parse(text: str, name: str = "hourlySteps_merged.csv", **kw: object) -> ParseResult:
    ctx = ParseContext(kw.pop("patient_id", "p1"), kw.pop("tz", "UTC"), name, **kw)
    return PARSER.parse(io.BytesIO(text.encode()), ctx)


def epoch(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").timestamp())


HOURLY_DMY_24H = "Id,ActivityHour,StepTotal\n7,13/04/2016 0:00,5\n7,13/04/2016 23:00,6\n"


def test_dmy_24h_lf_variant() -> None:
    (series,) = parse(HOURLY_DMY_24H).series
    assert series.patient_id == "p1" and series.batch.resolution_s == HOUR
    assert series.batch.start.tolist() == [1460505600, 1460505600 + 23 * HOUR]


def test_mdy_12h_crlf_variant_matches() -> None:
    text = "Id,ActivityHour,StepTotal\r\n7,4/13/2016 12:00:00 AM,5\r\n7,4/13/2016 11:00 PM,6\r\n"
    assert parse(text).series[0].batch.start.tolist() == [1460505600, 1460505600 + 23 * HOUR]


def test_undecidable_dates_are_refused_then_read_with_the_given_order() -> None:
    text = "ActivityDay,StepTotal\n4/5/2016,100\n4/6/2016,200\n"
    with pytest.raises(AmbiguousFormat, match="month/day/year or day/month/year"):
        parse(text, "x_dailySteps.csv")
    got = parse(text, "x_dailySteps.csv", date_order="DMY").series[0].batch
    assert got.start.tolist() == [epoch("2016-05-04"), epoch("2016-06-04")]
    assert got.duration.tolist() == [DAY, DAY]


def test_title_line_above_header_is_allowed() -> None:
    assert parse("hourlySteps_merged\n" + HOURLY_DMY_24H).records == 2


def test_per_subject_file_belongs_to_mapped_prefix_or_uploader() -> None:
    text = "ActivityMinute,Steps\n4/13/2016 1:00:00 PM,5\n"
    assert parse(text, "s9_minuteStepsNarrow_x.csv").series[0].patient_id == "p1"
    mapped = parse(text, "s9_minuteStepsNarrow_x.csv", id_map={"s9": "p2"})
    assert mapped.series[0].patient_id == "p2"


def test_unmapped_ids_are_skipped_and_counted() -> None:
    text = HOURLY_DMY_24H + "8,13/04/2016 1:00,9\n"
    result = parse(text, id_map={"8": "p8"})
    assert [s.patient_id for s in result.series] == ["p8"]
    assert result.skipped == {"subject Id not mapped to a patient": 2}


def test_no_mapped_id_is_refused_listing_ids() -> None:
    with pytest.raises(UnknownSubject, match="7, 8"):
        parse(HOURLY_DMY_24H + "8,13/04/2016 1:00,9\n")
    with pytest.raises(UnknownSubject, match="found 1: 7"):
        parse(HOURLY_DMY_24H, id_map={"9": "p9"})


def test_exact_duplicate_rows_count_once() -> None:
    result = parse(HOURLY_DMY_24H + "7,13/04/2016 0:00,5\n")
    assert result.skipped == {"duplicate row": 1} and result.series[0].batch.total_steps == 11


@pytest.mark.parametrize("row, defect", [
    ("7,13/04/2016 0:00,6", "conflicting duplicate"),
    ("7,13/04/2016 3:00,-1", "StepTotal is not a non-negative number"),
    ("7,13/04/2016 3:00,", "StepTotal"),
    ("7,31/04/2016 3:00,1", "impossible date"),
    ("7,13/04/2016 3:00,1,1", "well-formed"),
])
def test_one_bad_row_rejects_the_file_naming_its_line(row: str, defect: str) -> None:
    with pytest.raises(CorruptFile, match=f"{defect}.*(line 4|line\\(s\\) (2, )?4)"):
        parse(HOURLY_DMY_24H + row + "\n")


def test_minute_intensity_wide_expands_to_sedentary_seconds() -> None:
    header = "Id,ActivityHour," + ",".join(f"Intensity{m:02d}" for m in range(60))
    row = "7,4/13/2016 1:00:00 PM," + ",".join(["0"] * 30 + ["2"] * 30)
    (series,) = parse(f"{header}\n{row}\n", "minuteIntensitiesWide_merged.csv").series
    assert len(series.batch) == 60 and np.isnan(series.batch.steps).all()
    assert series.batch.sedentary_s.sum() == 30 * MINUTE and series.batch.upright_s is None


def test_fall_back_hour_written_once_or_twice() -> None:
    once = "Id,ActivityHour,StepTotal\n7,11/6/2016 1:00:00 AM,5\n"
    twice = once + "7,11/6/2016 1:00:00 AM,9\n"
    assert parse(once, tz="America/New_York", date_order="MDY").series[0].batch.start.tolist() == [1478408400]
    assert parse(twice, tz="America/New_York", date_order="MDY").series[0].batch.start.tolist() == [
        1478408400, 1478412000]


def test_sleep_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedFormat, match="sleep table carries no activity data"):
        parse("Id,SleepDay,TotalSleepRecords,TotalMinutesAsleep,TotalTimeInBed\n")


FITABASE_HEADER = b"Id,ActivityHour,StepTotal\r\n"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_ingest_errors(body: bytes) -> None:
    for data in (body, FITABASE_HEADER + body):
        try:
            PARSER.parse(io.BytesIO(data), ParseContext("p1", "UTC", "x.csv"))
        except IngestError:
            pass


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789/:, APM\n-.Id", max_size=200))
def test_random_text_raises_only_ingest_errors(body: str) -> None:
    try:
        PARSER.parse(io.BytesIO(FITABASE_HEADER + body.encode()), ParseContext("p1", "UTC", "x.csv"))
    except IngestError:
        pass


@pytest.mark.parametrize("name", [
    "fitbit/fitabase_export_actiwearcheck/name5_minuteStepsNarrow_20190730_20230830.csv",
    "fitbit/fitabase_export_actiwearcheck/name5_fitbitWearTimeViaHR_20190730_20230830.csv"])
def test_reading_in_chunks_gives_what_one_pass_gives(name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.csv_table as csv_table

    path = device_file(name)
    whole = PARSER.parse(io.BytesIO(path.read_bytes()), context(path, "America/Chicago"))
    monkeypatch.setattr(csv_table, "CHUNK_ROWS", 997)
    chunked = PARSER.parse(io.BytesIO(path.read_bytes()), context(path, "America/Chicago"))
    assert (whole.records, whole.skipped, whole.day_extra) == (
        chunked.records, chunked.skipped, chunked.day_extra)
    for a, b in zip(whole.series, chunked.series, strict=True):
        assert a.batch.start.tolist() == b.batch.start.tolist()
        assert np.array_equal(a.batch.steps, b.batch.steps, equal_nan=True)


def test_the_date_order_is_the_whole_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Early rows fit both orders, a later chunk's say D/M/Y: every row is read D/M/Y; a
    later chunk with year-first dates is a mix."""
    import ingest.csv_table as csv_table

    monkeypatch.setattr(csv_table, "CHUNK_ROWS", 1)
    text = "Id,ActivityHour,StepTotal\n7,01/02/2016 0:00,5\n7,13/02/2016 0:00,6\n"
    assert parse(text).series[0].batch.start.tolist() == [epoch("2016-02-01"),
                                                         epoch("2016-02-13")]
    with pytest.raises(CorruptFile, match="mixes year-first"):
        parse(text + "7,2016-02-14 0:00,1\n")
    with pytest.raises(CorruptFile, match="conflicting"):
        parse(text + "7,01/02/2016 0:00,9\n")
    assert parse(text + "7,01/02/2016 0:00,5\n").skipped == {"duplicate row": 1}
