"""The real device files: tests/data holds attributed byte copies, SHARED_ONLY.txt the rest,
and a test whose file is not here is skipped with the reason, or fails under
RW_REQUIRE_SHARED_DATA=1, never silently dropped."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import SHARED_ONLY, TEST_DATA, device_file, device_files

#: tests/data's own bookkeeping, not device files.
BOOKKEEPING = {"ATTRIBUTION.md", "SHARED_ONLY.txt", ".gitattributes"}


def copied() -> set[str]:
    return {p.relative_to(TEST_DATA).as_posix() for p in TEST_DATA.rglob("*")
            if p.is_file() and p.name not in BOOKKEEPING and "LICENSES" not in p.parts}


def test_every_copy_is_attributed_and_none_is_also_shared_only() -> None:
    attribution = (TEST_DATA / "ATTRIBUTION.md").read_text()
    assert len(copied()) >= 50
    assert [rel for rel in sorted(copied()) if f"`{rel}`" not in attribution] == []
    assert copied().isdisjoint(SHARED_ONLY)
    assert all(SHARED_ONLY.values())  # every shared-only file says why


def test_copies_are_the_shared_files_and_every_shared_file_is_accounted_for(
        shared_data: Path) -> None:
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert [rel for rel in sorted(copied())
            if not (shared_data / rel).is_file() or digest(shared_data / rel)
            != digest(TEST_DATA / rel)] == []
    shared = {p.relative_to(shared_data).as_posix() for p in shared_data.rglob("*")
              if p.is_file() and p.name != "SOURCES.md"}
    assert shared == copied() | set(SHARED_ONLY)


def test_a_copied_file_is_found_without_the_shared_folder(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "absent")
    assert device_file("fit/corrupt/mornindew-broken.fit") == (
        TEST_DATA / "fit/corrupt/mornindew-broken.fit")


@pytest.mark.parametrize("require", [False, True])
def test_a_shared_only_file_skips_or_fails_naming_file_and_licence(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, require: bool) -> None:
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "absent")
    monkeypatch.setattr(conftest, "REQUIRE_SHARED_DATA", require)
    outcome = pytest.fail.Exception if require else pytest.skip.Exception
    with pytest.raises(outcome, match=r"fit/sdk_samples/Activity\.fit is not in tests/data "
                                      r"\(Garmin FIT SDK licence.*absent; set RW_SHARED_DATA"):
        device_file("fit/sdk_samples/Activity.fit")


def test_globs_list_shared_only_files_without_the_shared_folder(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """So a test parametrized by a glob collects a (skipped) case for each, never none."""
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "absent")
    monitoring = device_files("fit/monitoring/*.fit")
    assert len(monitoring) == 12 and all(rel in SHARED_ONLY for rel in monitoring)
    corrupt = device_files("fit/corrupt/*.fit")
    assert "fit/corrupt/mornindew-broken.fit" in corrupt
    assert "fit/corrupt/activity-filecrc.fit" in corrupt
    assert device_files("fit/*.fit") == ["fit/*.fit"]  # no match at all: one case, which skips
