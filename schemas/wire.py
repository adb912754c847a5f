"""What travels on the stream: the topics, and the bytes of each message.

Topics (all keyed by patient id, so one patient's messages stay in order on one partition):

===================  =========================  ==========================================
topic (setting)      default name               value of each message
===================  =========================  ==========================================
``daygrids``         ``activity.daygrids``      a :class:`~schemas.daygrid.DayGrid`
``daily``            ``activity.daily``         a :class:`~schemas.records.DailySummary`
``candidates``       ``alerts.candidates``      an :class:`AlertCheck` (the missing-data scan's)
``events``           ``alerts.events``          an alert event (opened/updated/resolved/...)
``deadletter``       ``rehabwatch.deadletter``  the original bytes; reason in the headers
===================  =========================  ==========================================

The names and sizes are :class:`processors.stream_settings.TopicConfig`. Changing the partition
count of an existing topic moves patients between partitions: do it only on an empty, drained
stream.

Encoding:

- a day grid (version :data:`GRID_VERSION`) is ``b"RWG"`` + version byte + 4-byte big-endian
  header length + a JSON header (identity, zone, resolution, which arrays follow) + the
  little-endian arrays (float64 measures, int8 ``worn``) as one LZ4 frame. It round-trips bit
  for bit, NaN included, and is ~1-3 kB for a minute grid instead of ~40 kB of raw arrays.
  Version 1 grids (the same with a zlib body) still decode: LZ4 is as small for a day grid and
  ~9x faster to read (2 vs 16 us), which is a share of every worker's CPU. Upgrade workers
  before publishers: an older worker dead-letters version 2 grids (replayable from there).
- a record (summary, candidate, check, alert event), version :data:`WIRE_VERSION`, is compact JSON
  ``{"data": {...}, "type": "<class name>", "v": 1}`` (:mod:`schemas.records_json`); dates are
  ISO strings and are turned back into dates from the class's type hints. Values inside untyped
  dicts (``evidence``) come back as JSON gives them.

Any malformed input raises :class:`WireError` (a ``ValueError``), never something else.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import lz4.frame
import msgspec
import numpy as np

from schemas.daygrid import MEASURES, DayGrid, Source, slot_count
from schemas.errors import RehabwatchError
from schemas.records_json import DecodeErrors, from_json, to_json

WIRE_VERSION = 1
GRID_VERSION = 2
GRID_MAGIC = b"RWG"
#: How each day-grid version's body is decompressed (version 1: zlib, 2: an LZ4 frame).
_GRID_BODIES = {1: zlib.decompress, 2: lz4.frame.decompress}
_GRID_PREFIX = struct.Struct(">3sBI")
_ARRAY_DTYPES = {"worn": np.dtype("i1")}  # every other array is float64
_F8 = np.dtype("<f8")

#: Kafka header carrying the time (epoch ms) the day grid that started a chain was published;
#: copied onto every message derived from it, for the event-time lag metric.
HEADER_ORIGIN_MS = "rw-origin-ms"
#: Dead-letter headers: why, and where the message came from.
HEADER_DLQ_REASON = "rw-dlq-reason"
HEADER_DLQ_SOURCE = "rw-dlq-source"

R = TypeVar("R")


class WireError(RehabwatchError, ValueError):
    """Bytes that are not a message of the expected kind and version."""


@dataclass(frozen=True)
class AlertCheck:
    """A request to evaluate one patient's alert rules as of a local day.

    ``trigger`` says why: ``daily`` (a day's summary was rebuilt; the process agent makes
    these from the summaries of the grids it has just stored) or ``missing-data`` (the
    periodic scan found the patient silent; these travel on ``alerts.candidates``). Grids and
    these checks travel on topics keyed and partitioned alike, so one patient's alerts are
    only ever written by the worker that owns the patient's partition.
    """

    patient_id: str
    as_of: date
    trigger: str


# -- day grids -----------------------------------------------------------------------------

def encode_grid(grid: DayGrid) -> bytes:
    """A day grid as bytes (see the module docstring)."""
    names = [n for n in ("steps", "worn", *MEASURES[1:]) if getattr(grid, n) is not None]
    header = json.dumps({
        "patient_id": grid.patient_id,
        "source": [grid.source.kind, grid.source.device, grid.source.serial],
        "local_date": grid.local_date.isoformat(), "tz": grid.tz,
        "resolution_s": grid.resolution_s, "origin": grid.origin, "extra": grid.extra,
        "arrays": names,
    }, separators=(",", ":")).encode()
    body = b"".join(np.ascontiguousarray(getattr(grid, n), _ARRAY_DTYPES.get(n, _F8)).tobytes()
                    for n in names)
    return (_GRID_PREFIX.pack(GRID_MAGIC, GRID_VERSION, len(header)) + header
            + lz4.frame.compress(body))


def decode_grid(data: bytes) -> DayGrid:
    """Inverse of :func:`encode_grid`."""
    if len(data) < _GRID_PREFIX.size:
        raise WireError(f"{len(data)} bytes is too short for a day grid")
    magic, version, n = _GRID_PREFIX.unpack_from(data)
    if magic != GRID_MAGIC or version not in _GRID_BODIES:
        raise WireError(f"not a day grid of version {sorted(_GRID_BODIES)} "
                        f"(magic {magic!r} v{version})")
    try:
        head = json.loads(data[_GRID_PREFIX.size:_GRID_PREFIX.size + n])
        body = _GRID_BODIES[version](data[_GRID_PREFIX.size + n:])
        return _grid_from(head, body)
    # lz4 reports a damaged frame as a RuntimeError
    except (KeyError, TypeError, ValueError, RuntimeError, zlib.error) as exc:
        raise WireError(f"corrupt day grid: {exc}") from exc


def _grid_from(head: dict[str, Any], body: bytes) -> DayGrid:
    # The slot count is not on the wire: it follows from day, zone and resolution.
    n = slot_count(date.fromisoformat(head["local_date"]), head["tz"], head["resolution_s"])
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for name in head["arrays"]:
        dtype = _ARRAY_DTYPES.get(name, _F8)
        arrays[name] = np.frombuffer(body, dtype, count=n, offset=offset).astype(
            dtype.newbyteorder("="))
        offset += n * dtype.itemsize
    if offset != len(body):
        raise WireError(f"day grid body has {len(body) - offset} unexpected bytes")
    return DayGrid(head["patient_id"], Source(*head["source"]),
                   date.fromisoformat(head["local_date"]), head["tz"], head["resolution_s"],
                   steps=arrays["steps"], worn=arrays["worn"],
                   sedentary_s=arrays.get("sedentary_s"), upright_s=arrays.get("upright_s"),
                   stepping_s=arrays.get("stepping_s"), origin=head["origin"],
                   extra=dict(head["extra"]))


# -- records -------------------------------------------------------------------------------

class _Envelope(msgspec.Struct):
    v: int
    type: str
    data: msgspec.Raw  # decoded once the type is known to be the expected one


def encode_record(record: Any) -> bytes:
    """A frozen dataclass record as versioned compact JSON."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"not a dataclass record: {record!r}")
    return to_json({"v": WIRE_VERSION, "type": type(record).__name__, "data": record})


def decode_record(data: bytes, cls: type[R]) -> R:
    """Inverse of :func:`encode_record` for a message expected to hold a ``cls``."""
    try:
        envelope = from_json(data, _Envelope)
        if envelope.v != WIRE_VERSION or envelope.type != cls.__name__:
            raise WireError(f"expected a version-{WIRE_VERSION} {cls.__name__}, got "
                            f"{envelope.type!r} v{envelope.v!r}")
        return from_json(envelope.data, cls)
    except WireError:
        raise
    except DecodeErrors as exc:
        raise WireError(f"corrupt {cls.__name__} message: {exc}") from exc
