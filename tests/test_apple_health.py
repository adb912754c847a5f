"""Apple Health exports: real files checked against a plain stdlib XML pass over their
records, generated exports for the source priority and the spreading, and hostile inputs."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ingest.apple_health import PARSER, WEAR_TYPES, _blank_unused
from ingest.apple_health_minutes import parse_stamps
from ingest.base import ParseContext, ParseResult
from ingest.errors import CorruptFile, IngestError, TooLarge, UnsupportedFormat
from ingest.registry import detect
from schemas.binning import bin_batch
from schemas.daygrid import WORN, DayGrid, day_bounds
from tests.conftest import TEST_DATA, device_file

TZ = "America/Los_Angeles"
REAL = ["apple_health/healthkit-to-sqlite/export.xml",
        "apple_health/healthkit-to-sqlite/zip_contents/apple_health_export/export.xml",
        "apple_health/opendroid-hk/sampleexport.xml",
        "apple_health/opendroid-hk/sampleexport-2.xml"]
ZIP_FOLDER = "apple_health/healthkit-to-sqlite/zip_contents"


def parse(data: bytes, tz: str = TZ, name: str = "export.xml") -> ParseResult:
    return PARSER.parse(io.BytesIO(data), ParseContext("p1", tz, name))


def grids(result: ParseResult, tz: str = TZ) -> list[DayGrid]:
    """The result binned as the upload path bins it (grids of one day overlaid in order)."""
    by_day: dict[object, DayGrid] = {}
    for series in result.series:
        for grid in bin_batch(series.batch, "p1", tz):
            day = grid.local_date
            by_day[day] = by_day[day].overlay(grid) if day in by_day else grid
    return [by_day[d] for d in sorted(by_day)]  # type: ignore[type-var]


def slot_starts(grid: DayGrid) -> np.ndarray:
    """UTC epoch second at which each slot of ``grid`` starts."""
    return day_bounds(grid.local_date, grid.tz)[0] + np.arange(grid.n_slots) * grid.resolution_s


# ---- an independent reading of real files: the stdlib parser, datetime, plain Python ----

def stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z").timestamp()


def is_watch(attrib: dict[str, str]) -> bool:
    device = attrib.get("device", "")
    return "model:Watch" in device or (not device and "Apple Watch" in attrib["sourceName"])


def evidence(path: Path) -> dict[str, object]:
    """Step sums per source, record counts and the watch's wear minutes, read with
    xml.etree over every element."""
    steps: dict[str, float] = defaultdict(float)
    worn: set[int] = set()
    counts: dict[str, int] = defaultdict(int)
    for _, el in ET.iterparse(path):
        a = el.attrib
        if el.tag == "Record":
            counts["records"] += 1
            if a["type"] == "HKQuantityTypeIdentifierStepCount":
                steps[a["sourceName"]] += float(a["value"])
            if a["type"] in WEAR_TYPES and is_watch(a):
                start, end = stamp(a["startDate"]), stamp(a["endDate"])
                worn.update(range(int(start // 60), int(-(-max(end, start + 1) // 60))))
        elif el.tag == "Workout":
            counts["walking"] += a["workoutActivityType"] == "HKWorkoutActivityTypeWalking"
            if is_watch(a):
                start, end = stamp(a["startDate"]), stamp(a["endDate"])
                worn.update(range(int(start // 60), int(-(-end // 60))))
    return {"steps": dict(steps), "worn": worn, **counts}


def worn_minutes(gs: list[DayGrid]) -> set[int]:
    return {int(t // 60) for g in gs for t in slot_starts(g)[g.worn == WORN]}


@pytest.mark.parametrize("relative", REAL)
def test_real_exports_match_a_plain_stdlib_reading(relative: str) -> None:
    path = device_file(relative)
    expected = evidence(path)
    result = parse(path.read_bytes())
    gs = grids(result)
    assert result.format == "apple-health" and result.partial is None and not result.skipped
    assert result.records == expected.get("records", 0)
    # One step source at most in these files, so the total is that source's sum; no two
    # pieces of watch evidence are within the bridging gap, so wear is their minutes.
    assert len(expected["steps"]) <= 1  # type: ignore[arg-type]
    total = sum(expected["steps"].values())  # type: ignore[attr-defined]
    assert sum(g.total_steps for g in gs) == pytest.approx(total)
    assert worn_minutes(gs) == expected["worn"]
    if expected.get("walking"):
        assert any(f"{expected['walking']} walking workouts" in n for n in result.notes)


def test_the_real_2021_export_names_its_sources_and_what_it_left_out() -> None:
    result = parse(device_file(REAL[3]).read_bytes())
    assert result.sync_times == [("p1", datetime(2021, 1, 23, 1, 37, 58, tzinfo=timezone.utc))]
    assert result.notes[0].startswith("iPhone \"DonorTwo's iPhone\": 432 steps in 4 minutes")
    assert "stand hours: 1 stood, 0 idle" in " ".join(result.notes)
    assert "11 walking-metric samples" in " ".join(result.notes)
    gs = grids(result)
    assert [(str(g.local_date), g.total_steps) for g in gs if g.total_steps] == [
        ("2014-09-19", 432.0)]


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_the_real_zip_contents_read_as_the_iphone_zips_them() -> None:
    folder = TEST_DATA / ZIP_FOLDER  # copied: Apache-2.0 (tests/data/ATTRIBUTION.md)
    members = {str(p.relative_to(folder)): p.read_bytes()
               for p in sorted(folder.rglob("*")) if p.is_file()}
    data = zip_of(members)
    assert detect(data[:65536], "export.zip").name == "apple-health"
    from_zip = grids(parse(data, name="export.zip"))
    from_xml = grids(parse(members["apple_health_export/export.xml"]))
    assert [g.same_data(h) for g, h in zip(from_zip, from_xml)] == [True] * len(from_xml)
    assert worn_minutes(from_zip) == evidence(folder / "apple_health_export/export.xml")["worn"]


@pytest.mark.parametrize("name", ["apple_health_export/Export.xml", "exportar.xml",
                                  "apple_health_export/导出.xml"])
def test_the_export_is_found_by_its_root_whatever_its_name(name: str) -> None:
    xml = device_file(REAL[3]).read_bytes()
    cda = b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"/>'
    data = zip_of({"apple_health_export/export_cda.xml": cda, name: xml,
                   "apple_health_export/workout-routes/route.gpx": b"<gpx/>"})
    assert sum(g.total_steps for g in grids(parse(data, name="export.zip"))) == 432


@pytest.mark.parametrize("relative", REAL)
def test_detection_picks_apple_health(relative: str) -> None:
    path = device_file(relative)
    assert detect(path.read_bytes()[:65536], path.name).name == "apple-health"


def test_other_formats_are_not_claimed() -> None:
    for head in (b"timestamp,steps\n2024-01-01T00:00:00Z,5\n", b"\x0e\x10\x00\x00....FIT",
                 b'<?xml version="1.0"?><gpx/>'):
        assert PARSER.sniff(head, "x") == 0


# ---- generated exports ----

DAY0 = datetime(2024, 6, 3, 8, 0, tzinfo=timezone(timedelta(hours=-7)))
SOURCES = {  # name -> device description (None: no device attribute, as apps write)
    "Ann’s Apple Watch": "&lt;&lt;HKDevice: 0x1&gt;, name:Apple Watch, model:Watch, "
                         "hardware:Watch6,1&gt;",
    "Ann’s iPhone": "&lt;&lt;HKDevice: 0x2&gt;, name:iPhone, model:iPhone, "
                    "hardware:iPhone12,1&gt;",
    "Pedometer++": None,
    "Health": None,
}
RANK = {name: i for i, name in enumerate(SOURCES)}  # "Health" samples are manual entries


def fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S %z")


def record(kind: str, source: str, start: datetime, seconds: float, value: str,
           unit: str = "count", meta: str = "") -> str:
    device = SOURCES.get(source)
    dev = f' device="{device}"' if device else ""
    end = start + timedelta(seconds=seconds)
    head = (f'<Record type="{kind}" sourceName="{source}"{dev} unit="{unit}" '
            f'creationDate="{fmt(end)}" startDate="{fmt(start)}" endDate="{fmt(end)}" '
            f'value="{value}"')
    return f"{head}>{meta}</Record>\n" if meta else head + "/>\n"


def steps(source: str, start: datetime, seconds: float, value: float) -> str:
    meta = '<MetadataEntry key="HKWasUserEntered" value="1"/>' if source == "Health" else ""
    return record("HKQuantityTypeIdentifierStepCount", source, start, seconds, f"{value:g}",
                  meta=meta)


def export(body: str, doctype: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}<HealthData locale="en_US">\n'
            f'<ExportDate value="2024-07-01 10:00:00 -0700"/>\n{body}</HealthData>\n').encode()


sample = st.tuples(st.sampled_from(list(SOURCES)), st.integers(0, 36 * 3600),
                   st.integers(0, 3600), st.integers(0, 3000))


def reference(samples: list[tuple[str, int, int, int]]) -> dict[int, float]:
    """Per UTC minute, the steps of the best-ranked source with a sample there: a plain
    Python model of the rule (each sample's steps shared by overlap, a point in its minute)."""
    per: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    t0 = DAY0.timestamp()
    for source, offset, seconds, value in samples:
        if value > 300 * max(seconds, 60) / 60:
            continue  # faster than any walker: skipped
        a = t0 + offset
        if seconds == 0:
            per[int(a // 60)][RANK[source]] += value
            continue
        for m in range(int(a // 60), int(-(-(a + seconds) // 60))):
            share = (min(a + seconds, m * 60 + 60) - max(a, m * 60)) / seconds
            per[m][RANK[source]] += value * share
    return {m: ranks[min(ranks)] for m, ranks in per.items()}


@settings(max_examples=60, deadline=None)
@given(st.lists(sample, max_size=25))
def test_each_minute_takes_the_best_source_and_totals_are_preserved(
        samples: list[tuple[str, int, int, int]]) -> None:
    body = "".join(steps(s, DAY0 + timedelta(seconds=o), n, v) for s, o, n, v in samples)
    gs = grids(parse(export(body)))
    got = {int(t // 60): v for g in gs for t, v in zip(slot_starts(g), g.steps)
           if not np.isnan(v) and v}
    want = {m: v for m, v in reference(samples).items() if v}
    assert got.keys() == want.keys()
    assert [got[m] for m in sorted(got)] == pytest.approx([want[m] for m in sorted(want)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20 * 60), st.integers(1, 10), st.integers(1, 250)),
                min_size=1, max_size=20), st.floats(0.5, 1.2))
def test_the_phone_never_adds_to_the_watch(walks: list[tuple[int, int, int]],
                                           phone_factor: float) -> None:
    """Overlapping phone and watch samples of the same walks: the day holds the watch's
    steps, not the sum."""
    body = ""
    for minute, length, cadence in walks:
        start, value = DAY0 + timedelta(minutes=minute), cadence * length
        body += steps("Ann’s Apple Watch", start, length * 60, value)
        body += steps("Ann’s iPhone", start + timedelta(seconds=20), length * 60 - 40,
                      round(value * phone_factor))
    watch = sum(cadence * length for _, length, cadence in walks)
    assert sum(g.total_steps for g in grids(parse(export(body)))) == pytest.approx(watch)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 * 86400), st.integers(0, 3600),
                          st.integers(0, 2000)), max_size=30),
       st.sampled_from(["UTC", "Europe/London", "Asia/Kathmandu", TZ]))
