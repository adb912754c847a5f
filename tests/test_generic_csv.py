"""The documented generic CSV (docs/csv-format.md)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from ingest.base import ParseContext, ParseResult
from ingest.errors import CorruptFile, IngestError, UnsupportedFormat
from ingest.generic_csv import OPTIONAL, PARSER
from schemas.daygrid import DAY, HOUR, MINUTE, Source

DOC = Path(__file__).resolve().parents[1] / "docs" / "csv-format.md"


def parse(text: str, tz: str = "Europe/Berlin") -> ParseResult:
    return PARSER.parse(io.BytesIO(text.encode()), ParseContext("p1", tz, "steps.csv"))


def epoch(text: str) -> int:
    return int(pd.Timestamp(text).timestamp())


def test_every_column_is_documented() -> None:
    doc = DOC.read_text()
    assert all(f"`{column}`" in doc for column in ("timestamp", "steps", *OPTIONAL))


def test_minute_rows_with_offsets_and_defaults() -> None:
    (series,) = parse("timestamp,steps\n2024-05-01T08:00:00Z,12\n"
                      "2024-05-01T10:01:00+02:00,30\n").series
    batch = series.batch
    assert batch.source == Source("csv", "csv") and batch.resolution_s == MINUTE
    assert batch.start.tolist() == [epoch("2024-05-01T08:00Z"), epoch("2024-05-01T08:01Z")]
    assert batch.duration.tolist() == [60, 60] and batch.sedentary_s is None


def test_naive_times_are_patient_local() -> None:
    (series,) = parse("timestamp,steps\n2024-05-01 10:00,1\n").series
    assert series.batch.start.tolist() == [epoch("2024-05-01T08:00Z")]


def test_all_columns_and_one_batch_per_device() -> None:
    text = ("timestamp,steps,duration_s,sedentary_s,upright_s,stepping_s,worn,device\r\n"
            "2024-05-01T08:00Z,100,3600,1800,1000,800,1,watch\r\n"
            "2024-05-01T08:00Z,90,3600,,,,,phone\r\n")
    watch, phone = parse(text).series
    assert (watch.batch.source.device, phone.batch.source.device) == ("watch", "phone")
    assert watch.batch.resolution_s == HOUR and watch.batch.worn.tolist() == [1]
    assert np.isnan(phone.batch.sedentary_s).all() and phone.batch.worn.tolist() == [-1]


def test_daily_rows_cover_the_local_day() -> None:
    (series,) = parse("timestamp,steps,duration_s\n2024-03-31,5000,86400\n").series
    assert series.batch.duration.tolist() == [23 * HOUR]  # the spring-forward day
    assert series.batch.resolution_s == DAY
    with pytest.raises(CorruptFile, match="local midnight"):
        parse("timestamp,steps,duration_s\n2024-03-31T00:00:00Z,5000,86400\n")


def test_dst_gap_row_is_dropped() -> None:
    result = parse("timestamp,steps\n2024-03-31T02:30:00,7\n2024-03-31T03:00:00,9\n")
    assert result.records == 1 and result.skipped == {"local time in daylight-saving gap": 1}


def test_exact_duplicates_are_dropped() -> None:
    result = parse("timestamp,steps\n2024-05-01T08:00Z,5\n2024-05-01T08:00Z,5\n")
    assert result.skipped == {"duplicate row": 1} and result.series[0].batch.total_steps == 5


@pytest.mark.parametrize("text, message", [
    ("timestamp,steps,duration_s\n2024-05-01T08:00Z,1,60\n2024-05-01T09:00Z,1,3600\n",
     "mixes durations"),
    ("timestamp,steps,duration_s\n2024-05-01T08:00Z,1,900\n", "not one of 60, 3600, 86400"),
    ("timestamp,steps\n2024-05-01T08:00Z,1\n2024-05-01 09:00,1\n", "mixes timestamps.*line 3"),
    ("timestamp,steps\n2024-05-01T08:00Z,1\n2024-05-01T08:00Z,2\n", "conflicting"),
    ("timestamp,steps\n2024-05-01T08:00Z,many\n", "steps is not a non-negative"),
    ("timestamp,steps,sedentary_s\n2024-05-01T08:00Z,1,61\n", "sedentary_s is not a number"),
    ("timestamp,steps,worn\n2024-05-01T08:00Z,1,maybe\n", "worn is not"),
    ("timestamp,steps\n05/01/2024 08:00,1\n", "not ISO-8601.*line\\(s\\) 2"),
])
def test_bad_files_are_rejected_clearly(text: str, message: str) -> None:
    with pytest.raises(CorruptFile, match=message):
        parse(text)


@pytest.mark.parametrize("header", ["steps,timestamp", "timestamp,steps,calories",
                                    "timestamp,steps,worn,worn", "Id,ActivityHour,StepTotal"])
def test_only_the_documented_header_matches(header: str) -> None:
    assert PARSER.sniff(f"{header}\n".encode(), "x.csv") == 0
    with pytest.raises(UnsupportedFormat, match="docs/csv-format.md"):
        parse(f"{header}\n")


def test_header_only_file_is_empty() -> None:
    assert PARSER.sniff(b"timestamp,steps\n", "x.csv") > 0
    assert parse("timestamp,steps\n").series == []


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.text(alphabet="0123456789-:TZ+., \nabc", max_size=200))
def test_random_input_raises_only_ingest_errors(data: bytes, text: str) -> None:
    for blob in (data, b"timestamp,steps,duration_s,worn\n" + text.encode()):
        try:
            PARSER.parse(io.BytesIO(blob), ParseContext("p1", "UTC", "x.csv"))
        except IngestError:
            pass


def test_reading_in_chunks_gives_what_one_pass_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows across the autumn DST change (01:00-01:59 twice in London), a repeat and a cut
    last line: read 7 rows at a time, the same batch as all at once."""
    import ingest.csv_table as csv_table

    rows = [f"2024-10-27T00:{m:02d}:00,{m}" for m in range(0, 60, 10)]
    rows += [f"2024-10-27T01:{m:02d}:00,{m + 1}" for m in range(0, 60, 10)] * 2
    rows += ["2024-10-27T02:00:00,5", "2024-10-27T02:00:00,5", "2024-10-27T02:10"]
    text = "timestamp,steps\n" + "\n".join(rows)
    whole = parse(text, "Europe/London")
    monkeypatch.setattr(csv_table, "CHUNK_ROWS", 7)
    chunked = parse(text, "Europe/London")
    for result in (whole, chunked):
        assert result.skipped == {"duplicate row": 1} and "ends inside line 22" in str(
            result.partial)
    a, b = whole.series[0].batch, chunked.series[0].batch
    assert a.start.tolist() == b.start.tolist() and a.steps.tolist() == b.steps.tolist()
    assert len(set(a.start.tolist())) == 19  # both 01:xx hours kept, an hour apart


@pytest.mark.parametrize("second, message", [
    ("2024-05-01T08:00Z,2,60", "conflicting"),
    ("2024-05-01 09:00,1,60", "mixes timestamps.*line 4"),
    ("2024-05-01T09:00Z,1,3600", "mixes durations"),
])
def test_chunks_must_agree(monkeypatch: pytest.MonkeyPatch, second: str, message: str) -> None:
    import ingest.csv_table as csv_table

    monkeypatch.setattr(csv_table, "CHUNK_ROWS", 2)
    text = ("timestamp,steps,duration_s\n2024-05-01T08:00Z,1,60\n2024-05-01T08:01Z,1,60\n"
            f"{second}\n")
    with pytest.raises(CorruptFile, match=message):
        parse(text)
