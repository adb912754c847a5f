"""Stream message encoding: exact round trips, and only WireError on bad bytes."""

from __future__ import annotations

import struct
import zlib
from datetime import date, datetime, timezone

import lz4.frame
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rehabwatch.settings import load
from schemas.alert_records import AlertEvent
from schemas.alert_records import Alert, AlertCandidate, AlertStatus, Severity, Transition
from schemas.daygrid import HOUR, MINUTE, DayGrid, Source
from tests.factories import empty_grid
from schemas.records import DailySummary
from processors.stream_settings import TopicConfig
from schemas.wire import (AlertCheck, WireError, decode_grid, decode_record,
                          encode_grid, encode_record)


def minute_grid(day: date = date(2024, 3, 31), tz: str = "Europe/London") -> DayGrid:
    """A spring-forward day (1380 slots) with NaN gaps, every measure, and odd values."""
    grid = empty_grid("p:1", Source("activpal", "PAL4", "a:b"), day, tz, MINUTE)
    rng = np.random.default_rng(7)
    steps = np.where(rng.random(grid.n_slots) < 0.3, np.nan, rng.random(grid.n_slots) * 120)
    worn = rng.integers(-1, 2, grid.n_slots).astype(np.int8)
    return DayGrid(grid.patient_id, grid.source, day, tz, MINUTE, steps=steps, worn=worn,
                   sedentary_s=np.full(grid.n_slots, -0.0), upright_s=steps / 3,
                   stepping_s=np.full(grid.n_slots, np.inf), origin="sha:abc",
                   extra={"note": "ünïcode"})


def test_minute_grid_round_trips_bit_for_bit() -> None:
    grid = minute_grid()
    back = decode_grid(encode_grid(grid))
    assert grid.n_slots == 1380 and back.same_data(grid)
    assert (back.origin, back.extra, back.source) == (grid.origin, grid.extra, grid.source)
    assert np.signbit(back.sedentary_s).all()  # -0.0 stays -0.0
    assert back.steps.flags.writeable


def test_hourly_grid_without_posture_round_trips() -> None:
    grid = empty_grid("p2", Source("fitbit"), date(2024, 10, 27), "Europe/Berlin", HOUR)
    back = decode_grid(encode_grid(grid))
    assert back.n_slots == 25 and back.same_data(grid) and back.sedentary_s is None


def test_grids_of_the_previous_version_zlib_compressed_still_decode() -> None:
    """Version 1 grids (zlib body) may still be on a topic when workers are upgraded."""
    grid = minute_grid()
    data = encode_grid(grid)
    _, version, n = struct.unpack_from(">3sBI", data)
    head, body = data[8:8 + n], lz4.frame.decompress(data[8 + n:])
    assert version == 2
    old = struct.pack(">3sBI", b"RWG", 1, n) + head + zlib.compress(body, 1)
    assert decode_grid(old).same_data(grid)
    with pytest.raises(WireError, match="not a day grid of version"):
        decode_grid(struct.pack(">3sBI", b"RWG", 3, n) + head + body)


def test_grid_is_compact() -> None:
    assert len(encode_grid(minute_grid(date(2024, 5, 1)))) < 40_000 / 2


@pytest.mark.parametrize("record", [
    DailySummary("p1", date(2024, 5, 1), 4321.5, True, True, 900, 800, "worn", 60,
                 ("garmin-fit:fenix:1",), walking_bouts=3, longest_walking_bout_min=12),
    DailySummary("p1", date(2024, 5, 2), None, False, False, 0, 0, "none", 86400),
    AlertCandidate("p1", "underactivity", date(2024, 5, 2), Severity.WARNING,
                   "Steps below target 3 days running",
                   evidence={"days": np.int64(3), "low": np.float64(3500.0), "ok": np.bool_(0)}),
    AlertCheck("p1", date(2024, 5, 2), "missing-data"),
    AlertEvent("updated", Alert(
        "a1", "p1", "overload_spike", "clinician", Severity.HIGH, AlertStatus.SNOOZED,
        date(2024, 5, 2), datetime(2024, 5, 2, 23, tzinfo=timezone.utc), "Spike", {"ratio": 2.5},
        "boom_bust", date(2024, 5, 3), date(2024, 5, 6), None, None,
        (Transition(AlertStatus.OPEN, datetime(2024, 5, 2, 23, tzinfo=timezone.utc), "rw", ""),
         Transition(AlertStatus.SNOOZED, datetime(2024, 5, 3, 9, tzinfo=timezone.utc), "dr",
                    "seen")))),
])
def test_records_round_trip(record: object) -> None:
    assert decode_record(encode_record(record), type(record)) == record


def test_records_written_by_the_previous_encoder_still_decode() -> None:
    """Workers of the previous release (json.dumps, isoformat) may share a rolling upgrade."""
    data = (b'{"v":1,"type":"Transition","data":{"status":"snoozed",'
            b'"at":"2024-05-03T09:00:00+00:00","actor":"dr","reason":"seen"}}')
    assert decode_record(data, Transition) == Transition(
        AlertStatus.SNOOZED, datetime(2024, 5, 3, 9, tzinfo=timezone.utc), "dr", "seen")


def test_record_of_the_wrong_type_is_refused() -> None:
    data = encode_record(AlertCheck("p1", date(2024, 5, 2), "daily"))
    with pytest.raises(WireError, match="expected a version-1 DailySummary"):
        decode_record(data, DailySummary)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_wire_error(data: bytes) -> None:
    for decode in (decode_grid, lambda b: decode_record(b, DailySummary)):
        with pytest.raises(WireError):
            decode(data)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=255))
def test_damaged_grid_raises_wire_error(position: int, byte: int) -> None:
    data = bytearray(encode_grid(minute_grid(date(2024, 5, 1))))
    data[position % len(data)] = byte
    try:
        assert decode_grid(bytes(data)).n_slots == 1440
    except WireError:
        pass


def test_truncated_grid_raises_wire_error() -> None:
    data = encode_grid(minute_grid())
    with pytest.raises(WireError):
        decode_grid(data[:-10])


def test_topic_config_reads_env_overrides() -> None:
    cfg = load({"RW_TOPIC_DAYGRIDS": "x.grids", "RW_TOPIC_PARTITIONS": "12"}).stream.topics
    assert (cfg.daygrids, cfg.partitions, cfg.daily) == ("x.grids", 12, "activity.daily")
    assert load({}).stream.topics == TopicConfig()