def test_spreading_one_source_preserves_its_total_in_any_zone(
        samples: list[tuple[int, int, int]], tz: str) -> None:
    body = "".join(steps("Ann’s iPhone", DAY0 + timedelta(seconds=o), n, v)
                   for o, n, v in samples)
    kept = sum(v for _, n, v in samples if v <= 300 * max(n, 60) / 60)
    assert sum(g.total_steps for g in grids(parse(export(body), tz), tz)) == pytest.approx(kept)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(datetime(1990, 1, 1), datetime(2040, 1, 1)),
       st.integers(-14 * 60, 14 * 60))
def test_dates_parse_as_datetime_parses_them(when: datetime, offset_min: int) -> None:
    aware = when.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=offset_min)))
    assert parse_stamps([fmt(aware)])[0] == aware.timestamp()


def test_impossible_dates_are_nan() -> None:
    bad = ["2019-02-29 10:00:00 +0000", "2019-13-01 10:00:00 +0000", "2019-06-11 24:00:00 +0000",
           "2019-06-11 15:00:00 0700", "2019-06-11T15:00:00 -0700", "yesterday", "",
           "2019-06-11 15:00:00 -0700 "]
    assert np.isnan(parse_stamps(bad)).all()
    assert parse_stamps(["2020-02-29 10:00:00 +0000"])[0] == stamp("2020-02-29 10:00:00 +0000")


