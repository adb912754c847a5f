"""Clinician- and patient-facing wording of alerts: one sentence, read in five seconds.

Messages state what was measured against what; they never diagnose (a sudden drop "prompts
a symptom check-in"), and patient nudges say the service is not an emergency channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from schemas.records import DayTargets

NOT_EMERGENCY = "This service is not monitored around the clock: for urgent symptoms call your care team or emergency services."


def steps(value: float) -> str:
    """Steps rounded to a whole number with thousands separators: 1850.4 → '1,850'."""
    return f"{round(value):,}"


def day(d: date) -> str:
    """A short, unambiguous day: '3 Mar'."""
    return f"{d.day} {d:%b}"


def plan(t: DayTargets | None) -> str:
    """Where the patient is in their plan: 'week 6 after microdiscectomy'."""
    if t is None:
        return "their plan"
    name = t.protocol.removeprefix("protocol:").split("@")[0].replace("_", " ")
    if name.startswith("conservative"):
        return f"week {t.week} of conservative care"
    return f"week {t.week} after {name}"


def underactivity(median: float, target: float, t: DayTargets | None, ratio: float, days: int) -> str:
    return (
        f"7-day median {steps(median)} steps, below the {steps(target)} target for {plan(t)} "
        f"({ratio:.0%} of target), on {days} consecutive valid days"
    )


def sudden_drop(values: Sequence[float], median: float) -> str:
    shown = ", ".join(steps(v) for v in values)
    return (
        f"Steps fell to {shown} on the last {len(values)} valid days, under half the 14-day "
        f"median of {steps(median)}: consider a symptom check-in"
    )


def spike(value: float, prior_max: float, on: date) -> str:
    return (
        f"{steps(value)} steps on {day(on)}, {value / prior_max:.1f}× the highest day of the "
        f"previous 2 weeks ({steps(prior_max)}): watch for a flare-up"
    )


def boom_bust(values: Sequence[float], pre_median: float, spike_on: date) -> str:
    shown = ", ".join(steps(v) for v in values)
    return (
        f"After the spike on {day(spike_on)}, steps fell to {shown}, under 60% of the "
        f"{steps(pre_median)} median before it: consider deload"
    )


def missing_sync(hours: float) -> str:
    return (
        f"We have not received data from your tracker for {hours // 24:.0f} days. Please "
        f"open the app to sync. {NOT_EMERGENCY}"
    )


def missing_valid(days: int, last_valid: date | None) -> str:
    since = f"last valid day {day(last_valid)}" if last_valid else "none on record"
    return f"No valid wear day for {days} days ({since}): device not worn or not syncing"


def rpm(data_days: int, period: tuple[date, date], days_left: int, required: int) -> str:
    return (
        f"{data_days} data days in the monitoring period {day(period[0])}–{day(period[1])} "
        f"with {days_left} days left: {required} can no longer be reached"
    )


def sitting(days_over: int, window: int, longest: float, limit: float) -> str:
    return (
        f"Your longest still spell was over {limit:.0f} minutes on {days_over} of your last "
        f"{window} days (longest {longest:.0f} min). Try to get up and walk a little every "
        f"{limit:.0f} minutes. {NOT_EMERGENCY}"
    )
