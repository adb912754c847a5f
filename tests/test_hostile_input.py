"""Hostile input, per format: seeded mutations of the real files (truncation, byte flips,
renamed and swapped columns, absurd and non-finite values, far-off dates, other encodings,
deep nesting) go through the whole pure upload path. Only our own errors may come out, no
grid may hold an implausible value, and memory stays bounded (ingest/plausibility.py)."""

from __future__ import annotations

import io
import random
import re
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ingest.base import ParseContext, ParseResult
from ingest.errors import CorruptFile, IngestError
from ingest.fit import PARSER as FIT
from ingest.plausibility import DEFAULT_BOUNDS, Plausibility
from ingest.upload import parse_upload
from schemas.daygrid import DAY, DayGrid
from schemas.errors import RehabwatchError
from tests.conftest import device_file

NOW = datetime(2026, 12, 4, 12, tzinfo=timezone.utc)
TZ = "America/Chicago"
#: (format, real file, bytes kept of it: the mutations need not walk a whole large file)
SEEDS = [
    ("fit", "fit/activity/activity-small-fenix2-run.fit", None),
    ("fit", "fit/sdk_samples/MonitoringFile.fit", None),
    ("fitbit", "fitbit/fitabase_export_actiwearcheck/"
               "name5_minuteStepsNarrow_20190730_20230830.csv", 60_000),
    ("fitbit-api", "fitbit/webapi_json_shimmer/fitbit-activities-steps-1d-1m-intraday.json",
     None),
    ("activpal", "research_accelerometer/activpal/Test_Events.csv", 40_000),
    ("actigraph", "research_accelerometer/actigraph/ActiGraph61.csv", None),
    ("garmin-connect", "garmin_connect_json/python-garminconnect_test_steps_data__wellness-"
                       "service-wellness-dailySummaryChart-mtamizi-date-2023-07-01.json", None),
    ("google-fit", "other_api_json/googlefit/googlefit-merge-step-deltas.json", None),
    ("apple-health", "apple_health/opendroid-hk/sampleexport.xml", None),
]
MUTATIONS_PER_FILE = 30
ABSURD = ["inf", "Infinity", "-Infinity", "1e400", "NaN", "-5", "1e12", "1e15", "abc", "",
          "4294967280", "0x10", "1_000"]
FAR_YEARS = ["0001", "1900", "1970", "2100", "9999"]


def seed_bytes(relpath: str, keep: int | None) -> bytes:
    data = device_file(relpath).read_bytes()
    if keep is None or len(data) <= keep:
        return data
    return data[:data.rindex(b"\n", 0, keep) + 1]  # whole lines: the mutation is the damage


def generic_csv() -> bytes:
    start = datetime(2026, 11, 20, 8)
    rows = [f"{(start + timedelta(minutes=i)).isoformat()},{(i * 7) % 130},{i % 2}"
            for i in range(240)]
    return ("timestamp,steps,worn\n" + "\n".join(rows) + "\n").encode()


# -- mutations: each takes the bytes and a seeded random source ------------------------------

def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(0, len(data))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def absurd_number(data: bytes, rng: random.Random) -> bytes:
    """Some numbers of the file (counts, times, whatever they are) replaced by absurd text."""
    numbers = list(re.finditer(rb"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", data))
    if not numbers:
        return data
    out, last = [], 0
    for match in sorted(rng.sample(numbers, min(len(numbers), rng.randint(1, 6))),
                        key=lambda m: m.start()):
        out += [data[last:match.start()], rng.choice(ABSURD).encode()]
        last = match.end()
    return b"".join(out) + data[last:]


def far_year(data: bytes, rng: random.Random) -> bytes:
    """Four-digit years of the file moved to 0001, 1900, 1970, 2100 or 9999 (some or all)."""
    everywhere = rng.random() < 0.3
    year = rng.choice(FAR_YEARS).encode()
    return re.sub(rb"(?<!\d)(19|20)\d\d(?=[-/])",
                  lambda m: year if everywhere or rng.random() < 0.2 else m.group(0), data)


