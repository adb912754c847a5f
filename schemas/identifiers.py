"""Identifiers and free text as they cross a boundary (CLI argument, HTTP path or form, file).

One pattern for every name we key on (patient ids, team names, staff user names), checked
here for the command line and the HTTP API alike; and one way to show text a user gave us
without letting it forge output lines or drive a terminal.

Patient ids, teams and user names: 1-64 characters of ASCII letters, digits and ``. _ -``,
starting with a letter or digit. That fits every column they are stored in (64 characters),
every URL path segment and every log line without quoting.
"""

from __future__ import annotations

import re

from schemas.errors import UsageError

MAX_ID_LENGTH = 64
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_ID = re.compile(ID_PATTERN)
#: Every character a terminal or a log reader could act on: C0 and C1 controls and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def checked_id(value: str, what: str = "patient id") -> str:
    """``value`` if it is a valid identifier, else a :class:`UsageError` naming the rule."""
    if _ID.fullmatch(value):
        return value
    return _refuse(value, what)


def is_valid_id(value: str) -> bool:
    """Whether ``value`` follows :data:`ID_PATTERN`."""
    return _ID.fullmatch(value) is not None


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe to print on one line: control characters shown as ``\\xNN`` escapes,
    cut to ``limit`` characters with an ellipsis."""
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _refuse(value: str, what: str) -> str:
    if not value.strip():
        raise UsageError(f"{what} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise UsageError(f"{what} is {len(value)} characters long; at most {MAX_ID_LENGTH}")
    raise UsageError(f"{what} '{printable(value, 80)}' is not allowed: use 1-{MAX_ID_LENGTH} "
                     "ASCII letters, digits, '.', '_' or '-', starting with a letter or digit")
