"""The one interface every export format implements, and what a parse returns.

A parser is pure: a binary stream in (a seekable file, read from its start; formats that can
be read as a stream never hold the whole file), :class:`ParseResult` out. It never touches the database and never
guesses a time zone: times that the file gives without a zone are local to the patient
(``ParseContext.tz_for``), and the parser says so where it makes that assumption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import BinaryIO, Mapping, Protocol

from schemas.binning import IntervalBatch


@dataclass(frozen=True)
class ParseContext:
    """What a parser may know about the upload besides its bytes.

    ``id_map`` maps subject ids found inside multi-subject files (Fitabase ``Id``) to patient
    ids; ``timezones`` gives each known patient's IANA zone; ``date_order`` ("MDY"/"DMY")
    overrides date-order detection when a file cannot tell.
    """

    patient_id: str
    tz: str
    filename: str = ""
    id_map: Mapping[str, str] = field(default_factory=dict)
    timezones: Mapping[str, str] = field(default_factory=dict)
    date_order: str | None = None

    def tz_for(self, patient_id: str) -> str:
        return self.timezones.get(patient_id, self.tz)


@dataclass(frozen=True)
class PatientSeries:
    """Intervals of one patient from one source at one resolution."""

    patient_id: str
    batch: IntervalBatch


@dataclass
class ParseResult:
    """Everything a parse produced.

    ``partial`` is None for a complete file, else the reason only part of it was kept (a file
    damaged at its end). ``skipped`` counts records left out, by reason. ``sync_times`` are
    device sync events (aware UTC), per patient.
    """

    format: str
    series: list[PatientSeries] = field(default_factory=list)
    records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    partial: str | None = None
    sync_times: list[tuple[str, datetime]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: per-day facts for ``DayGrid.extra`` of the daily grid, keyed (patient, source key, day)
    day_extra: dict[tuple[str, str, date], dict[str, str]] = field(default_factory=dict)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


class Parser(Protocol):
    """One export format."""

    name: str

    def sniff(self, head: bytes, filename: str) -> int:
        """How specifically the first bytes (up to 64 KiB) match: 0 = not this format;
        higher numbers beat lower ones (a Fitabase header beats a generic CSV)."""
        ...

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        """Parse a whole upload from ``stream`` (seekable, at its start); raise an
        :mod:`ingest.errors` exception if it is unusable."""
        ...
