"""Merge one patient's day grids from several sources into one day, never adding two devices.

The rule (DESIGN.md "Merging sources"), in the spirit of Apple Health's source priority:

1. **Finest resolution wins.** The merged day has the finest resolution at which any source
   has step data that day. Hourly or daily sources are used only when no finer source has
   data that day, and are never spread into minutes.
2. **Slot by slot, highest precedence wins.** At that resolution, each slot is taken whole
   (steps, posture seconds, worn flag) from the highest-precedence source that has step data
   in that slot; a lower source fills only the slots the higher ones leave empty. Values of
   different sources are never added or mixed within one slot.
3. **Precedence by source kind** (``DEFAULT_PRECEDENCE``, configurable): research-grade
   posture monitors first, then wrist/phone trackers, generic CSV last. Kinds not listed rank
   after all listed ones. Ties (two sources of one kind) are broken by source key, then by
   upload origin, so the result never depends on the order grids arrive in.
4. **Per-day wear evidence** a parser put in ``DayGrid.extra`` (``wear_minutes_hr``: minutes
   with heart rate that day, e.g. from a Fitbit daily export) is kept from the
   highest-precedence grid that has it, whatever its resolution.

Slots no source covers stay NaN (no data), with worn unknown. A grid repeated, or the same
data under a second source key, changes no value (the duplicate fills nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence, cast

import numpy as np

from schemas import counters
from schemas.daygrid import MEASURES, WEAR_MINUTES_HR, WEAR_UNKNOWN, DayGrid, day_bounds

#: Source kinds, most trusted first (P: posture monitors measure steps and posture at the hip
#: or thigh; wrist trackers over-count arm movement; CSV has no provenance). Garmin Connect's
#: JSON is the watch's data as Garmin's servers summarize it (15-minute buckets, days): after
#: the FIT files themselves. Google Fit, phone or Wear OS data merged by Google, ranks with
#: the phone-based Apple Health, after it.
DEFAULT_PRECEDENCE: tuple[str, ...] = (
    "activpal", "actigraph", "garmin-fit", "garmin-fit-activity", "garmin-connect", "fitbit",
    "apple-health", "google-fit", "csv")
#: Kinds whose posture seconds come from a sensed body position (RULES.md: "sitting" only where
#: posture is sensed: activPAL, ActiGraph inclinometer). FIT activity types and Apple stand
#: hours also fill ``sedentary_s`` but are inferred, so they never make a minute "sitting".
POSTURE_KINDS: frozenset[str] = frozenset({"activpal", "actigraph"})


@dataclass(frozen=True, eq=False)
class MergedDay:
    """One patient's local day from all sources, at ``resolution_s`` (60, 3600 or 86400).

    Arrays as in :class:`DayGrid` (NaN = no data; ``worn`` 1/0/-1); posture arrays are None
    when no contributing slot reports them. ``posture_sensed`` marks slots whose posture comes
    from a :data:`POSTURE_KINDS` device. ``sources`` are the keys of the sources that filled at
    least one slot, in precedence order. ``has_data`` is True when any grid of the day, at any
    resolution, held a value, a known wear flag or wear evidence (RPM "data day").
    """

    patient_id: str
    local_date: date
    tz: str
    resolution_s: int
    steps: np.ndarray
    worn: np.ndarray
    sedentary_s: np.ndarray | None
    upright_s: np.ndarray | None
    stepping_s: np.ndarray | None
    posture_sensed: np.ndarray
    sources: tuple[str, ...]
    has_data: bool
    wear_minutes_hr: float | None = None
    #: slots whose steps are estimates from a device's day counters (``schemas.counters``):
    #: steps of unknown time, so no evidence of wear; None when there are none
    estimated: np.ndarray | None = None

    @property
    def n_slots(self) -> int:
        return int(self.steps.shape[0])

    def day_start_utc(self) -> int:
        """UTC epoch second of local midnight starting this day."""
        return day_bounds(self.local_date, self.tz)[0]


def _rank_key(grid: DayGrid, precedence: Sequence[str]) -> tuple[int, str, str]:
    kind = grid.source.kind
    rank = precedence.index(kind) if kind in precedence else len(precedence)
    return rank, grid.source.key, grid.origin


def _check_same_day(grids: Sequence[DayGrid]) -> None:
    days = {(g.patient_id, g.local_date, g.tz) for g in grids}
    if len(days) != 1:
        raise ValueError(f"merge_day needs grids of one patient, day and zone, got {sorted(days)}")


def _finest_with_data(grids: Sequence[DayGrid]) -> int:
    with_data = [g.resolution_s for g in grids if g.covered.any()]
    return min(with_data) if with_data else min(g.resolution_s for g in grids)


def _owned(layer: Sequence[DayGrid]) -> list[np.ndarray]:
    """Per grid (in precedence order), the slots it owns: where it has step data and no
    higher-ranked grid does."""
    taken = np.zeros(layer[0].n_slots, dtype=bool)
    owned = []
    for grid in layer:
        mine = grid.covered & ~taken
        taken |= mine
        owned.append(mine)
    return owned


def _pick(arrays: Sequence[np.ndarray], owned: Sequence[np.ndarray],
          fill: float) -> np.ndarray:
    """Each slot's value from its owner's array; ``fill`` where no grid owns the slot."""
    out = np.full(owned[0].shape[0], fill, dtype=arrays[0].dtype)
    for values, mine in zip(arrays, owned):
        np.copyto(out, values, where=mine)
    return out


def _measure(layer: Sequence[DayGrid], owned: Sequence[np.ndarray],
             name: str) -> np.ndarray | None:
    """One measure merged (NaN where the owner lacks it); None when no grid reports it."""
    present = [(getattr(g, name), mine) for g, mine in zip(layer, owned)
               if getattr(g, name) is not None]
    if not present:
        return None
    return _pick([a for a, _ in present], [mine for _, mine in present], np.nan)


def _sensed(layer: Sequence[DayGrid], owned: Sequence[np.ndarray]) -> np.ndarray:
    """Slots whose posture seconds come from a posture monitor."""
    sensed = np.zeros(layer[0].n_slots, dtype=bool)
    for grid, mine in zip(layer, owned):
        if grid.source.kind in POSTURE_KINDS and grid.sedentary_s is not None:
            sensed |= mine & ~np.isnan(grid.sedentary_s)
    return sensed


def _grid_has_data(grid: DayGrid) -> bool:
    arrays = [a for a in (getattr(grid, m) for m in MEASURES) if a is not None]
    return (any(bool((~np.isnan(a)).any()) for a in arrays)
            or bool((grid.worn != WEAR_UNKNOWN).any()) or WEAR_MINUTES_HR in grid.extra)


def _wear_minutes_hr(ranked: Sequence[DayGrid]) -> float | None:
    for grid in ranked:
        if WEAR_MINUTES_HR in grid.extra:
            return float(grid.extra[WEAR_MINUTES_HR])
    return None


def _estimated(layer: Sequence[DayGrid], owned: Sequence[np.ndarray]) -> np.ndarray | None:
    """The owned slots whose steps their grid estimated from day counters."""
    marked = [(g, mine) for g, mine in zip(layer, owned) if counters.ESTIMATED_KEY in g.extra]
    if not marked:
        return None
    out = np.zeros(owned[0].shape[0], dtype=bool)
    for grid, mine in marked:
        out |= mine & counters.estimated_slots(grid.extra, grid.n_slots)
    return out


def _merge_one(grid: DayGrid) -> MergedDay:
    """``merge_day([grid])`` without ranking, stacking or per-grid loops (the common day: one
    source). Same values as the general path: the grid owns exactly its covered slots, so
    steps are copied as they are (NaN where uncovered) and the other arrays are masked to the
    covered slots; when every slot is covered (the usual minute day) they are plain copies."""
    covered = ~np.isnan(grid.steps)
    full = bool(covered.all())
    any_covered = full or bool(covered.any())

    def masked(values: np.ndarray | None, fill: float) -> np.ndarray | None:
        if values is None:
            return None
        if full:
            return values.copy()
        return np.where(covered, values, np.array(fill, dtype=values.dtype))

    sedentary = masked(grid.sedentary_s, np.nan)
    if grid.source.kind in POSTURE_KINDS and sedentary is not None:
        sensed = ~np.isnan(sedentary)  # NaN outside the covered slots, so already masked
    else:
        sensed = np.zeros(covered.shape[0], dtype=bool)
    return MergedDay(
        grid.patient_id, grid.local_date, grid.tz, grid.resolution_s,
        steps=grid.steps.copy(), worn=cast(np.ndarray, masked(grid.worn, WEAR_UNKNOWN)),
        sedentary_s=sedentary, upright_s=masked(grid.upright_s, np.nan),
        stepping_s=masked(grid.stepping_s, np.nan), posture_sensed=sensed,
        sources=(grid.source.key,) if any_covered else (),
        has_data=any_covered or _grid_has_data(grid),
        wear_minutes_hr=_wear_minutes_hr((grid,)), estimated=_estimated((grid,), (covered,)))


def merge_day(grids: Sequence[DayGrid],
              precedence: Sequence[str] = DEFAULT_PRECEDENCE) -> MergedDay:
    """Merge one patient's grids for one local day by the module's documented rule."""
    if not grids:
        raise ValueError("merge_day needs at least one grid")
    if len(grids) == 1:
        return _merge_one(grids[0])
    return _merge_general(grids, precedence)


def _merge_general(grids: Sequence[DayGrid], precedence: Sequence[str]) -> MergedDay:
    """The rule for any number of grids (``merge_day`` sends single grids to ``_merge_one``)."""
    _check_same_day(grids)
    ranked = sorted(grids, key=lambda g: _rank_key(g, precedence))
    res = _finest_with_data(ranked)
    layer = [g for g in ranked if g.resolution_s == res]
    owned = _owned(layer)
    posture = {m: _measure(layer, owned, m) for m in MEASURES[1:]}
    first = layer[0]
    return MergedDay(
        first.patient_id, first.local_date, first.tz, res,
        steps=_pick([g.steps for g in layer], owned, np.nan),
        worn=_pick([g.worn for g in layer], owned, WEAR_UNKNOWN),
        sedentary_s=posture["sedentary_s"], upright_s=posture["upright_s"],
        stepping_s=posture["stepping_s"], posture_sensed=_sensed(layer, owned),
        sources=tuple(g.source.key for g, mine in zip(layer, owned) if mine.any()),
        has_data=any(_grid_has_data(g) for g in grids),
        wear_minutes_hr=_wear_minutes_hr(ranked), estimated=_estimated(layer, owned))
