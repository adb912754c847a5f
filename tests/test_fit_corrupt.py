"""Damaged FIT files: rejected with CorruptFile, or kept in part with the reason, never silently;
and our reader cross-checked against fitdecode on every file."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings, strategies as st

from ingest.base import ParseContext, ParseResult
from ingest.errors import CorruptFile, IngestError
from ingest.fit import FIELDS, PARSER
from ingest.fit_reader import FitReader, fit_crc
from tests.conftest import device_file, device_files
from tests.fit_evidence import fitdecode_messages, raw

#: corrupt/ file -> expected outcome: None = complete, else a phrase of the partial reason.
CORRUPT = {
    "activity-activity-filecrc.fit": "CRC mismatch",
    "activity-filecrc.fit": "CRC mismatch",
    "activity-settings-corruptheader.fit": "no FIT header at byte 771",
    "activity-settings-nodata.fit": "cut off at byte 783",
    "activity-unexpected-eof.fit": "file ends at byte 768",
    "activity_truncated.fit": None,
    "coros-pace-2-cycling-misaligned-fields.fit": None,
    "mornindew-broken.fit": None,
    "strava-android-app-201.10-b1218918.fit": "undefined local message 11 at byte 7471",
    "unterminated-strings.fit": None,
}
ALL_FILES = [rel.removeprefix("fit/") for rel in device_files("fit/*/*.fit")]
FITDECODE_FAILS = {"corrupt/activity-settings-corruptheader.fit",
                   "corrupt/activity-settings-nodata.fit", "corrupt/activity-unexpected-eof.fit",
                   "corrupt/strava-android-app-201.10-b1218918.fit"}


def parse(data: bytes, name: str = "x.fit") -> ParseResult:
    return PARSER.parse(io.BytesIO(data), ParseContext("p1", "UTC", filename=name))


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_damaged_files_keep_what_was_decoded(name: str) -> None:
    result = parse(device_file(f"fit/corrupt/{name}").read_bytes(), name)
    expected = CORRUPT[name]
    if expected is None:
        assert result.partial is None
    else:
        assert result.partial is not None and expected in result.partial
    assert result.series and len(result.series[0].batch) > 0


def test_partial_file_keeps_its_activity() -> None:
    """Cut short before its CRC: every record of the SDK activity is still there."""
    whole = parse(device_file("fit/sdk_samples/Activity.fit").read_bytes())
    cut = parse(device_file("fit/corrupt/activity-unexpected-eof.fit").read_bytes())
    assert len(cut.series[0].batch) == len(whole.series[0].batch)


def test_mornindew_steps_equal_its_session() -> None:
    result = parse(device_file("fit/corrupt/mornindew-broken.fit").read_bytes())
    assert result.series[0].batch.total_steps == pytest.approx(2 * 9608)


def test_unfinalised_data_size_is_read_to_the_end() -> None:
    """A recorder that crashed leaves data_size = 0 (SOURCES.md 1c): read on, say so."""
    data = bytearray(device_file("fit/sdk_samples/Activity.fit").read_bytes())
    struct.pack_into("<I", data, 4, 0)
    if data[0] == 14:
        struct.pack_into("<H", data, 12, fit_crc(bytes(data[:12])))
    result = parse(bytes(data))
    assert result.partial is not None and "never finalised" in result.partial
    assert result.records == 22


@pytest.mark.parametrize("data,defect", [
    (b"", "empty file"),
    (b"not a fit file at all", "no FIT header at byte 0"),
    (None, "cut off"),
])
def test_unreadable_files_raise_corrupt_file(data: bytes | None, defect: str) -> None:
    if data is None:  # a header and the start of the first definition only
        data = device_file("fit/sdk_samples/Activity.fit").read_bytes()[:17]
    with pytest.raises(CorruptFile) as info:
        parse(data, "upload-7.fit")
    assert "upload-7.fit" in str(info.value) and "FIT" in str(info.value)
    assert defect in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 770), st.booleans())
def test_random_bytes_raise_only_our_errors(noise: bytes, cut: int, keep_header: bool) -> None:
    """Random bytes, alone or after a real header/prefix, never leak a foreign exception."""
    prefix = device_file("fit/sdk_samples/Activity.fit").read_bytes()[:cut]
    data = (prefix if keep_header else b"") + noise
    try:
        parse(data)
    except IngestError:
        pass


@pytest.mark.parametrize("rel", ALL_FILES)
def test_sniff(rel: str) -> None:
    """Every real FIT file, one case each (a case, skipped, for a file not here)."""
    assert PARSER.sniff(device_file(f"fit/{rel}").read_bytes()[:64], rel) == 10


def test_sniff_refuses_what_is_not_fit() -> None:
    assert PARSER.sniff(b"Id,ActivityDate\n", "a.csv") == 0
    assert PARSER.sniff(b"\x0e\x10", "short.fit") == 0


@pytest.mark.parametrize("rel", ALL_FILES)
def test_reader_matches_fitdecode(rel: str) -> None:
    """Cross-check on every real file: message count, file_id, session and record values."""
    path = device_file(f"fit/{rel}")
    reader = FitReader(path.read_bytes(), FIELDS)
    ours = list(reader.messages())
    try:
        theirs = fitdecode_messages(path)
    except Exception:  # fitdecode stops at these defects; we stop at the same place
        assert rel in FITDECODE_FAILS and reader.damage is not None
        return
    assert reader.count == len(theirs)
    for num in (0, 18):
        mine = [m for g, m in ours if g == num]
        fd = [raw(m) for m in theirs if m.global_mesg_num == num]
        for a, b in zip(mine, fd, strict=True):
            for key in ("serial_number", "time_created", "start_time", "total_elapsed_time"):
                assert a.get(key) == b.get(key), (rel, key)
