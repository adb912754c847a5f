"""activPAL events CSV: every activPAL file in the shared data, generated variants and
defects, minute splitting (property-tested), and sitting time in the daily summary."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.activpal import PARSER
from ingest.base import ParseContext, ParseResult
from ingest.errors import CorruptFile, UnsupportedFormat
from processors.merge import merge_day
from processors.summary import summarize
from schemas.binning import bin_batch
from schemas.daygrid import MINUTE, WORN, DayGrid, Source, day_bounds
from tests.cli_e2e import ingest_and_summarize
from tests.conftest import device_file, device_files
from tests.factories import slot_starts

FOLDER = "research_accelerometer/activpal"
EVENTS = f"{FOLDER}/Test_Events.csv"
TZ = "Europe/London"  # UTC in November, the recording's month
#: Every file of the shared activPAL folder and what must become of it.
EXPECTED: dict[str, type | str] = {
    EVENTS: "events",
    f"{FOLDER}/Test_Time_Periods.csv": UnsupportedFormat,  # analysis periods
    f"{FOLDER}/Sleep.csv": UnsupportedFormat,  # sleep diary
}
HEADER = ('"Time","DataCount (samples)","Interval (s)","ActivityCode (0=sedentary 1=standing '
          '2=stepping 3.1=primary lying, 3.2=secondary lying 4=non-wear)","CumulativeStepCount",'
          '"Activity Score (MET.h)"\r\n')


def parse(data: bytes, filename: str = "events.csv", tz: str = TZ) -> ParseResult:
    return PARSER.parse(io.BytesIO(data), ParseContext("p1", tz, filename))


def grids(result: ParseResult, tz: str = TZ) -> list[DayGrid]:
    return [g for s in result.series for g in bin_batch(s.batch, "p1", tz)]


def raw_events(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))[1:]


def events_csv(rows: list[tuple[float, float, float, int]]) -> bytes:
    """An events file from (Excel serial start, interval s, code, cumulative count) rows."""
    body = "".join(f"{t:.10f},0,{i:.1f},{c:g},{n},0.0\r\n" for t, i, c, n in rows)
    return (HEADER + body).encode()


def excel(when: datetime) -> float:
    return (when - datetime(1899, 12, 30)).total_seconds() / 86400


@pytest.fixture(scope="module")
def events() -> ParseResult:
    return parse(device_file(EVENTS).read_bytes(), "Test_Events.csv")


def test_every_activpal_file_has_an_expected_outcome() -> None:
    found = set(device_files(f"{FOLDER}/*"))
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e != "events"))
def test_companion_files_are_refused_saying_what_to_upload(name: str) -> None:
    data = device_file(name).read_bytes()
    assert PARSER.sniff(data, Path(name).name) > 0
    with pytest.raises(UnsupportedFormat, match=r"activPAL analysis .*Events\.csv"):
        parse(data, Path(name).name)


def test_steps_are_twice_the_last_cumulative_count(events: ParseResult) -> None:
    rows = raw_events(device_file(EVENTS))
    last = int(rows[-1][4])
    stepping = [float(r[2]) for r in rows if r[3] == "2"]
    # Evidence that one count is one stride: it rises once per stepping event, and a stepping
    # event lasts a median 1.0 s, a stride at walking cadence (PAL: "double to get steps").
    assert len(stepping) == last == 13761 and np.median(stepping) == 1.0
    assert events.records == len(rows) == 14219
    assert sum(g.total_steps for g in grids(events)) == pytest.approx(2 * last)
    assert events.skipped == {} and events.partial is None


def test_every_second_of_every_event_lands_in_its_posture(events: ParseResult) -> None:
    rows = raw_events(device_file(EVENTS))
    want = {"sedentary_s": 0.0, "upright_s": 0.0, "stepping_s": 0.0}
    for row in rows:
        code = row[3]
        key = "upright_s" if code == "1" else "stepping_s" if code == "2" else "sedentary_s"
        want[key] += float(row[2])
    days = grids(events)
    for measure, seconds in want.items():
        assert sum(np.nansum(getattr(g, measure)) for g in days) == pytest.approx(seconds)
    per_minute = sum(np.nan_to_num(getattr(days[0], m)) for m in want)
    assert per_minute.max() <= MINUTE + 1e-3
    first = np.flatnonzero(days[0].covered)[0]
    assert (first, days[0].local_date) == (9 * 60 + 29, date(2018, 11, 24))  # 09:29:21
    assert (days[0].worn[days[0].covered] == WORN).all()


def test_sitting_comes_from_activpal_when_it_is_there(events: ParseResult) -> None:
    """The day's sitting minutes are the activPAL's daytime still minutes mostly sedentary,
    whatever other device covers the same day; without it there is no sitting figure."""
    day = grids(events)[0]
    lo, hi = (day_bounds(day.local_date, TZ)[0] + h * 3600 for h in (7, 22))
    seconds, steps = minute_truth(raw_events(device_file(EVENTS)), day)
    minutes = slot_starts(day)
    daytime = (minutes >= lo) & (minutes < hi)
    want = int((daytime & (steps == 0) & (seconds >= 30)).sum())
    wrist = fitbit_like(day)
    assert summarize(merge_day([day, wrist])).sitting_minutes == want > 0
    assert summarize(merge_day([day])).sitting_minutes == want
    assert summarize(merge_day([wrist])).sitting_minutes is None


def minute_truth(rows: list[list[str]], day: DayGrid) -> tuple[np.ndarray, np.ndarray]:
    """Sedentary seconds and steps of each minute of ``day``, from the raw rows by plain
    integer arithmetic on tenths of a second (independent of the parser and the binning):
    seconds by overlap, a stride's two steps in the minute of the event's middle."""
    day_start = day_bounds(day.local_date, day.tz)[0] * 10
    seconds, steps = np.zeros(day.n_slots), np.zeros(day.n_slots)
    previous = 0
    for row in rows:
        start = round((float(row[0]) - 25569) * 864000) - day_start
        end, count = start + round(float(row[2]) * 10), int(row[4])
        for m in range(max(start // 600, 0), min((end - 1) // 600 + 1, day.n_slots)):
            if row[3] in ("0", "3.1", "3.2"):
                seconds[m] += (min(end, (m + 1) * 600) - max(start, m * 600)) / 10
        middle = (start + end) // 2 // 600
        if count > previous and 0 <= middle < day.n_slots:
            steps[middle] += 2 * (count - previous)
        previous = count
    return seconds, steps


def fitbit_like(day: DayGrid) -> DayGrid:
    """A wrist tracker's minute grid of the same day: steps, inferred sedentary, no posture."""
    n = day.n_slots
    return DayGrid("p1", Source("fitbit", "fitbit"), day.local_date, TZ, MINUTE,
                   steps=np.full(n, 0.0), worn=np.full(n, WORN, np.int8),
                   sedentary_s=np.full(n, 60.0))


