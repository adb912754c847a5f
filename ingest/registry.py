"""Registry of export formats, and detection of a file's format from its content."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ingest.errors import AmbiguousFormat, UnsupportedFormat

if TYPE_CHECKING:  # the parsers (and numpy) load on first use, not with the registry
    from ingest.base import Parser

#: CLI format name -> "module:attribute" of its parser (imported on first use).
FORMATS: dict[str, str] = {
    "fit": "ingest.fit:PARSER",
    "fitbit": "ingest.fitbit_csv:PARSER",
    "fitbit-api": "ingest.fitbit_api:PARSER",
    "csv": "ingest.generic_csv:PARSER",
    "activpal": "ingest.activpal:PARSER",
    "actigraph": "ingest.actigraph:PARSER",
    "garmin-connect": "ingest.garmin_connect:PARSER",
    "google-fit": "ingest.google_fit:PARSER",
    "apple-health": "ingest.apple_health:PARSER",
}
SNIFF_BYTES = 64 * 1024


def parser(name: str) -> Parser:
    """The parser registered as ``name``."""
    try:
        module, attr = FORMATS[name].split(":")
    except KeyError:
        raise UnsupportedFormat(f"unknown format {name!r}; known: {', '.join(FORMATS)}") from None
    return getattr(import_module(module), attr)


def detect(head: bytes, filename: str) -> Parser:
    """The format whose sniffer matches ``head`` most specifically.

    Raises UnsupportedFormat when none matches and AmbiguousFormat on a tie. A UTF-8
    byte-order mark is not part of the content (the parsers decode text with or without)."""
    head = head[:SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf")
    scores = [(parser(name).sniff(head, filename), name) for name in FORMATS]
    best = max(score for score, _ in scores)
    winners = [name for score, name in scores if score == best]
    if best <= 0:
        raise UnsupportedFormat(
            f"{filename or 'upload'}: not a format rehabwatch reads "
            f"(tried {', '.join(FORMATS)}); pass --format if you know what it is")
    if len(winners) > 1:
        raise AmbiguousFormat(
            f"{filename or 'upload'}: could be {' or '.join(winners)}; pass --format")
    return parser(winners[0])