def header_change(data: bytes, rng: random.Random) -> bytes:
    """The first line's fields renamed or swapped (CSV), or keys renamed (JSON, XML)."""
    line_end = data.find(b"\n")
    head, rest = (data, b"") if line_end < 0 else (data[:line_end], data[line_end:])
    fields = head.split(b",")
    if len(fields) > 1 and rng.random() < 0.5:
        i, j = rng.sample(range(len(fields)), 2)
        fields[i], fields[j] = fields[j], fields[i]
    else:
        k = rng.randrange(len(fields))
        fields[k] = fields[k][::-1] or b"x"
    return b",".join(fields) + rest


def encoding(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", errors="replace")
    return rng.choice([
        lambda: b"\xef\xbb\xbf" + data,
        lambda: text.encode("utf-16"),
        lambda: text.encode("latin-1", errors="replace") + b"\xe9\xff",
        lambda: data.replace(b"\n", b"\r\n"),
        lambda: data.replace(b"\n", b"\r"),
    ])()


def nesting(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([50, 5_000, 200_000])
    at = rng.randrange(len(data) + 1)
    return data[:at] + b"[" * depth + b"{" + b"]" * rng.choice([0, depth]) + data[at:]


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    truncate, flip_bytes, absurd_number, far_year, header_change, encoding, nesting]


def check_upload(data: bytes, fmt: str, name: str, bounds: Plausibility = DEFAULT_BOUNDS
                 ) -> list[DayGrid]:
    """The upload path on ``data``: our own error, or grids holding only plausible values."""
    try:
        result, grids = parse_upload(io.BytesIO(data), ParseContext("p1", TZ, name), fmt,
                                     "digest", bounds, NOW)
    except RehabwatchError:
        return []
    assert_plausible(result, grids, bounds)
    return grids


def assert_plausible(result: ParseResult, grids: list[DayGrid], bounds: Plausibility) -> None:
    tomorrow = NOW.date() + timedelta(days=1)
    for grid in grids:
        assert bounds.earliest <= grid.local_date <= tomorrow, grid
        per_slot = bounds.max_steps_per_minute * min(grid.resolution_s, DAY) / 60
        steps = grid.steps[~np.isnan(grid.steps)]
        assert np.isfinite(steps).all() and (steps >= 0).all(), grid
        assert (steps <= per_slot + 1e-6).all(), grid
        assert grid.total_steps <= bounds.max_steps_per_day, grid
        for posture in (grid.sedentary_s, grid.upright_s, grid.stepping_s):
            if posture is not None:
                known = posture[~np.isnan(posture)]
                assert np.isfinite(known).all() and (known >= 0).all(), grid
    for _, at in result.sync_times:
        assert bounds.earliest <= at.date() <= tomorrow


@pytest.mark.parametrize("fmt,relpath,keep", SEEDS, ids=[s[1].rsplit("/", 1)[-1] for s in SEEDS])
def test_mutated_real_files_give_our_errors_or_plausible_grids(fmt: str, relpath: str,
                                                               keep: int | None) -> None:
    data = seed_bytes(relpath, keep)
    name = relpath.rsplit("/", 1)[-1]
    check_upload(data, fmt, name)  # the file as it is
    rng = random.Random(f"{relpath}-20")
    for i in range(MUTATIONS_PER_FILE):
        mutate = MUTATIONS[i % len(MUTATIONS)]
        mutated = mutate(data, rng)
        check_upload(mutated, "auto" if i % 2 else fmt, name)


def test_mutated_generic_csv() -> None:
    data, rng = generic_csv(), random.Random(20)
    assert check_upload(data, "csv", "steps.csv")
    for i in range(MUTATIONS_PER_FILE):
        check_upload(MUTATIONS[i % len(MUTATIONS)](data, rng), "csv", "steps.csv")


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e400", "1e12", "-5"])
def test_an_absurd_count_is_left_out_and_counted(value: str) -> None:
    data = ("timestamp,steps\n2026-11-20T10:00:00,100\n"
            f"2026-11-20T10:01:00,{value}\n").encode()
    try:
        result, grids = parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "x.csv"), "csv",
                                     "d", DEFAULT_BOUNDS, NOW)
    except CorruptFile as exc:  # a negative count is not a count: the file says so
        assert value == "-5" and "line" in str(exc)
        return
    assert [g.total_steps for g in grids] == [100]
    assert result.partial and "left out 1 implausible record" in result.partial
    assert sum(n for r, n in result.skipped.items() if r.startswith("implausible")) == 1