def test_wear_sedentary_and_zero_steps_from_the_watch() -> None:
    watch = "Ann’s Apple Watch"
    body = "".join(record("HKQuantityTypeIdentifierHeartRate", watch, DAY0 + timedelta(minutes=m),
                          0, "70", "count/min") for m in range(0, 120, 6))
    body += steps(watch, DAY0 + timedelta(minutes=30), 300, 500)
    body += record("HKCategoryTypeIdentifierAppleStandHour", watch, DAY0 + timedelta(hours=1),
                   3600, "HKCategoryValueAppleStandHourIdle", "")
    body += record("HKQuantityTypeIdentifierBasalEnergyBurned", watch,
                   DAY0 + timedelta(hours=5), 600, "10", "kcal")  # not wear evidence
    (grid,) = grids(parse(export(body)))
    start = int((DAY0.timestamp() - slot_starts(grid)[0]) // 60)
    worn = np.flatnonzero(grid.worn == WORN)
    assert (worn[0], worn[-1], len(worn)) == (start, start + 114, 115)  # gaps of 6 min bridged
    assert grid.total_steps == 500 and np.nansum(grid.steps[worn] == 0) == 110
    sedentary = np.flatnonzero(grid.sedentary_s == 60)
    assert (sedentary[0], sedentary[-1], len(sedentary)) == (start + 60, start + 114, 55)


@pytest.mark.parametrize("layout", ["inline", "apple"])
def test_manual_entries_come_last_and_are_flagged(layout: str) -> None:
    body = steps("Health", DAY0, 1800, 3000) + steps("Ann’s iPhone", DAY0, 600, 1000)
    if layout == "apple":  # one element a line, as the iPhone writes (entries blanked but ours)
        body = " " + body.replace('<MetadataEntry', '\n  <MetadataEntry key="HKTimeZone" '
                                  'value="Europe/Paris"/>\n  <MetadataEntry').replace(
            "</Record>", "\n </Record>").replace("\n<Record", "\n <Record")
        assert body.count("\n  <MetadataEntry") == 2
    result = parse(export(body))
    assert sum(g.total_steps for g in grids(result)) == pytest.approx(1000 + 2000)
    assert "manual entry 'Health': 2,000 steps in 20 minutes used, 1,000 steps left out" in (
        " ".join(result.notes))


def test_odd_records_are_skipped_and_counted() -> None:
    phone = "Ann’s iPhone"
    body = "".join([
        steps(phone, DAY0, 60, 50),
        record("HKQuantityTypeIdentifierStepCount", phone, DAY0, 60, "many"),
        record("HKQuantityTypeIdentifierStepCount", phone, DAY0, 60, "-3"),
        record("HKQuantityTypeIdentifierStepCount", phone, DAY0, 60, "nan"),
        record("HKQuantityTypeIdentifierStepCount", phone, DAY0, 60, "5", unit="km"),
        record("HKQuantityTypeIdentifierStepCount", phone, DAY0, -60, "5"),
        steps(phone, DAY0, 7200, 5000),
        steps(phone, DAY0, 0, 30000),
        record("HKCategoryTypeIdentifierAppleStandHour", "Ann’s Apple Watch", DAY0, 3600,
               "HKCategoryValueAppleStandHourMaybe", ""),
    ])
    body += steps(phone, DAY0, 60, 7).replace(fmt(DAY0), "2024-06-31 08:00:00 -0700", 1)
    result = parse(export(body))
    assert result.skipped == {
        "StepCount whose value is not a non-negative number": 3,
        "StepCount with unit 'km' (not count)": 1,
        "StepCount ending before it starts": 1,
        "StepCount longer than an hour (a total, not minute data)": 1,
        "StepCount faster than 300 steps a minute": 1,
        "StepCount with a bad date": 1,
        "stand hour with an unknown value 'HKCategoryValueAppleStandHourMaybe'": 1,
    }
    assert sum(g.total_steps for g in grids(result)) == 50 and result.partial is None


def test_the_layout_of_the_xml_does_not_change_the_result() -> None:
    """Apple's one record per line (unused ones blanked unparsed), one long line, attributes
    on lines of their own, a used record after an unused one on the same line."""
    phone, watch = "Ann’s iPhone", "Ann’s Apple Watch"
    body = "".join(record("HKQuantityTypeIdentifierBasalEnergyBurned", watch,
                          DAY0 + timedelta(minutes=m), 60, "1.2", "kcal")
                   + steps(phone, DAY0 + timedelta(minutes=m), 60, 40)
                   + record("HKQuantityTypeIdentifierHeartRate", watch,
                            DAY0 + timedelta(minutes=m), 0, "70", "count/min")
                   for m in range(0, 300, 7))
    apple = export(body.replace("<Record", " <Record"))
    layouts = [apple, export(body.replace("\n", "")), export(body.replace('" ', '"\n   ')),
               export(body.replace("/>\n<Record type=\"HKQuantityTypeIdentifierStepCount",
                                   "/><Record type=\"HKQuantityTypeIdentifierStepCount"))]
    blanked = _blank_unused(apple, ParseResult("apple-health"))
    assert blanked.count(b"\n") == apple.count(b"\n") and b"BasalEnergy" not in blanked
    results = [parse(data) for data in layouts]
    assert {r.records for r in results} == {3 * 43}
    reference_grid = grids(results[0])
    assert sum(g.total_steps for g in reference_grid) == 43 * 40
    for other in results[1:]:
        assert [g.same_data(h) for g, h in zip(grids(other), reference_grid)] == [True]


# ---- hostile and damaged inputs ----

LAUGHS = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10))
BILLION_LAUGHS = export(steps("Health", DAY0, 60, 1).replace('"Health"', '"&l9;"'),
                        f'<!DOCTYPE HealthData [<!ENTITY l0 "lol">{LAUGHS}]>\n')