def test_a_file_cut_inside_its_last_line_is_partial() -> None:
    data = device_file(EVENTS).read_bytes()
    last_line = data.rindex(b"\r\n", 0, len(data) - 2) + 2
    result = parse(data[:last_line + 18])  # 18 characters into the last event
    assert result.records == 14218 and "cut short" in (result.partial or "")
    assert parse(data[:last_line]).partial is None  # cut at a line end: nothing to tell


@pytest.mark.parametrize("edit, error, match", [
    (lambda t: t.replace("CumulativeStepCount", "Steps"), UnsupportedFormat, "no activPAL"),
    (lambda t: t.replace(",13761,", ",lots,", 1), CorruptFile, "CumulativeStepCount is not"),
    (lambda t: t.replace(",13761,", ",13,", 1), CorruptFile, "lower than the row before"),
    (lambda t: t.replace("43428.3959733796", "43428.3954", 1), CorruptFile, "starts before"),
    (lambda t: t.replace(",2,5,", ",2,5,7,", 1), CorruptFile, "not a well-formed CSV"),
], ids=["wrong columns", "non-numeric steps", "count falls", "overlapping events",
        "extra field"])
def test_malformed_events_files_are_refused_clearly(edit, error, match) -> None:
    text = device_file(EVENTS).read_text()
    with pytest.raises(error, match=match):
        parse(edit(text).encode())


def test_unknown_codes_keep_steps_and_are_counted() -> None:
    t0 = excel(datetime(2024, 5, 1, 10, 0))
    result = parse(events_csv([(t0, 30, 0, 0), (t0 + 30 / 86400, 1.0, 2, 1),
                               (t0 + 31 / 86400, 20, 7, 1), (t0 + 51 / 86400, 9, 5, 1)]))
    assert result.skipped == {"event with an unknown activity code (posture and wear left "
                              "unknown)": 1}
    (day,) = grids(result)
    assert day.total_steps == 2 and np.nansum(day.sedentary_s) == pytest.approx(39)


