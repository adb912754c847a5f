"""Activity rules: underactivity, sudden_drop, overload_spike (with boom-bust), sitting.

Each rule reads a ``DaySeries`` and returns a candidate (the condition holds), a clearance
(it has cleared by the resolution margin) or None (no decision). Missing data suppresses
activity rules for the days it covers: on a missing or invalid as-of day they decide nothing,
so an open alert neither re-fires nor resolves on the strength of a day we did not see.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from alerts import messages
from alerts.rule_params import (
    OverloadSpikeParams,
    Resolution,
    SittingParams,
    SuddenDropParams,
    UnderactivityParams,
)
from alerts.rule_series import DaySeries, median, nums
from schemas.alert_records import AlertCandidate, Clearance, Severity

Finding = AlertCandidate | Clearance | None


def underactivity(s: DaySeries, p: UnderactivityParams) -> Finding:
    """The median of steps ÷ low bound over the last 7 valid days is below 1.0 on each of the
    last 3 valid days; each day is held against its own (ramped) target."""
    if not s.valid[-1] or not s.low[-1] > 0:
        return None
    idx = np.flatnonzero(s.valid & (s.low > 0))
    ratios = s.steps[idx] / s.low[idx]
    medians = _trailing_medians(ratios, p.window_valid_days, p.persistence_valid_days,
                                p.min_window_valid_days)
    if medians is not None and (medians < p.ratio_threshold).all():
        return _underactive(s, p, idx[-p.window_valid_days:], medians)
    return _cleared(s, "underactivity", idx, ratios, p.ratio_threshold, p.resolution, above=True)


def _trailing_medians(values: np.ndarray, window: int, count: int, min_window: int) -> np.ndarray | None:
    """Medians of the ``window`` values ending at each of the last ``count`` positions, or
    None when the earliest of them has fewer than ``min_window`` values behind it."""
    n = len(values)
    if n - count + 1 < min_window:
        return None
    return np.array([median(values[max(0, end - window):end]) for end in range(n - count + 1, n + 1)])


def _underactive(s: DaySeries, p: UnderactivityParams, days: np.ndarray, medians: np.ndarray) -> AlertCandidate:
    median_steps = median(s.steps[days])
    latest = float(medians[-1])
    evidence: dict[str, object] = {
        "days": s.iso(days), "steps": nums(s.steps[days]), "targets": nums(s.low[days]),
        "median_ratios": [round(float(m), 3) for m in medians], "median_steps": round(median_steps, 1),
        "threshold_ratio": p.ratio_threshold,
    }
    message = messages.underactivity(median_steps, float(s.low[-1]), s.target_on(-1), latest,
                                     p.persistence_valid_days)
    severity = Severity.HIGH if latest < p.high_ratio else Severity.WARNING
    return s.candidate("underactivity", severity, message, evidence)


def sudden_drop(s: DaySeries, p: SuddenDropParams) -> Finding:
    """From week 3: each of the last 3 valid days is below half the median of the valid days
    in the 14 days before them."""
    target = s.target_on(-1)
    if not s.valid[-1] or target is None or target.week < p.from_week:
        return None
    idx = np.flatnonzero(s.valid)
    drop = idx[-p.drop_valid_days:]
    base = _median_before(s, int(drop[0]), p.baseline_days, p.min_baseline_valid_days)
    if base is not None and len(drop) == p.drop_valid_days and (s.steps[drop] < p.fraction * base).all():
        evidence: dict[str, object] = {"days": s.iso(drop), "steps": nums(s.steps[drop]),
                                       "median_14d": round(base, 1), "fraction": p.fraction}
        message = messages.sudden_drop(s.steps[drop].tolist(), base)
        return s.candidate("sudden_drop", Severity.HIGH, message, evidence)
    recent = idx[-p.resolution.valid_days:]
    base = _median_before(s, int(recent[0]), p.baseline_days, p.min_baseline_valid_days)
    if base is None or base < 1.0:  # a median under one step a day gives no usable ratio
        return None
    return _cleared(s, "sudden_drop", recent, s.steps[recent] / base, p.fraction, p.resolution, above=True)


def _median_before(s: DaySeries, index: int, days: int, min_valid: int) -> float | None:
    """Median of the valid days in the ``days`` calendar days before slot ``index``."""
    window = s.steps[max(0, index - days):index]
    values = window[~np.isnan(window)]
    return median(values) if len(values) >= min_valid else None


def overload_spike(s: DaySeries, p: OverloadSpikeParams) -> Finding:
    """A valid day > 1.5 × the highest valid day of the 14 before it and >= 1,500 steps more;
    then the boom-bust follow-up on the next 2 valid days.

    "At most once per 7 days" is an episode: it stays open until no spike is 7 days recent, so
    a second spike inside it refreshes the open alert (no new notification) instead of either
    being lost or paging again.
    """
    if not s.valid[-1]:
        return None
    spikes, prior_max = _spike_days(s, p)
    if len(spikes) == 0:
        return s.clearance("overload_spike", f"no spike in the last {p.episode_days} days", {})
    last = int(spikes[-1])
    if last == len(s.steps) - 1:
        return _spike(s, last, float(prior_max[-1]))
    return _followup(s, p, last)


def _spike_days(s: DaySeries, p: OverloadSpikeParams) -> tuple[np.ndarray, np.ndarray]:
    """Spike days within the last ``episode_days`` slots, with their prior maxima."""
    n, w = len(s.steps), p.prior_days
    first = max(n - p.episode_days, 0)
    if not _spike_possible(s.steps, first, w, p):
        return np.empty(0, int), np.empty(0)
    # rows[j] holds the ``w`` days before slot first + j (NaN-padded at the start).
    rows = sliding_window_view(np.concatenate((np.full(w, np.nan), s.steps)), w)[first:n]
    counts = (~np.isnan(rows)).sum(axis=1)
    prior_max = np.fmax.reduce(rows, axis=1)
    day = s.steps[first:]
    with np.errstate(invalid="ignore"):
        spike = (counts >= p.min_prior_valid_days) & (day > p.ratio * prior_max) & (
            day - prior_max >= p.min_increase_steps)
    at = np.flatnonzero(spike)
    return at + first, prior_max[at]


def _spike_possible(steps: np.ndarray, first: int, w: int, p: OverloadSpikeParams) -> bool:
    """Cheap pre-check (most days have no spike): the slots ``[n - 1 - w, first)`` lie in the
    prior window of every day from ``first`` on, so their maximum bounds each prior maximum
    from below; if the recent maximum cannot beat it, no day can spike. NaN means unsure."""
    common = steps[max(len(steps) - 1 - w, 0):first]
    floor = np.fmax.reduce(common) if len(common) else np.nan
    top = np.fmax.reduce(steps[first:])
    return not (top <= p.ratio * floor or top - floor < p.min_increase_steps)


def _spike(s: DaySeries, index: int, prior_max: float) -> AlertCandidate:
    value = float(s.steps[index])
    evidence: dict[str, object] = {"day": s.day(index).isoformat(), "steps": round(value, 1),
                                   "prior_max_14d": round(prior_max, 1),
                                   "ratio": round(value / prior_max, 2)}
    message = messages.spike(value, prior_max, s.day(index))
    return s.candidate("overload_spike", Severity.WARNING, message, evidence, stage="spike")


def _followup(s: DaySeries, p: OverloadSpikeParams, spike: int) -> Finding:
    """After a spike, a bust (each of the next 2 valid days below 60% of the pre-spike median)
    moves the episode to its boom-bust stage; otherwise the episode simply runs its 7 days."""
    post = np.flatnonzero(s.valid[spike + 1:])[:p.followup_valid_days] + spike + 1
    pre = _median_before(s, spike, p.prior_days, p.min_prior_valid_days)
    if len(post) == p.followup_valid_days and pre and (s.steps[post] < p.bust_fraction * pre).all():
        return _boom_bust(s, spike, post, pre)
    return None


def _boom_bust(s: DaySeries, spike: int, days: np.ndarray, pre: float) -> AlertCandidate:
    evidence: dict[str, object] = {"spike_day": s.day(spike).isoformat(),
                                   "spike_steps": round(float(s.steps[spike]), 1),
                                   "days": s.iso(days), "steps": nums(s.steps[days]),
                                   "pre_spike_median": round(pre, 1)}
    message = messages.boom_bust(s.steps[days].tolist(), pre, s.day(spike))
    return s.candidate("overload_spike", Severity.WARNING, message, evidence, stage="boom_bust")


def sitting(s: DaySeries, p: SittingParams) -> Finding:
    """The longest stationary bout is above the phase limit on >= 3 of the last 7 valid days.
    Info for the patient (and the clinician's digest); phases without a limit clear it."""
    if not s.valid[-1]:
        return None
    if np.isnan(s.stationary_limit[-1]):
        return s.clearance("sitting", "no stationary-bout limit in this phase", {}, audience="patient")
    days = np.flatnonzero(s.valid)[-p.window_valid_days:]
    over = days[s.stationary_bout[days] > s.stationary_limit[days]]
    if len(over) >= p.min_days_over:
        return _sitting(s, p, days, over)
    known = days[~np.isnan(s.stationary_bout[days] / s.stationary_limit[days])]
    ratio = s.stationary_bout[known] / s.stationary_limit[known]
    return _cleared(s, "sitting", known, ratio, 1.0, p.resolution, above=False, audience="patient")


def _sitting(s: DaySeries, p: SittingParams, days: np.ndarray, over: np.ndarray) -> AlertCandidate:
    limit = float(s.stationary_limit[-1])
    longest = float(np.max(s.stationary_bout[over]))
    evidence: dict[str, object] = {"days": s.iso(over), "longest_bout_min": nums(s.stationary_bout[over]),
                                   "limits_min": nums(s.stationary_limit[over]),
                                   "valid_days_looked_at": len(days)}
    message = messages.sitting(len(over), len(days), longest, limit)
    return s.candidate("sitting", Severity.INFO, message, evidence, audience="patient")


def _cleared(
    s: DaySeries, rule: str, idx: np.ndarray, values: np.ndarray, threshold: float,
    res: Resolution, *, above: bool, audience: str = "clinician",
) -> Clearance | None:
    """Clearance when each of the last ``res.valid_days`` values is past ``threshold`` by the
    margin, upwards for a lower bound (``above``) or downwards for an upper bound."""
    k = res.valid_days
    bar = threshold * (1 + res.margin) if above else threshold * (1 - res.margin)
    last = values[-k:]
    if len(last) < k or not ((last >= bar).all() if above else (last <= bar).all()):
        return None
    side = "above" if above else "below"
    evidence: dict[str, object] = {"days": s.iso(idx[-k:]), "values": nums(last), "bar": round(bar, 3)}
    return s.clearance(rule, f"{k} valid days at least {res.margin:.0%} {side} the threshold",
                       evidence, audience)
