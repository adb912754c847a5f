"""Fitbit Web API JSON responses (Open mHealth shimmer fixtures in tests/data)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from ingest.base import ParseContext, ParseResult
from ingest.errors import CorruptFile, IngestError, UnsupportedFormat
from ingest.fitbit_api import PARSER
from schemas.daygrid import DAY, MINUTE
from tests.conftest import device_file, device_files

FOLDER = "fitbit/webapi_json_shimmer"
EXPECTED: dict[str, object] = {
    "fitbit-activities-steps-timeseries.json": "parsed",
    "fitbit-activities-steps-1d-1m-intraday.json": "parsed",
    "fitbit-activities-heart-1d-1m-intraday.json": "parsed",
    "fitbit-activities-date-empty-activities-list.json": UnsupportedFormat,
    "fitbit-activities-date-multiple-in-activities-list.json": UnsupportedFormat,
    "fitbit-activities-date-single-in-activities-list.json": UnsupportedFormat,
    "fitbit-body-log-weight.json": UnsupportedFormat,
    "fitbit-sleep-date-range.json": UnsupportedFormat,
    "fitbit-sleep-date.json": UnsupportedFormat,
}


def load(name: str, tz: str = "UTC") -> ParseResult:
    return PARSER.parse(io.BytesIO(device_file(f"{FOLDER}/{name}").read_bytes()),
                        ParseContext("p1", tz, name))


def test_every_fixture_has_an_expected_outcome() -> None:
    assert {Path(rel).name for rel in device_files(f"{FOLDER}/*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_outcome(name: str) -> None:
    if EXPECTED[name] == "parsed":
        assert load(name).records > 0
    else:
        with pytest.raises(UnsupportedFormat, match="carries no activity data"):
            load(name)


def test_daily_series_values_are_strings_turned_into_days() -> None:
    name = "fitbit-activities-steps-timeseries.json"
    days = json.loads(device_file(f"{FOLDER}/{name}").read_text())["activities-steps"]
    (series,) = load(name, "America/Los_Angeles").series
    assert series.batch.resolution_s == DAY
    assert series.batch.steps.tolist() == [float(d["value"]) for d in days]
    assert series.batch.start[0] == pd.Timestamp(days[0]["dateTime"],
                                                 tz="America/Los_Angeles").timestamp()


def test_intraday_rows_take_their_date_from_the_series() -> None:
    name = "fitbit-activities-steps-1d-1m-intraday.json"
    doc = json.loads(device_file(f"{FOLDER}/{name}").read_text())
    (series,) = load(name).series
    day = doc["activities-steps"][0]["dateTime"]
    rows = doc["activities-steps-intraday"]["dataset"]
    assert series.batch.resolution_s == MINUTE
    assert series.batch.start.tolist() == [
        pd.Timestamp(f"{day} {r['time']}", tz="UTC").timestamp() for r in rows]
    assert series.batch.total_steps == sum(r["value"] for r in rows)


def test_heart_rate_minutes_are_worn_minutes() -> None:
    (series,) = load("fitbit-activities-heart-1d-1m-intraday.json").series
    assert (series.batch.worn == 1).all() and np.isnan(series.batch.steps).all()
    assert len(series.batch) == 5


def test_sniff_scores() -> None:
    scores = {n: PARSER.sniff(device_file(f"{FOLDER}/{n}").read_bytes(), n) for n in EXPECTED}
    assert all((scores[n] == 80) == (EXPECTED[n] == "parsed") for n in EXPECTED)
    assert all(score > 0 for score in scores.values())


def intraday(rows: list[dict], interval: int = 1) -> bytes:
    return json.dumps({"activities-steps": [{"dateTime": "2016-03-13", "value": "9"}],
                       "activities-steps-intraday": {"dataset": rows,
                                                     "datasetInterval": interval,
                                                     "datasetType": "minute"}}).encode()


def test_dst_gap_minutes_are_dropped() -> None:
    data = intraday([{"time": "01:59:00", "value": 1}, {"time": "02:00:00", "value": 8}])
    result = PARSER.parse(io.BytesIO(data), ParseContext("p1", "America/New_York", "x.json"))
    assert len(result.series[0].batch) == 1 and "8 steps" in result.notes[0]


@pytest.mark.parametrize("data, error, message", [
    (intraday([{"time": "25:00:00", "value": 1}]), CorruptFile, "entries 1"),
    (intraday([{"time": "01:00:00", "value": "x"}]), CorruptFile, "non-negative"),
    (intraday([{"time": "01:00:00", "value": 1}, {"time": "01:00:00", "value": 2}]),
     CorruptFile, "conflicting"),
    (intraday([], interval=15), UnsupportedFormat, "1-minute"),
    (b'{"activities-steps": [', CorruptFile, "not a Fitbit Web API JSON"),
    (b"[1, 2]", UnsupportedFormat, "top level"),
    (b'{"activities-steps":[{"dateTime":20240501,"value":"10"}]}', CorruptFile,
     "without a YYYY-MM-DD dateTime"),
    (b'{"activities-steps":[{"":null,"value":[]}]}', CorruptFile,
     "entry 1 holds a list or object"),
])
def test_bad_payloads(data: bytes, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        PARSER.parse(io.BytesIO(data), ParseContext("p1", "UTC", "x.json"))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.recursive(st.none() | st.integers() | st.text(max_size=8),
                              lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.sampled_from(
                                  ["activities-steps", "activities-steps-intraday", "dataset",
                                   "time", "value", "dateTime", "datasetInterval"]), inner,
                                  max_size=4)).map(lambda v: json.dumps(v).encode())))
def test_random_input_raises_only_ingest_errors(data: bytes) -> None:
    try:
        PARSER.parse(io.BytesIO(data), ParseContext("p1", "UTC", "x.json"))
    except IngestError:
        pass


@pytest.mark.parametrize("name, key", [
    ("fitbit-activities-steps-timeseries.json", "activities-steps"),
    ("fitbit-activities-steps-1d-1m-intraday.json", None),
    ("fitbit-activities-heart-1d-1m-intraday.json", None),
])
@pytest.mark.parametrize("chunk", [1, 7])
def test_streamed_in_small_chunks_equals_one_chunk(monkeypatch: pytest.MonkeyPatch, name: str,
                                                   key: str | None, chunk: int) -> None:
    """Entries streamed a few at a time (repeats falling in other chunks) give the batches and
    skip counts of one whole read, and the daily series the values json.loads finds."""
    import ingest.fitbit_api as fitbit_api

    document = json.loads(device_file(f"{FOLDER}/{name}").read_bytes())
    if key:  # every entry twice, the copies CHUNK entries or more apart
        document[key] = document[key] * 2
    data = json.dumps(document).encode()

    def parse() -> ParseResult:
        return PARSER.parse(io.BytesIO(data), ParseContext("p1", "UTC", name))

    whole = parse()
    monkeypatch.setattr(fitbit_api, "CHUNK", chunk)
    streamed = parse()
    assert streamed.skipped == whole.skipped and streamed.records == whole.records
    for a, b in zip(streamed.series, whole.series, strict=True):
        for field in ("start", "duration", "steps", "worn"):
            np.testing.assert_array_equal(getattr(a.batch, field), getattr(b.batch, field))
    if key:
        assert whole.skipped == {"duplicate row": len(document[key]) // 2}
        expected = {row["dateTime"]: float(row["value"]) for row in document[key]}
        days = pd.to_datetime(whole.series[0].batch.start, unit="s").strftime("%Y-%m-%d")
        assert dict(zip(days, whole.series[0].batch.steps)) == expected
