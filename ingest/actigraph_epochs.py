"""What both ActiGraph containers (``.agd``, ActiLife CSV) reduce to, and its interval batch.

An ActiGraph recording is a run of fixed epochs (1-60 s) on the device's own clock, each with
its steps (per epoch, not cumulative) and, when the inclinometer was on, the seconds the
device spent "off", standing, sitting and lying. Axis counts and lux are not used.

Posture and wear come from the inclinometer only where it classifies posture: a device worn
at the waist or hip (ActiGraph's inclinometer assumes that placement; at the ankle or wrist
"sitting" and "standing" mean nothing). There, sitting + lying seconds are ``sedentary_s``,
an epoch wholly "off" is not worn and any other epoch is worn. Standing includes walking, so
it fills neither ``upright_s`` (standing still) nor ``stepping_s``. Elsewhere, or where the
file does not say where the device was worn, posture and wear are left unknown (a note says
why) and wear is judged from steps downstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.errors import CorruptFile, UnsupportedFormat
from ingest.timestamps import device_clock_to_utc
from schemas.binning import IntervalBatch
from schemas.daygrid import MINUTE, NOT_WORN, WEAR_UNKNOWN, WORN, Source

#: The inclinometer's states, in the order of its columns in every ActiGraph export.
INCLINE = ("off", "standing", "sitting", "lying")
POSTURE_LIMBS = ("waist", "hip")


@dataclass(frozen=True, eq=False)
class Recording:
    """Epochs of one ActiGraph recording.

    ``local_s``: each epoch's start on the device clock (wall-clock seconds since 1970-01-01,
    no zone). ``incline``: (epochs, 4) seconds per :data:`INCLINE` state, or None when the
    inclinometer was off. ``limb``: the wear location the file states ("" when unstated).
    ``lines``: where each epoch is in the file (line numbers or row numbers), for errors.
    """

    device: str
    serial: str
    epoch_s: int
    local_s: np.ndarray
    steps: np.ndarray
    incline: np.ndarray | None
    limb: str
    lines: np.ndarray


def check_epoch(epoch_s: float, filename: str) -> int:
    """The epoch length, which must divide a minute (ActiLife's 1-60 s epochs)."""
    if not (1 <= epoch_s <= MINUTE and MINUTE % epoch_s == 0):
        raise UnsupportedFormat(f"{filename}: an epoch of {epoch_s:g} s; rehabwatch reads "
                                "ActiGraph epochs of 1 to 60 seconds that divide a minute")
    return int(epoch_s)


def add_recording(rec: Recording, ctx: ParseContext, filename: str,
                  result: ParseResult) -> None:
    """Check ``rec`` and append its interval batch (minute grid) to ``result``."""
    order = np.argsort(rec.local_s, kind="stable")
    local_s = rec.local_s[order]
    repeated = np.flatnonzero(np.diff(local_s) == 0)
    if repeated.size:
        at = rec.lines[order][repeated[:5] + 1]
        raise CorruptFile(f"{filename}: {repeated.size} epoch(s) repeat the time of another "
                          f"(at {', '.join(str(n) for n in at)})")
    off_grid = (local_s - local_s[0]) % rec.epoch_s != 0
    if off_grid.any():
        raise CorruptFile(f"{filename}: epochs off the {rec.epoch_s}-s grid of the first one "
                          f"(at {rec.lines[order][np.flatnonzero(off_grid)[0]]})")
    start = device_clock_to_utc(local_s, ctx.tz_for(ctx.patient_id), result)
    measures = _posture(rec.incline, rec.epoch_s, rec.limb, result)
    result.records += len(local_s)
    sedentary, worn = (measures.get(k) for k in ("sedentary_s", "worn"))
    result.series.append(PatientSeries(ctx.patient_id, IntervalBatch(
        Source(kind="actigraph", device=rec.device.replace(":", "_"), serial=rec.serial),
        MINUTE, start, np.full(len(start), rec.epoch_s), steps=rec.steps[order],
        sedentary_s=None if sedentary is None else sedentary[order],
        worn=None if worn is None else worn[order])))


def _posture(incline: np.ndarray | None, epoch_s: int, limb: str,
             result: ParseResult) -> dict[str, np.ndarray | None]:
    """``sedentary_s`` and ``worn`` from the inclinometer, where it senses posture."""
    if incline is None:
        return {}
    if not any(place in limb.lower() for place in POSTURE_LIMBS):
        where = f"at the {limb.lower()}" if limb else "where the file does not say"
        result.notes.append(f"inclinometer not used: the device was worn {where}, and "
                            "ActiGraph's inclinometer classifies posture only at the waist/hip")
        return {}
    whole = np.isclose(incline.sum(axis=1), epoch_s)
    if not whole.all():
        result.skip("epoch whose inclinometer seconds do not add up to its length (posture "
                    "and wear left unknown)", int((~whole).sum()))
    off, _, sitting, lying = incline.T
    worn = np.where(off >= epoch_s, NOT_WORN, WORN).astype(np.int8)
    return {"sedentary_s": np.where(whole, sitting + lying, np.nan),
            "worn": np.where(whole, worn, WEAR_UNKNOWN).astype(np.int8)}
