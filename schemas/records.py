"""Typed daily records: what a patient's day amounted to, and what was expected of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class DailySummary:
    """One patient's local day, from the merged grid of all their sources.

    Minutes are whole minutes of the local day. ``steps`` is None when no source had step
    data that day. ``valid`` is the wear-based valid-day flag (RULES.md: >= 10 h worn between
    07:00 and 22:00); ``data_day`` means any data arrived for the day (RPM counting).
    ``resolution_s`` is the coarsest resolution that contributed (60, 3600 or 86400); bouts
    and stationary measures are None when the data is coarser than a minute.
    ``walking_minutes`` counts minutes at walking cadence; ``walking_bout_minutes`` the minutes
    spanned by walking bouts (tolerated gap minutes included). ``stationary_minutes`` are
    worn, zero-step minutes in the daytime (awake) window; ``sitting_minutes`` those of them
    with sensed sitting posture (None when no posture sensor contributed).
    ``sedentary_minutes`` is the sedentary time the devices themselves reported, over the
    whole day, as they define it (activPAL/ActiGraph: sensed sitting or lying; Garmin: the
    sedentary activity type; Fitbit minutes: intensity 0, which includes sleep and non-wear;
    Fitbit daily files: SedentaryMinutes, which leaves sleep out), None when none did. ``wear_method``
    names the wear evidence (``device``, ``choi``, ``device+choi``, ``heart_rate_daily``,
    ``hourly_steps``, ``none``).
    """

    patient_id: str
    local_date: date
    steps: float | None
    valid: bool
    data_day: bool
    wear_minutes: int
    wear_minutes_daytime: int
    wear_method: str
    resolution_s: int
    sources: tuple[str, ...] = ()
    walking_minutes: int | None = None
    walking_bouts: int | None = None
    longest_walking_bout_min: int | None = None
    moderate_minutes: int | None = None
    stationary_minutes: int | None = None
    sitting_minutes: int | None = None
    longest_stationary_bout_min: int | None = None
    prolonged_stationary_bouts: int | None = None
    sedentary_breaks: int | None = None
    walking_bout_minutes: int | None = None
    sedentary_minutes: int | None = None


@dataclass(frozen=True)
class Target:
    """One target value and where it came from (``protocol:<id>@<version>``, ``override``,
    ``baseline``), so a clinician can see why a number is expected."""

    value: float
    origin: str


@dataclass(frozen=True)
class DayTargets:
    """The targets in force for one patient on one local day.

    ``protocol`` is ``<id>@<version>``; ``week`` counts whole weeks since the start (0 in the
    first week, negative before it). ``expected_fraction_of_baseline`` is the expected share of
    the pre-surgery baseline, and ``expected_steps`` that share of the patient's baseline.
    """

    patient_id: str
    local_date: date
    protocol: str
    phase: str
    week: int
    steps_low: Target | None
    steps_high: Target | None = None
    walking_bouts_min: Target | None = None
    stationary_bout_max_min: Target | None = None
    expected_fraction_of_baseline: Target | None = None
    expected_steps: Target | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
