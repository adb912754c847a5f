"""Parameters of the alert rules: every threshold a named field with its default and source.

Source tags follow RULES.md: E = evidence (the reference is named), P = our proposal. Every
default is for clinician review; a programme or patient may override any field with
``dataclasses.replace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class Resolution:
    """When an activity alert's condition counts as cleared (RULES.md, Lifecycle; P).

    Attributes:
        valid_days: the last N valid days must all be past the threshold. Default 2.
        margin: how far past, as a fraction of the threshold: a lower bound ``t`` clears at
            ``t * (1 + margin)``, an upper bound at ``t * (1 - margin)``. Default 0.10.
    """

    valid_days: int = 2
    margin: float = 0.10


@dataclass(frozen=True)
class UnderactivityParams:
    """underactivity: the 7-valid-day median of steps ÷ each day's low bound stays below 1.0.

    Attributes:
        window_valid_days: valid days in the rolling median. Default 7 (RULES.md; P).
        min_window_valid_days: fewest valid days for a median at all; a valid week has >= 4
            valid days (RULES.md, summary definitions; E: wear-time literature).
        persistence_valid_days: consecutive valid days the median must stay low. Default 3 (P).
        ratio_threshold: steps ÷ low bound below which the median is low. Default 1.0 (P).
        high_ratio: median ratio below which severity is high. Default 0.5 (P).
        resolution: see ``Resolution``; each of the last 2 valid days >= 1.1 × its low bound.
    """

    window_valid_days: int = 7
    min_window_valid_days: int = 4
    persistence_valid_days: int = 3
    ratio_threshold: float = 1.0
    high_ratio: float = 0.5
    resolution: Resolution = field(default_factory=Resolution)


@dataclass(frozen=True)
class SuddenDropParams:
    """sudden_drop: 3 valid days below half the personal 14-day median (P, after the Mobbs case
    report of re-herniation showing as a step collapse); prompts a symptom check-in.

    Attributes:
        from_week: first week since start the rule applies; before it, low days are expected
            (post-operative weeks 0-2). Default 3 (RULES.md; P).
        drop_valid_days: consecutive valid days below the fraction. Default 3.
        baseline_days: calendar days before the drop whose valid days give the median. 14.
        min_baseline_valid_days: fewest valid days for that median. Default 5 (RULES.md,
            personal baseline; P).
        fraction: fraction of the median below which a day counts as dropped. Default 0.5.
        resolution: the last 2 valid days >= 0.55 × the 14-day median before them.
    """

    from_week: int = 3
    drop_valid_days: int = 3
    baseline_days: int = 14
    min_baseline_valid_days: int = 5
    fraction: float = 0.5
    resolution: Resolution = field(default_factory=Resolution)


@dataclass(frozen=True)
class OverloadSpikeParams:
    """overload_spike: a valid day far above the recent maximum (E: Frandsen 2025 compares
    single-session spikes with the recent maximum; ACWR is not used: Impellizzeri 2020,
    Lolli 2019), with the "boom-bust" follow-up.

    Attributes:
        prior_days: calendar days before a day whose valid maximum it is compared with. 14.
        min_prior_valid_days: fewest valid days in them for a comparison (P). Default 5.
        ratio: a spike exceeds ``ratio ×`` the prior maximum. Default 1.5 (RULES.md; E).
        min_increase_steps: ... and exceeds it by at least this many steps, so that small
            early-recovery numbers do not spike. Default 1,500 (RULES.md; P).
        episode_days: at most one spike alert per this many days: the episode (and its
            boom-bust follow-up) stays open until no spike is this recent, and only then
            clears. Default 7 (RULES.md; P).
        followup_valid_days: valid days after the spike checked for a bust. Default 2 (P).
        bust_fraction: a bust is each follow-up day below this fraction of the pre-spike
            median ("consider deload"). Default 0.6 (RULES.md; P).
    """

    prior_days: int = 14
    min_prior_valid_days: int = 5
    ratio: float = 1.5
    min_increase_steps: float = 1500.0
    episode_days: int = 7
    followup_valid_days: int = 2
    bust_fraction: float = 0.6


@dataclass(frozen=True)
class MissingDataParams:
    """missing_data: a silent device (RULES.md; P).

    Attributes:
        sync_gap: no sync for this long → patient nudge. Default 48 h.
        invalid_days: this many consecutive days without a valid day → clinician alert.
            Default 3. Cleared as soon as the condition is false (late data included).
    """

    sync_gap: timedelta = timedelta(hours=48)
    invalid_days: int = 3


@dataclass(frozen=True)
class RpmParams:
    """rpm_days_at_risk: the device-supply codes need data on 16 days of a 30-day period
    (E: CPT 99454 / RTM 98977; 2026 adds 2-15-day codes 99445/98985).

    Attributes:
        period_days: length of a billing period, counted from the programme start. 30.
        required_data_days: data days needed in the period. Default 16.
    """

    period_days: int = 30
    required_data_days: int = 16


@dataclass(frozen=True)
class SittingParams:
    """sitting: the longest stationary bout above the phase limit too often (RULES.md; E:
    sedentary-behaviour literature for the 30-minute bout, P for the counts). Info only.

    Attributes:
        window_valid_days: the last N valid days looked at. Default 7.
        min_days_over: days over the limit among them that raise the nudge. Default 3.
        resolution: the last 2 valid days with a longest bout <= 0.9 × the limit.
    """

    window_valid_days: int = 7
    min_days_over: int = 3
    resolution: Resolution = field(default_factory=Resolution)


@dataclass(frozen=True)
class RuleParams:
    """All rule parameters. ``lookback_days`` is how many calendar days up to the as-of day
    the rules read (covers a 30-day RPM period and 7 + 14 days of spike history)."""

    underactivity: UnderactivityParams = field(default_factory=UnderactivityParams)
    sudden_drop: SuddenDropParams = field(default_factory=SuddenDropParams)
    overload_spike: OverloadSpikeParams = field(default_factory=OverloadSpikeParams)
    missing_data: MissingDataParams = field(default_factory=MissingDataParams)
    rpm: RpmParams = field(default_factory=RpmParams)
    sitting: SittingParams = field(default_factory=SittingParams)
    lookback_days: int = 35

    def __post_init__(self) -> None:
        # A shorter window would undercount the data days of the current RPM period.
        if self.lookback_days < self.rpm.period_days:
            raise ValueError("lookback_days must cover the RPM period (rpm.period_days)")


DEFAULT_PARAMS = RuleParams()
