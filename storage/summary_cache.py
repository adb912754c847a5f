"""Decoded daily summaries a worker keeps between evaluations, checked against the database.

In day order a worker judges a patient's new day by re-reading ~30 stored days of which one
changed: reading and decoding them was a third of an evaluation. The cache keeps each
patient's decoded days with the patient's ``summaries_rev``, the counter every write of the
patient's summaries bumps in its own transaction (:func:`rehabwatch.evaluation.upsert_summaries`).

Why it is never stale:

- an evaluation reads the patient row (and its revision) *before* the summaries, so data
  cached under revision r holds every write up to r (a write that lands in between makes
  the label older than the data, never newer: the next read misses and reloads);
- an entry is used only when the revision just read is the one it was cached under, and
  only for days it covers;
- the worker's own write (revision r + 1, returned by the UPDATE that bumped it) is applied
  to an entry only if the entry is at r: then nothing else was written in between, since
  the bump serializes the writers. Any other writer (another worker after a rebalance,
  ``rehabwatch evaluate``, an upload) moves the revision past the entry, which is dropped
  on next use.

Bounded: at most ``max_patients`` entries, least recently used first out, each holding only
the days its last evaluation asked for (plus the ones written since).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from schemas.records import DailySummary

Span = tuple[date, date]  # first and last day, inclusive


def merged_spans(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching day spans joined, in order: no day is listed twice."""
    out: list[Span] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + timedelta(days=1):
            out[-1] = out[-1][0], max(out[-1][1], hi)
        else:
            out.append((lo, hi))
    return out


def _covers(spans: Sequence[Span], wanted: Span) -> bool:
    first, last = wanted
    for lo, hi in spans:  # a loop, not any(): this runs for every cached day of every check
        if lo <= first and last <= hi:
            return True
    return False


@dataclass
class _Entry:
    rev: int
    spans: list[Span]  # merged; the days known (a day with no summary is known to have none)
    days: dict[date, DailySummary] = field(default_factory=dict)


class SummaryCache:
    """Per patient: the stored summaries of some days, as of a ``summaries_rev``."""

    def __init__(self, max_patients: int = 5000) -> None:
        self.max_patients = max_patients
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, patient_id: str, rev: int, spans: Sequence[Span]
            ) -> list[DailySummary] | None:
        """The summaries on the days of ``spans``, by date, if cached as of ``rev`` for all of
        them; else None (and an entry of another revision is dropped)."""
        entry = self._entries.get(patient_id)
        if entry is None:
            return None
        if entry.rev != rev:
            del self._entries[patient_id]
            return None
        wanted = merged_spans(spans)
        if not all(_covers(entry.spans, span) for span in wanted):
            return None
        self._entries.move_to_end(patient_id)
        entry.spans = wanted
        entry.days = {day: s for day, s in entry.days.items() if _covers(wanted, (day, day))}
        return [entry.days[day] for day in sorted(entry.days)]

    def put(self, patient_id: str, rev: int, spans: Sequence[Span],
            summaries: Sequence[DailySummary]) -> None:
        """What the database held on the days of ``spans`` at revision ``rev`` (read after the
        revision), replacing any entry."""
        self._entries[patient_id] = _Entry(rev, merged_spans(spans),
                                           {s.local_date: s for s in summaries})
        self._entries.move_to_end(patient_id)
        while len(self._entries) > self.max_patients:
            self._entries.popitem(last=False)

    def wrote(self, revisions: Mapping[str, int], summaries: Iterable[DailySummary]) -> None:
        """A committed write: ``summaries`` stored, which moved each of their patients to the
        revision in ``revisions``. Entries one revision behind take the new days; any other
        entry of those patients is dropped."""
        by_patient: dict[str, list[DailySummary]] = {}
        for summary in summaries:
            by_patient.setdefault(summary.patient_id, []).append(summary)
        for patient_id, rev in revisions.items():
            entry = self._entries.get(patient_id)
            if entry is None:
                continue
            if entry.rev != rev - 1:
                del self._entries[patient_id]
                continue
            written = by_patient.get(patient_id, [])
            entry.rev = rev
            entry.days.update((s.local_date, s) for s in written)
            entry.spans = merged_spans([*entry.spans,
                                        *((s.local_date, s.local_date) for s in written)])
