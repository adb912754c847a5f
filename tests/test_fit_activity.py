"""FIT activity files: steps from strides, never from pedal or stroke cycles."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from ingest.base import ParseContext, ParseResult
from ingest.fit import FIELDS, PARSER
from ingest.fit_activity import STEP_SPORTS
from ingest.fit_reader import FitReader
from schemas.binning import bin_batch
from tests.conftest import device_file
from tests.fit_evidence import cadence_and_session_strides, session_totals

#: file -> (device, sport expected from the file's session)
ACTIVITY = {
    "12129115726_ACTIVITY.fit": "fenix6x", "2018-03-04-qdp.fit": "fr230",
    "2018-08-27-rec.fit": "fr35", "920xt-2019-05-16_19-42-54.fit": "fr920xt",
    "activity-small-fenix2-run.fit": "fenix2", "event_timestamp.fit": "fr735xt",
    "garmin-fenix-5-run.fit": "fenix5", "garmin-fenix-5-walk.fit": "fenix5",
    "garmin-fr935-cr.fit": "fr935", "movescount-export-no-timestamp.fit": "suunto-34",
    "sample_file.fit": "fr220",
}


def parse(path: Path) -> ParseResult:
    return PARSER.parse(io.BytesIO(path.read_bytes()), ParseContext("p1", "UTC", filename=path.name))


@pytest.mark.parametrize("name", sorted(ACTIVITY))
def test_steps_follow_the_session(name: str) -> None:
    """Stepping sports: 2 x session strides when the device counted them; any other sport: 0."""
    path = device_file(f"fit/activity/{name}")
    result = parse(path)
    assert result.partial is None
    batch = result.series[0].batch
    assert batch.source.device == ACTIVITY[name]
    sessions = session_totals(path)
    stepping = [s for s in sessions if s.get("sport") in STEP_SPORTS]
    if not stepping:
        assert batch.total_steps == 0 and np.isnan(batch.steps).all()
    elif all("total_cycles" in s for s in stepping):
        assert batch.total_steps == pytest.approx(2 * sum(s["total_cycles"] for s in stepping))
    else:  # fenix 2 and Suunto: no session total, steps from cadence alone
        assert batch.total_steps > 0
    grids = bin_batch(batch, "p1", "UTC")
    assert sum(g.total_steps for g in grids) == pytest.approx(batch.total_steps)
    assert all((g.worn == 1).any() for g in grids)


@pytest.mark.parametrize("path", ["activity/sample_file.fit", "activity/garmin-fenix-5-run.fit",
                                  "corrupt/mornindew-broken.fit"])
def test_cadence_agrees_with_session_strides(path: str) -> None:
    """Two independent measurements: cadence over time vs the device's stride count.
    (The 45-second fenix 5 walk is left out: its first and last seconds weigh ~15 %.)"""
    reader = FitReader(device_file(f"fit/{path}").read_bytes(), FIELDS)
    msgs = list(reader.messages())
    pairs = cadence_and_session_strides([m for g, m in msgs if g == 20],
                                        [m for g, m in msgs if g == 18])
    assert pairs
    for integrated, total in pairs:
        assert integrated == pytest.approx(total, rel=0.06)


def test_fr220_gives_5534_steps_and_a_walking_bout() -> None:
    batch = parse(device_file("fit/activity/sample_file.fit")).series[0].batch
    assert batch.total_steps == pytest.approx(2 * 2767)
    (grid,) = bin_batch(batch, "p1", "UTC")
    stepping_minutes = np.flatnonzero(np.nan_to_num(grid.stepping_s) >= 30)
    assert stepping_minutes.size >= 30  # a 34.5-minute run, minute after minute
    assert np.nanmax(grid.steps) < 220  # a human cadence, not pedal revolutions x 2


def test_cycling_cycles_are_never_steps() -> None:
    path = device_file("fit/activity/2018-03-04-qdp.fit")
    assert session_totals(path)[0]["total_cycles"] == 22593  # pedal revolutions
    batch = parse(path).series[0].batch
    assert batch.total_steps == 0 and len(batch) > 2000


@pytest.mark.parametrize("name,files", [("event_timestamp.fit", 5), ("garmin-fr935-cr.fit", 7)])
def test_chained_files_are_all_read(name: str, files: int) -> None:
    reader = FitReader(device_file(f"fit/activity/{name}").read_bytes(), FIELDS)
    records = sum(1 for g, _ in reader.messages() if g == 20)
    assert reader.files == files and reader.damage is None and not reader.crc_errors
    assert records == {"event_timestamp.fit": 4376, "garmin-fr935-cr.fit": 7515}[name]


def test_device_relative_time_is_not_placed_on_a_date() -> None:
    """FR70: compressed timestamps counting from power-on (time_created 17217864)."""
    result = parse(device_file("fit/activity/compressed-speed-distance.fit"))
    assert result.series == [] and result.partial is None
    assert result.skipped == {"record without a UTC timestamp": 755}
    assert result.notes and result.records == 780


def test_compressed_timestamps_advance_like_fitdecode() -> None:
    """Compressed headers: our times must equal fitdecode's, record for record."""
    from tests.fit_evidence import fitdecode_messages, raw
    path = device_file("fit/activity/compressed-speed-distance.fit")
    theirs = [raw(m).get("timestamp") for m in fitdecode_messages(path) if m.name == "record"]
    ours = [m["timestamp"] for g, m in FitReader(path.read_bytes(), FIELDS).messages() if g == 20]
    assert ours == theirs and len(set(ours)) > 700