@pytest.mark.parametrize("year", ["0001", "1900", "2100", "9999"])
def test_a_far_off_date_costs_no_memory_and_is_left_out(year: str) -> None:
    """Binning allocated every day between the two rows: 24 GB for year 0001."""
    data = f"timestamp,steps\n2026-11-20T10:00:00,100\n{year}-06-01T10:00:00,10\n".encode()
    tracemalloc.start()
    try:
        result, grids = parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "x.csv"), "csv",
                                     "d", DEFAULT_BOUNDS, NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6
    assert [g.local_date for g in grids] == [date(2026, 11, 20)]
    assert "dated" in (result.partial or "")


def test_nothing_plausible_is_rejected_with_the_reason() -> None:
    data = b"timestamp,steps\n1900-01-01T10:00:00,100\n1900-01-01T10:01:00,100\n"
    with pytest.raises(CorruptFile, match="nothing plausible.*2 records.*dated before 2000"):
        parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "x.csv"), "csv", "d",
                     DEFAULT_BOUNDS, NOW)


def test_a_header_only_csv_is_rejected_as_holding_no_data() -> None:
    with pytest.raises(CorruptFile, match="no activity data"):
        parse_upload(io.BytesIO(b"timestamp,steps\n"), ParseContext("p1", TZ, "x.csv"), "csv",
                     "d", DEFAULT_BOUNDS, NOW)


def test_a_day_above_the_daily_bound_is_left_out() -> None:
    rows = "".join(f"2026-11-20T{h:02d}:{m:02d}:00,250\n" for h in range(24) for m in range(60))
    data = ("timestamp,steps\n" + rows + "2026-11-21T10:00:00,80\n").encode()
    result, grids = parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "x.csv"), "csv", "d",
                                 Plausibility(max_steps_per_day=400_000), NOW)
    assert len(grids) == 2
    result, grids = parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "x.csv"), "csv", "d",
                                 DEFAULT_BOUNDS, NOW)
    assert [g.total_steps for g in grids] == [80]
    assert result.skipped["implausible: on a day above 200,000 steps"] == 1440


def test_the_patients_tomorrow_is_the_latest_day() -> None:
    """Up to the end of the patient's tomorrow is data (a device a zone ahead); later is not."""
    data = b"timestamp,steps\n2026-12-05T23:59:00,5\n2026-12-06T00:00:00,5\n"
    result, grids = parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "x.csv"), "csv", "d",
                                 DEFAULT_BOUNDS, NOW)
    assert [g.local_date for g in grids] == [date(2026, 12, 5)]
    assert result.skipped == {"implausible: dated after the patient's tomorrow": 1}


def test_json_nested_past_the_decoder_is_a_damaged_file() -> None:
    nested = b"[" * 200_000 + b"]" * 200_000
    for fmt in ("fitbit-api", "garmin-connect", "google-fit"):
        with pytest.raises(CorruptFile, match="nested deeper"):
            parse_upload(io.BytesIO(nested), ParseContext("p1", TZ, "x.json"), fmt, "d",
                         DEFAULT_BOUNDS, NOW)
    wrapped = b'{"activities-steps": ' + nested + b"}"
    with pytest.raises(CorruptFile, match="nested deeper"):
        parse_upload(io.BytesIO(wrapped), ParseContext("p1", TZ, "x.json"), "auto", "d",
                     DEFAULT_BOUNDS, NOW)


def test_json_with_a_byte_order_mark_is_read() -> None:
    data = b'\xef\xbb\xbf{"activities-steps":[{"dateTime":"2026-11-20","value":"1234"}]}'
    result, grids = parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "steps.json"), "auto",
                                 "d", DEFAULT_BOUNDS, NOW)
    assert result.format == "fitbit-api" and [g.total_steps for g in grids] == [1234]


def test_a_csv_cut_inside_its_last_row_is_partial() -> None:
    data = b"timestamp,steps\n2026-11-20T10:00:00,100\n2026-11-20T10:01:00,7\n2026-11-20T10:0"
    result, grids = parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "x.csv"), "csv", "d",
                                 DEFAULT_BOUNDS, NOW)
    assert [g.total_steps for g in grids] == [107]
    assert result.partial and "ends inside line 4" in result.partial


