"""ActiGraph: every ActiGraph file in the shared data (.agd and ActiLife CSVs), checked
against plain sqlite3 queries and the files' own columns; hostile and damaged .agd files;
the date order of ActiLife preambles; and the CLI end to end."""

from __future__ import annotations

import csv
import io
import sqlite3
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from ingest.actigraph import PARSER
from ingest.actigraph_agd import _opened
from ingest.base import ParseContext, ParseResult
from ingest.errors import AmbiguousFormat, CorruptFile, UnsupportedFormat
from ingest.registry import detect
from schemas.binning import bin_batch
from schemas.daygrid import NOT_WORN, WORN, DayGrid, day_bounds
from tests.cli_e2e import ingest_and_summarize
from tests.conftest import device_file, device_files
from tests.factories import slot_starts

FOLDER = "research_accelerometer/actigraph"
AGD = f"{FOLDER}/GT3XPlus-RawData-Day01.agd"
CSV13, CSV61 = f"{FOLDER}/ActiGraph13.csv", f"{FOLDER}/ActiGraph61.csv"
DERIVED = f"{FOLDER}/GT3XPlus-RawData-Day01.csv"
TZ = "America/Chicago"  # no clock change inside any of the recordings
TICKS_1970, TICKS_PER_MINUTE = 621_355_968_000_000_000, 600_000_000
EXPECTED: dict[str, type | None] = {AGD: None, CSV13: None, CSV61: None,
                                    DERIVED: UnsupportedFormat}


def parse(data: bytes, filename: str, date_order: str | None = None) -> ParseResult:
    return PARSER.parse(io.BytesIO(data), ParseContext("p1", TZ, filename,
                                                       date_order=date_order))


def grids(result: ParseResult) -> list[DayGrid]:
    return [g for s in result.series for g in bin_batch(s.batch, "p1", TZ)]


def by_local_minute(days: list[DayGrid], measure: str) -> dict[int, float]:
    """A measure by local wall-clock minute since 1970 (the device clock's minutes)."""
    out = {}
    for g in days:
        first = int(slot_starts(g)[0]) // 60 + int(local_offset_min(g))
        values = getattr(g, measure)
        out.update({first + i: float(v) for i, v in enumerate(values) if not np.isnan(v)})
    return out


def local_offset_min(g: DayGrid) -> float:
    wall = (datetime.combine(g.local_date, datetime.min.time()) - datetime(1970, 1, 1))
    return (wall.total_seconds() - day_bounds(g.local_date, g.tz)[0]) / 60


def agd_copy(tmp_path: Path, *statements: str) -> bytes:
    """The shared .agd's bytes after running ``statements`` on a copy (for variants)."""
    path = tmp_path / "variant.agd"
    path.write_bytes(device_file(AGD).read_bytes())
    with sqlite3.connect(path) as conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()
    return path.read_bytes()