XXE = export(steps("Ann’s iPhone", DAY0, 60, 1).replace('value="1"', 'value="&x;"')
             + "<Note>&x;</Note>",
             '<!DOCTYPE HealthData [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n')
EXTERNAL_DTD = export("", '<!DOCTYPE HealthData SYSTEM "http://127.0.0.1:9/health.dtd">\n')


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, EXTERNAL_DTD],
                         ids=["billion-laughs", "external-entity", "external-dtd"])
def test_entities_and_external_dtds_are_refused_unexpanded(data: bytes) -> None:
    for payload in (data, zip_of({"apple_health_export/export.xml": data})):
        with pytest.raises(UnsupportedFormat, match="refused") as exc:
            parse(payload)
        assert "root:" not in str(exc.value) and "lol" not in str(exc.value)


def test_a_truncated_export_keeps_what_was_read() -> None:
    body = "".join(steps("Ann’s iPhone", DAY0 + timedelta(minutes=10 * i), 60, 100)
                   for i in range(50))
    data = export(body)
    cut = data.index(b"<Record", len(data) // 2) + 40
    result = parse(data[:cut])
    assert result.partial and "cut short" in result.partial
    kept = data[:cut].count(b"<Record") - 1
    assert result.records == kept and sum(g.total_steps for g in grids(result)) == kept * 100


def test_a_real_export_cut_in_the_middle_is_partial() -> None:
    data = device_file(REAL[3]).read_bytes()
    result = parse(data[:len(data) * 2 // 3])
    assert result.partial and result.records > 0


@pytest.mark.parametrize("data, error", [
    (b"\x00\x01binary" * 50, UnsupportedFormat),
    (b'<?xml version="1.0"?><gpx version="1.1"><trk/></gpx>', UnsupportedFormat),
    (b'<!DOCTYPE HealthData [<!ELEMENT HealthData ANY', CorruptFile),
    (b'<?xml version="1.0"?><!DOCTYPE gpx><gpx/>', UnsupportedFormat),
], ids=["binary", "other-xml", "broken-dtd", "other-doctype"])
def test_what_is_not_apple_health_is_refused(data: bytes, error: type[IngestError]) -> None:
    with pytest.raises(error):
        parse(data)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.binary(max_size=40), st.integers(0, 40), st.booleans())
def test_damaged_bytes_only_ever_raise_our_own_errors(at: int, junk: bytes, width: int,
                                                      zipped: bool) -> None:
    """Any slice of a real export replaced by arbitrary bytes: a result or an IngestError."""
    xml = device_file(REAL[3]).read_bytes()
    at %= len(xml)
    data = xml[:at] + junk + xml[at + width:]
    try:
        result = parse(zip_of({"apple_health_export/export.xml": data}) if zipped else data)
    except IngestError:
        return
    assert result.format == "apple-health" and all(g.total_steps >= 0 for g in grids(result))


def test_zip_defects_are_refused_clearly() -> None:
    xml = device_file(REAL[3]).read_bytes()
    good = zip_of({"apple_health_export/export.xml": xml})
    cases = {
        "truncated": (good[:len(good) // 2], CorruptFile, "damaged or cut-short zip"),
        "traversal": (zip_of({"../../export.xml": xml}), UnsupportedFormat, "outside"),
        "absolute": (zip_of({"/tmp/export.xml": xml}), UnsupportedFormat, "outside"),
        "no export": (zip_of({"apple_health_export/export_cda.xml": b"<ClinicalDocument/>",
                              "notes.txt": b"hi"}), UnsupportedFormat, "without an Apple"),
        "bomb": (zip_of({"apple_health_export/export.xml": xml + b" " * (50 << 20)}),
                 TooLarge, "zip bomb"),
    }
    for name, (data, error, words) in cases.items():
        with pytest.raises(error, match=words):
            parse(data, name="export.zip")


def test_a_zip_damaged_inside_is_corrupt() -> None:
    data = bytearray(zip_of({"apple_health_export/export.xml": device_file(REAL[2]).read_bytes()}))
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    with pytest.raises(CorruptFile):
        parse(bytes(data), name="export.zip")


# ---- end to end through the CLI (stable while the internals move) ----

def test_cli_ingest_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from rehabwatch.cli import main

    monkeypatch.setenv("RW_DATABASE_URL", f"sqlite:///{tmp_path / 'rw.db'}")
    monkeypatch.delenv("RW_KAFKA_URL", raising=False)
    watch, phone = "Ann’s Apple Watch", "Ann’s iPhone"
    body = ""
    for minute in range(0, 14 * 60, 5):  # worn 08:00-22:00, a heart rate every 5 minutes
        body += record("HKQuantityTypeIdentifierHeartRate", watch,
                       DAY0 + timedelta(minutes=minute), 0, "70", "count/min")
    for hour in range(10):  # ten walks counted by both, 600 steps by the watch
        start = DAY0 + timedelta(hours=hour)
        body += steps(watch, start, 600, 600) + steps(phone, start, 590, 650)
    path = tmp_path / "export.zip"
    path.write_bytes(zip_of({"apple_health_export/export.xml": export(body)}))
    assert main(["init"]) == 0
    assert main(["patient", "add", "p1", "--procedure", "microdiscectomy", "--start-date",
                 "2024-05-20", "--tz", TZ]) == 0
    capsys.readouterr()
    assert main(["ingest", str(path), "--patient", "p1", "--json"]) == 0
    (upload,) = json.loads(capsys.readouterr().out)["uploads"]
    assert (upload["status"], upload["format"], upload["steps"]) == ("stored", "apple-health",
                                                                     6000)
    assert main(["summary", "p1", "--from", "2024-06-03", "--to", "2024-06-03", "--json"]) == 0
    (day,) = json.loads(capsys.readouterr().out)["days"]
    assert (day["steps"], day["valid"], day["sources"]) == (
        6000, True, ["apple-health:by-priority:"])
    assert day["wear_minutes_daytime"] >= 13 * 60
    assert os.environ["RW_DATABASE_URL"].endswith("rw.db")