def test_the_serial_comes_from_a_pal_style_file_name() -> None:
    t0 = excel(datetime(2024, 5, 1, 10, 0))
    result = parse(events_csv([(t0, 30, 0, 0)]), "P01-AP472387 202a 1May24 10-00am Events.csv")
    assert result.series[0].batch.source == Source("activpal", "activPAL", "AP472387")


def test_a_recording_across_a_clock_change_stays_on_the_device_clock() -> None:
    """activPAL clocks do not follow daylight saving: 23:00 BST + 4 h of events is 02:00 on
    the device clock, but 01:00 GMT; no hour is lost or doubled."""
    t0 = excel(datetime(2018, 10, 27, 23, 0))
    result = parse(events_csv([(t0 + h / 24, 7200, 0, 0) for h in (0, 2, 4)]))
    assert any("daylight-saving" in n for n in result.notes)
    batch = result.series[0].batch
    assert batch.start[0] == datetime(2018, 10, 27, 22, 0).timestamp() - local_offset()
    assert np.diff(batch.start).tolist() == [7200, 7200]
    assert sum(np.nansum(g.sedentary_s) for g in grids(result)) == pytest.approx(21600)


def local_offset() -> float:
    """``datetime.timestamp`` of a naive time uses the machine's zone; undo that."""
    naive = datetime(2018, 10, 27, 22, 0)
    return naive.timestamp() - (naive - datetime(1970, 1, 1)).total_seconds()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4000), st.sampled_from([0, 1, 2, 3.1, 3.2, 4]),
                          st.booleans()), min_size=1, max_size=40),
       st.integers(0, 599))
def test_minute_splitting_preserves_seconds_and_steps(bouts: list, offset_tenths: int) -> None:
    """Random events (tenths of a second) starting anywhere in a minute: every posture's
    seconds and all steps survive the split at minute edges, minute by minute."""
    start = datetime(2024, 5, 1, 8, 0)
    t, count, rows = offset_tenths, 0, []
    for tenths, code, stride in bouts:
        count += int(code == 2 and stride)
        rows.append((excel(start) + t / 864000, tenths / 10, code, count))
        t += tenths
    data = events_csv(rows)
    days = grids(parse(data, tz="UTC"), "UTC")
    assert sum(g.total_steps for g in days) == pytest.approx(2 * count)
    for measure, codes in (("sedentary_s", (0, 3.1, 3.2)), ("upright_s", (1,)),
                           ("stepping_s", (2,))):
        want = sum(tenths for tenths, code, _ in bouts if code in codes) / 10
        assert sum(np.nansum(getattr(g, measure)) for g in days) == pytest.approx(want, abs=1e-3)
    raw = list(csv.reader(io.StringIO(data.decode())))[1:]
    for g in days:
        total = sum(np.nan_to_num(getattr(g, m)) for m in ("sedentary_s", "upright_s",
                                                            "stepping_s"))
        assert total.max() <= MINUTE + 1e-3
        seconds, steps = minute_truth(raw, g)
        assert np.allclose(np.nan_to_num(g.sedentary_s), seconds, atol=1e-3)
        assert np.array_equal(np.nan_to_num(g.steps), steps)


def test_end_to_end_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    upload, days = ingest_and_summarize(device_file(EVENTS), TZ, tmp_path, monkeypatch, capsys)
    assert (upload["status"], upload["format"], upload["steps"]) == ("stored", "activpal", 27522)
    by_day = {d["local_date"]: d for d in days}
    assert sum(d["steps"] for d in days) == 27522  # whole strides: no split steps
    assert by_day["2018-11-24"]["sitting_minutes"] > 0
    assert by_day["2018-11-24"]["wear_method"] == "device"


def test_reading_in_chunks_gives_what_one_pass_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read 997 rows at a time: the same batch; an event overlapping the one before is
    found across a chunk edge too."""
    import ingest.csv_table as csv_table

    data = device_file(EVENTS).read_bytes()
    whole = parse(data)
    monkeypatch.setattr(csv_table, "CHUNK_ROWS", 997)
    chunked = parse(data)
    assert whole.records == chunked.records and whole.skipped == chunked.skipped
    a, b = whole.series[0].batch, chunked.series[0].batch
    assert np.array_equal(a.start, b.start) and np.array_equal(a.steps, b.steps)
    lines = data.split(b"\r\n")
    lines[999] = lines[997]  # line 1000 (first of the second chunk) repeats line 998's time
    with pytest.raises(CorruptFile, match="starts before the previous event ends.*1000"):
        parse(b"\r\n".join(lines))