def test_a_fit_monitoring_file_chained_with_its_copy_counts_once() -> None:
    data = device_file("fit/sdk_samples/MonitoringFile.fit").read_bytes()
    once, twice = (FIT.parse(io.BytesIO(d), ParseContext("p1", "UTC", "m.fit"))
                   for d in (data, data + data))
    assert once.series[0].batch.total_steps > 0
    assert twice.series[0].batch.total_steps == once.series[0].batch.total_steps


def test_a_damaged_session_stride_total_is_not_believed() -> None:
    """total_cycles 0xFFFFFFF0 (8.6e9 steps) in the session: the record cadence decides."""
    data = bytearray(device_file("fit/activity/activity-small-fenix2-run.fit").read_bytes())
    result = FIT.parse(io.BytesIO(bytes(data)), ParseContext("p1", "UTC", "a.fit"))
    honest = result.series[0].batch.total_steps
    from ingest.fit_activity import Window
    window = Window.of({"start_time": 1_000_000_000, "total_elapsed_time": 3_600_000,
                        "sport": 1, "total_cycles": 0xFFFFFFF0})
    assert window.total_strides is None
    assert Window.of({"start_time": 1_000_000_000, "total_elapsed_time": 3_600_000,
                      "sport": 1, "total_cycles": 9000}).total_strides == 9000
    assert 0 < honest < 100_000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**16),
              st.sampled_from(ABSURD))), min_size=1, max_size=30))
def test_any_generic_csv_rows_give_our_errors_or_plausible_grids(
        rows: list[tuple[datetime, object]]) -> None:
    text = "timestamp,steps\n" + "".join(f"{t.isoformat()},{v}\n" for t, v in rows)
    try:
        result, grids = parse_upload(io.BytesIO(text.encode()), ParseContext("p1", TZ, "h.csv"),
                                     "csv", "d", DEFAULT_BOUNDS, NOW)
    except IngestError:
        return
    assert_plausible(result, grids, DEFAULT_BOUNDS)


class Pipe(io.RawIOBase):
    """A stream that cannot be measured or rewound (a pipe, a request body)."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self.data.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def test_the_size_limit_is_checked_before_reading_and_counted_on_a_stream() -> None:
    from ingest.errors import TooLarge
    from ingest.upload import within_limit

    data = b"timestamp,steps\n" + b"2026-11-20T10:00:00,1\n" * 100_000
    same, size = within_limit(io.BytesIO(data), len(data), "f.csv")
    assert size == len(data)
    copy, size = within_limit(io.BufferedReader(Pipe(data)), len(data), "f.csv")
    assert size == len(data) and copy.read() == data
    with pytest.raises(TooLarge, match="read so far"):
        within_limit(io.BufferedReader(Pipe(data)), 1 << 20, "f.csv")
    with pytest.raises(TooLarge, match="above the 1,048,576-byte limit"):
        within_limit(io.BytesIO(data), 1 << 20, "f.csv")


def test_an_upload_of_too_many_source_days_is_refused() -> None:
    """One row a day on each of many devices costs a whole day grid per row."""
    from ingest.errors import TooLarge

    rows = "".join(f"2026-{m:02d}-{d:02d}T10:00:00,5,dev{k}\n"
                   for k in range(40) for m in range(1, 12) for d in range(1, 29))
    data = ("timestamp,steps,device\n" + rows).encode()
    with pytest.raises(TooLarge, match="more than 10,000 days of data"):
        parse_upload(io.BytesIO(data), ParseContext("p1", TZ, "x.csv"), "csv", "d",
                     DEFAULT_BOUNDS, NOW)


def test_a_summary_never_holds_an_infinite_or_negative_slot() -> None:
    """A grid stored before the screen (or from another producer on the stream) with inf and
    negative slots: those slots are missing to the summary, and its JSON is valid."""
    import json

    from processors.summary import summarize_grids
    from schemas.daygrid import MINUTE, Source, WEAR_UNKNOWN, slot_count

    n = slot_count(date(2026, 11, 20), "UTC", MINUTE)
    steps = np.full(n, np.nan)
    steps[600:610], steps[610], steps[611] = 80.0, np.inf, -5.0
    grid = DayGrid("p1", Source("csv", "csv"), date(2026, 11, 20), "UTC", MINUTE, steps=steps,
                   worn=np.full(n, WEAR_UNKNOWN, np.int8))
    (summary,) = summarize_grids([grid])
    assert summary.steps == 800
    json.dumps(summary.__dict__, default=str, allow_nan=False)
