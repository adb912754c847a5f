"""One identifier pattern for the CLI and the API; text printed without control characters."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import UsageError
from schemas.identifiers import MAX_ID_LENGTH, checked_id, is_valid_id, printable


@pytest.mark.parametrize("good", ["p1", "P-001", "team.north", "a" * MAX_ID_LENGTH, "0_x"])
def test_valid_ids_pass_unchanged(good: str) -> None:
    assert checked_id(good) == good


@pytest.mark.parametrize("bad, reason", [
    ("", "empty"), ("   ", "empty"), ("a" * 65, "65 characters"), ("-p", "not allowed"),
    ("p\n1", "not allowed"), ("p\x1b[31m", "not allowed"), ("../etc", "not allowed"),
    ("pé", "not allowed"), ("p 1", "not allowed"),
])
def test_invalid_ids_are_refused_with_the_rule(bad: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason) as caught:
        checked_id(bad, "team")
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


@given(st.text(max_size=300))
def test_printable_has_no_control_characters_and_is_bounded(text: str) -> None:
    shown = printable(text, 100)
    assert len(shown) <= 100
    assert not any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in shown)


@given(st.text(max_size=80))
def test_checked_id_accepts_exactly_the_valid_ones(text: str) -> None:
    if is_valid_id(text):
        assert checked_id(text) == text
    else:
        with pytest.raises(UsageError):
            checked_id(text)
