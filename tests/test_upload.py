"""Uploads end to end through the CLI, on SQLite and PostgreSQL: stored whole or not at all,
duplicates and overlaps never double-count, every upload is logged."""

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from storage import database
from storage.tables import GridRow, Upload

CSV_HEAD = "timestamp,steps\n"


def minutes_csv(path: Path, start: str, n: int, steps: int) -> Path:
    stamps = pd.date_range(start, periods=n, freq="min", tz="UTC")
    path.write_text(CSV_HEAD + "".join(f"{t.isoformat()},{steps}\n" for t in stamps))
    return path


def stored_steps(url: str) -> float:
    with database.session_scope(url) as s:
        return float(s.scalar(select(func.coalesce(func.sum(GridRow.total_steps), 0))))


def test_same_file_twice_is_a_logged_duplicate(rw, tmp_path: Path, database_url: str) -> None:
    f = minutes_csv(tmp_path / "a.csv", "2024-05-02T08:00Z", 120, 50)
    code, first = rw("ingest", str(f), "--patient", "P1", "--json")
    assert code == 0 and first["uploads"][0]["status"] == "stored"
    code, second = rw("ingest", str(f), "--patient", "P1", "--json")
    assert code == 0 and second["uploads"][0]["status"] == "duplicate"
    assert stored_steps(database_url) == 120 * 50


def test_overlapping_exports_replace_never_add(rw, tmp_path: Path, database_url: str) -> None:
    a = minutes_csv(tmp_path / "a.csv", "2024-05-02T08:00Z", 120, 50)   # 08:00-10:00
    b = minutes_csv(tmp_path / "b.csv", "2024-05-02T09:00Z", 120, 50)   # 09:00-11:00
    assert rw("ingest", str(a), str(b), "--patient", "P1")[0] == 0
    assert stored_steps(database_url) == 180 * 50
    code, doc = rw("summary", "P1", "--json")
    assert [d["steps"] for d in doc["days"]] == [180 * 50]


def test_corrupt_file_is_rejected_logged_and_writes_nothing(rw, tmp_path: Path,
                                                            database_url: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_HEAD + "2024-05-02T08:00Z,10\n2024-05-02T08:01Z,ten\n")
    code, err = rw("ingest", str(bad), "--patient", "P1")
    assert code == 1 and "bad.csv" in err and "line" in err
    assert stored_steps(database_url) == 0
    with database.session_scope(database_url) as s:
        (upload,) = s.scalars(select(Upload)).all()
        assert upload.status == "rejected" and "bad.csv" in upload.reason


def test_a_bad_file_does_not_stop_the_others(rw, tmp_path: Path, database_url: str) -> None:
    good = minutes_csv(tmp_path / "good.csv", "2024-05-02T08:00Z", 10, 5)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not an export")
    code, _ = rw("ingest", str(junk), str(good), "--patient", "P1")
    assert code == 1 and stored_steps(database_url) == 50


def test_upload_size_limit(rw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RW_MAX_UPLOAD_MB", "1")
    f = minutes_csv(tmp_path / "a.csv", "2024-05-02T08:00Z", 10, 5)
    with f.open("a") as out:  # a comment-free CSV padded past 1 MiB with blank lines
        out.write("\n" * (1 << 20))
    code, err = rw("ingest", str(f), "--patient", "P1")
    assert code == 1 and "above the 1,048,576-byte limit" in err


def test_unknown_patient_is_refused(rw, tmp_path: Path) -> None:
    f = minutes_csv(tmp_path / "a.csv", "2024-05-02T08:00Z", 10, 5)
    code, err = rw("ingest", str(f), "--patient", "NOPE")
    assert code == 1 and "NOPE" in err


def test_merged_fitabase_file_maps_subjects_to_patients(rw, database_url: str) -> None:
    from tests.conftest import device_file

    path = device_file("fitbit/fitabase_kaggle_4.12.16-5.12.16/hourlySteps_merged.csv")
    frame = pd.read_csv(path)
    ids = [str(i) for i in frame["Id"].unique()[:2]]
    rw("patient", "add", "P2", "--procedure", "fusion", "--start-date", "2016-04-01",
       "--tz", "America/New_York")
    code, doc = rw("ingest", str(path), "--patient", "P1", "--id-map", f"{ids[0]}=P1",
                   "--id-map", f"{ids[1]}=P2", "--json")
    assert code == 0, doc
    expected = frame[frame["Id"].astype(str).isin(ids)]["StepTotal"].sum()
    assert stored_steps(database_url) == pytest.approx(expected)
    assert doc["uploads"][0]["skipped"]
