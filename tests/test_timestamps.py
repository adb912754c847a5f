"""Date/time detection and local-to-UTC conversion shared by the CSV and JSON parsers."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from ingest.base import ParseResult
from ingest.errors import AmbiguousFormat, CorruptFile
from ingest.timestamps import (device_clock_to_utc, drop_dst_gap, local_days_to_utc,
                               parse_local_stamps, patient_local_to_utc)


def stamps(*texts: str, order: str | None = None) -> list[str]:
    series = pd.Series(texts, index=range(2, 2 + len(texts)))
    return [str(t) for t in parse_local_stamps(series, "f.csv", order)]


@pytest.mark.parametrize("text", [
    "4/13/2016 1:05:00 PM", "04/13/2016 01:05:00 PM", "4/13/2016 13:05", "13/4/2016 13:05:00",
    "13-04-2016 13:05", "2016-04-13 13:05:00", "2016-04-13T13:05", "13.04.2016 1:05 pm",
])
def test_variants_read_the_same_time(text: str) -> None:
    assert stamps(text) == ["2016-04-13T13:05:00"]


def test_twelve_hour_clock_edges() -> None:
    assert stamps("4/13/2016 12:00:00 AM", "4/13/2016 12:30:00 PM") == [
        "2016-04-13T00:00:00", "2016-04-13T12:30:00"]


def test_order_is_detected_from_any_row_of_the_column() -> None:
    assert stamps("3/4/2016", "12/13/2016")[0] == "2016-03-04T00:00:00"
    assert stamps("3/4/2016", "13/12/2016")[0] == "2016-04-03T00:00:00"


def test_undecidable_order_is_refused_unless_given() -> None:
    with pytest.raises(AmbiguousFormat, match="MDY or DMY"):
        stamps("3/4/2016", "5/6/2016")
    assert stamps("3/4/2016", order="DMY") == ["2016-04-03T00:00:00"]
    assert stamps("4/4/2016") == ["2016-04-04T00:00:00"]  # both readings agree


def test_given_order_contradicted_by_the_file_is_refused() -> None:
    with pytest.raises(AmbiguousFormat, match="valid only as MDY"):
        stamps("4/13/2016", order="DMY")


@pytest.mark.parametrize("texts, defect", [
    (("4/13/2016", "13/4/2016"), "mixes"),
    (("2/30/2016",), "impossible"),
    (("4/13/16",), "four digits"),
    (("4/13/2016 13:00:00 PM",), "hour"),
    (("yesterday",), "unreadable"),
])
def test_bad_text_names_the_defect(texts: tuple[str, ...], defect: str) -> None:
    with pytest.raises(CorruptFile, match=defect):
        stamps(*texts)


def test_bad_line_is_named() -> None:
    with pytest.raises(CorruptFile, match="line\\(s\\) 3"):
        stamps("4/13/2016", "4/14/2016 25:00")


def naive(*texts: str) -> np.ndarray:
    return np.array(texts, dtype="datetime64[s]")


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_spring_forward_gap_is_nan() -> None:
    got = patient_local_to_utc(naive("2016-03-13T01:59", "2016-03-13T02:30", "2016-03-13T03:00"),
                               "America/New_York")
    assert got[0] == epoch("2016-03-13T06:59") and np.isnan(got[1])
    assert got[2] == epoch("2016-03-13T07:00")


def test_fall_back_hour_first_then_second_occurrence() -> None:
    one = patient_local_to_utc(naive("2016-11-06T01:30"), "America/New_York")
    assert one.tolist() == [epoch("2016-11-06T05:30")]  # daylight time, first occurrence
    two = patient_local_to_utc(naive("2016-11-06T01:30", "2016-11-06T01:30"), "America/New_York")
    assert two.tolist() == [epoch("2016-11-06T05:30"), epoch("2016-11-06T06:30")]


def test_local_days_have_their_real_length() -> None:
    start, duration = local_days_to_utc(
        np.array(["2016-03-13", "2016-11-06", "2016-04-12"], dtype="datetime64[D]"),
        "America/New_York")
    assert duration.tolist() == [82800, 90000, 86400]
    assert start[2] == epoch("2016-04-12T04:00")


def test_gap_rows_are_dropped_and_counted() -> None:
    result = ParseResult("x")
    keep = drop_dst_gap(np.array([1.0, np.nan]), np.array([3.0, 27.0]), result)
    assert keep.tolist() == [True, False]
    assert result.skipped == {"local time in daylight-saving gap": 1}
    assert "27 steps" in result.notes[0]


def test_a_device_clock_keeps_the_offset_it_was_set_with() -> None:
    """A research monitor set at 12:00 BST keeps UTC+01:00 after the clocks go back."""
    wall = np.array([datetime(2018, 10, 27, 12), datetime(2018, 10, 28, 12)], "datetime64[s]")
    result = ParseResult("test")
    utc = device_clock_to_utc(wall.astype(np.int64).astype(np.float64), "Europe/London", result)
    assert utc.tolist() == [datetime(2018, 10, 27, 11, tzinfo=timezone.utc).timestamp(),
                            datetime(2018, 10, 28, 11, tzinfo=timezone.utc).timestamp()]
    assert "UTC+01:00 throughout" in result.notes[0]
    assert device_clock_to_utc(wall[:1].astype(np.int64).astype(np.float64), "Europe/London",
                               ParseResult("test")).tolist() == utc[:1].tolist()