def query(data: bytes, sql: str) -> list[tuple]:
    """A plain sqlite3 query of an .agd's bytes (the independent reading)."""
    with tempfile.NamedTemporaryFile(suffix=".agd") as f:
        f.write(data)
        f.flush()
        conn = sqlite3.connect(f"file:{f.name}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


def rows(name: str) -> list[list[str]]:
    with device_file(name).open(newline="") as f:
        return list(csv.reader(f))[10:]


def test_every_actigraph_file_has_an_expected_outcome() -> None:
    found = set(device_files(f"{FOLDER}/*"))
    assert found == set(EXPECTED)
    for name in EXPECTED:
        assert detect(device_file(name).read_bytes(), Path(name).name).name == "actigraph"


def test_agd_steps_per_minute_match_a_plain_sqlite_query() -> None:
    data = device_file(AGD).read_bytes()
    result = parse(data, "GT3XPlus-RawData-Day01.agd")
    want = dict(query(data, f"SELECT (dataTimestamp - {TICKS_1970}) / {TICKS_PER_MINUTE} AS m, "
                            "SUM(steps) FROM data GROUP BY m"))
    assert by_local_minute(grids(result), "steps") == want
    assert sum(want.values()) == 6220 and result.records == 8999
    source = result.series[0].batch.source
    assert (source.kind, source.device, source.serial) == ("actigraph", "GT3XPlus",
                                                           "NEO1DXXXXXXXX")


def test_an_ankle_worn_inclinometer_is_not_posture(tmp_path: Path) -> None:
    """The shared .agd was worn at the ankle: no sitting from it, and it says why."""
    result = parse(device_file(AGD).read_bytes(), "x.agd")
    assert result.series[0].batch.sedentary_s is None
    assert "worn at the ankle" in result.notes[0]


def test_at_the_waist_sitting_and_lying_are_sedentary_and_off_is_not_worn(
        tmp_path: Path) -> None:
    data = agd_copy(tmp_path, "UPDATE settings SET settingValue = 'Waist' "
                              "WHERE settingName = 'limb'")
    days = grids(parse(data, "waist.agd"))
    want = dict(query(data, f"SELECT (dataTimestamp - {TICKS_1970}) / {TICKS_PER_MINUTE} AS m, "
                            "SUM(inclineSitting + inclineLying) FROM data GROUP BY m"))
    assert by_local_minute(days, "sedentary_s") == want
    off = {m for (m,) in query(data, f"SELECT (dataTimestamp - {TICKS_1970}) / "
                                     f"{TICKS_PER_MINUTE} AS m FROM data GROUP BY m "
                                     "HAVING SUM(inclineOff) = 60")}
    worn = by_local_minute(days, "worn")
    assert {m for m, w in worn.items() if w == NOT_WORN} == off
    assert {m for m, w in worn.items() if w == WORN} == set(want) - off


def test_numbers_stored_as_text_are_read_with_the_files_decimal_comma(tmp_path: Path) -> None:
    """ActiLife in a Belgian culture: decimal ',' and grouping '.'; the same steps result."""
    data = agd_copy(tmp_path,
                    "UPDATE settings SET settingValue = ',' WHERE settingName = 'decimal'",
                    "UPDATE settings SET settingValue = '.' WHERE settingName = 'grouping'",
                    "UPDATE data SET steps = replace(printf('%.1f', steps), '.', ',')")
    assert query(data, "SELECT typeof(steps), steps FROM data LIMIT 1") == [("text", "2,0")]
    assert sum(g.total_steps for g in grids(parse(data, "be.agd"))) == 6220
    bad = agd_copy(tmp_path, "UPDATE data SET steps = 'many' WHERE rowid = 7")
    with pytest.raises(CorruptFile, match=r"data row 7: 'many' is not a number"):
        parse(bad, "bad.agd")


@pytest.mark.parametrize("statement, match", [
    ("CREATE TRIGGER t AFTER INSERT ON data BEGIN DELETE FROM settings; END", "holds a trigger"),
    ("CREATE VIEW v AS SELECT * FROM data", "holds a view"),
    ("CREATE VIRTUAL TABLE notes USING fts5(body)", "holds a virtual table"),
    ("ALTER TABLE data RENAME TO data_old", "without ActiLife's settings and data"),
    ("ALTER TABLE data DROP COLUMN steps", "data table lacks steps"),
], ids=["trigger", "view", "virtual table", "no data table", "no steps column"])
def test_hostile_or_foreign_databases_are_refused_unread(tmp_path: Path, statement: str,
                                                         match: str) -> None:
    data = agd_copy(tmp_path, statement)
    with pytest.raises((CorruptFile, UnsupportedFormat), match=match):
        parse(data, "hostile.agd")


def test_extra_tables_are_ignored_and_nothing_is_written(tmp_path: Path) -> None:
    data = agd_copy(tmp_path, "CREATE TABLE payload (sql TEXT)",
                    "INSERT INTO payload VALUES ('ATTACH DATABASE ''/tmp/x'' AS x')")
    before = sorted(Path(tempfile.gettempdir()).glob("rehabwatch-agd-*"))
    result = parse(data, "extra.agd")
    assert result.records == 8999
    assert sorted(Path(tempfile.gettempdir()).glob("rehabwatch-agd-*")) == before


@pytest.mark.parametrize("sql", [
    "ATTACH DATABASE ':memory:' AS other", "INSERT INTO settings VALUES (99, 'x', 'y')",
    "SELECT * FROM sleep", "PRAGMA writable_schema = ON", "SELECT load_extension('x')",
])
def test_the_connection_allows_nothing_but_reading_settings_and_data(sql: str) -> None:
    with _opened(device_file(AGD).read_bytes()) as conn:
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute(sql)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_agd_is_refused(cut: float) -> None:
    data = device_file(AGD).read_bytes()
    with pytest.raises(CorruptFile, match="x.agd: unreadable ActiGraph .agd"):
        parse(data[:int(len(data) * cut)], "x.agd")


def test_fewer_epochs_than_declared_is_partial(tmp_path: Path) -> None:
    result = parse(agd_copy(tmp_path, "DELETE FROM data WHERE rowid > 5000"), "short.agd")
    assert result.records == 5000 and "5000 of the 8999 epochs" in (result.partial or "")


def test_not_sqlite_at_all_is_refused_by_name() -> None:
    junk = b"PK\x03\x04 this is a zip, not an agd" * 10
    assert detect(junk, "upload.agd").name == "actigraph"
    with pytest.raises(CorruptFile, match="upload.agd: not an ActiGraph .agd"):
        parse(junk, "upload.agd")


def test_a_table_derived_from_an_agd_is_refused() -> None:
    """The converted CSV labels the device's local clock UTC: its first 'Z' time is the
    .agd's first local time (so reading it as UTC would shift every epoch)."""
    data = device_file(DERIVED).read_bytes()
    first_z = data.splitlines()[1].split(b",")[0].decode()
    (ticks,) = query(device_file(AGD).read_bytes(), "SELECT MIN(dataTimestamp) FROM data")[0]
    local = datetime(1970, 1, 1) + timedelta(microseconds=(ticks - TICKS_1970) // 10)
    assert first_z == local.strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(UnsupportedFormat, match="upload the .agd file"):
        parse(data, "GT3XPlus-RawData-Day01.csv")


@pytest.mark.parametrize("name, epoch, columns", [(CSV13, 15, 4), (CSV61, 5, 9)])
def test_actilife_csv_steps_per_minute_match_its_rows(name: str, epoch: int,
                                                      columns: int) -> None:
    raw = rows(name)
    assert {len(r) for r in raw} == {columns}
    minute = np.arange(len(raw)) // (60 // epoch)
    steps = np.bincount(minute, weights=[float(r[3]) for r in raw])
    (day,) = grids(parse(device_file(name).read_bytes(), Path(name).name))
    assert day.steps[~np.isnan(day.steps)].tolist() == steps.tolist()


def test_the_mode_61_inclinometer_gives_sedentary_seconds_and_wear() -> None:
    raw = np.array([[float(v) for v in r] for r in rows(CSV61)])
    minute = np.arange(len(raw)) // 12  # 5-s epochs
    result = parse(device_file(CSV61).read_bytes(), "ActiGraph61.csv")
    (day,) = grids(result)
    covered = ~np.isnan(day.steps)
    assert np.flatnonzero(covered)[0] == 21 * 60 + 35  # Start Time 21:35:00
    sitting_lying = np.bincount(minute, weights=raw[:, 7] + raw[:, 8])
    off = np.bincount(minute, weights=raw[:, 5]) == np.bincount(minute) * 5
    assert day.sedentary_s[covered].tolist() == sitting_lying.tolist()
    assert (day.worn[covered] == NOT_WORN).tolist() == off.tolist()
    assert result.notes == []


def replace_preamble(name: str, **lines: str) -> bytes:
    """The CSV with preamble lines replaced, by their first word (e.g. Start="Start Date …")."""
    text = device_file(name).read_text()
    head, rest = text.split("\n", 10)[:10], text.split("\n", 10)[10]
    for key, line in lines.items():
        head = [line if h.startswith(key.replace("_", " ")) else h for h in head]
    return ("\n".join(head) + "\n" + rest).encode()


def start_of(result: ParseResult) -> datetime:
    """The first epoch's start, UTC (naive)."""
    return datetime(1970, 1, 1) + timedelta(seconds=float(result.series[0].batch.start[0]))


def test_a_declared_date_format_the_data_contradict_is_noted() -> None:
    data = device_file(CSV13).read_text().replace("date format M/d/yyyy", "date format dd/MM/yyyy")
    result = parse(data.encode(), "ActiGraph13.csv")
    assert "declares date format dd/MM/yyyy" in result.notes[0]
    assert start_of(result) == datetime(2013, 8, 26, 14)  # 09:00 CDT


def test_an_undecidable_date_order_is_refused_unless_given() -> None:
    data = replace_preamble(CSV13, Start_Date="Start Date 8/5/2013",
                            Download_Date="Download Date 8/9/2013")
    with pytest.raises(AmbiguousFormat, match="declares M/d/yyyy"):
        parse(data, "ActiGraph13.csv")
    assert start_of(parse(data, "a.csv", "DMY")) == datetime(2013, 5, 8, 14)
    assert start_of(parse(data, "a.csv", "MDY")) == datetime(2013, 8, 5, 14)


def test_a_download_before_the_recording_rules_an_order_out() -> None:
    data = replace_preamble(CSV13, Start_Date="Start Date 2/1/2013",
                            Download_Date="Download Date 1/3/2013")
    assert start_of(parse(data, "a.csv")) == datetime(2013, 1, 2, 15)  # DMY, 09:00 CST
    with pytest.raises(AmbiguousFormat, match="valid only as DMY"):
        parse(data, "a.csv", "MDY")


def with_header(data: bytes, header: str, stamp: Callable[[int], str]) -> bytes:
    """An ActiLife CSV with a header row and each row's time in front (Link-style exports)."""
    lines = data.decode().splitlines()
    body = [f"{stamp(i)},{line}" for i, line in enumerate(lines[10:])]
    return "\n".join(lines[:10] + [header] + body).encode() + b"\n"


def test_iso_timestamps_decide_a_preamble_that_lies_about_its_date_format() -> None:
    """ActiGraph Link exports declare dd/MM/yyyy over a MM-dd-yyyy Start Date."""
    lying = replace_preamble(CSV61, Start_Date="Start Date 08-12-2016").replace(
        b"date format M/d/yyyy", b"date format dd/MM/yyyy")
    start = datetime(2016, 8, 12, 21, 35)
    data = with_header(lying, "timestamp,Axis1,Axis2,Axis3,Steps,Lux,Inclinometer Off,"
                       "Inclinometer Standing,Inclinometer Sitting,Inclinometer Lying",
                       lambda i: (start + timedelta(seconds=5 * i)).isoformat() + "Z")
    result = parse(data, "link.csv")
    assert start_of(result) == datetime(2016, 8, 13, 2, 35)  # 21:35 CDT
    assert "declares date format dd/MM/yyyy" in result.notes[-1]
    broken = data.replace(b"2016-08-12T21:35:05Z", b"2016-08-12T21:35:06Z")
    with pytest.raises(CorruptFile, match="fit neither"):
        parse(broken, "link.csv")


def test_date_and_time_columns_are_checked_against_the_epochs() -> None:
    data = with_header(device_file(CSV13).read_bytes(), "Date, Time,Axis1,Axis2,Axis3,Steps",
                       lambda i: f"8/26/2013,{9 + i * 15 // 3600:02d}:"
                                 f"{i * 15 // 60 % 60:02d}:{i * 15 % 60:02d}")
    assert sum(g.total_steps for g in grids(parse(data, "h.csv"))) == 1118
    with pytest.raises(CorruptFile, match="fit neither"):
        parse(data.replace(b"8/26/2013,09:00:15", b"8/26/2013,09:00:16"), "h.csv")


@pytest.mark.parametrize("edit, error, match", [
    (lambda t: t.replace("Mode = 13", "Mode = 12"), UnsupportedFormat, "no steps"),
    (lambda t: t.replace("Mode = 13", "Mode = 5"), UnsupportedFormat, "layout is not certain"),
    (lambda t: t.replace("Mode = 13", "Mode = 61"), CorruptFile, "not a non-negative number"),
    (lambda t: t.replace("Epoch Period (hh:mm:ss) 00:00:15", "Epoch Period (hh:mm:ss) 00:01:30"),
     UnsupportedFormat, "epoch of 90 s"),
    (lambda t: t.replace("Start Date 8/26/2013", "Start Dat"), CorruptFile, "lacks start date"),
    (lambda t: t.replace("\n0,0,0,0\n", "\n0,0,0,x\n", 1), CorruptFile,
     "steps is not a non-negative number"),
], ids=["mode without steps", "uncertain mode", "wrong column count", "long epoch",
        "no start date", "non-numeric steps"])
def test_malformed_actilife_csvs_are_refused_clearly(edit, error, match) -> None:
    with pytest.raises(error, match=match):
        parse(edit(device_file(CSV13).read_text()).encode(), "ActiGraph13.csv")


def test_an_actilife_csv_cut_inside_its_last_line_is_partial() -> None:
    data = device_file(CSV61).read_bytes().rstrip(b"\n")
    result = parse(data[:-6], "ActiGraph61.csv")
    assert result.records == 989 and "cut short" in (result.partial or "")


def test_end_to_end_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    upload, days = ingest_and_summarize(device_file(AGD), TZ, tmp_path, monkeypatch, capsys)
    assert (upload["status"], upload["format"], upload["steps"]) == ("stored", "actigraph", 6220)
    assert [d["local_date"] for d in days] == ["2012-06-27", "2012-06-28"]
    assert sum(d["steps"] for d in days) == 6220
    assert all(d["sitting_minutes"] is None for d in days)  # ankle: no sensed posture
