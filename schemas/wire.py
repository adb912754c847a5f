"""What travels on the stream: topic names, partition counts, and the bytes of each message.

Topics (all keyed by patient id, so one patient's messages stay in order on one partition):

===================  =========================  ==========================================
setting / env var    default                    value of each message
===================  =========================  ==========================================
``daygrids``         ``activity.daygrids``      a :class:`~schemas.daygrid.DayGrid`
``daily``            ``activity.daily``         a :class:`~schemas.records.DailySummary`
``candidates``       ``alerts.candidates``      an :class:`AlertCheck` (the missing-data scan's)
``events``           ``alerts.events``          an alert event (opened/updated/resolved/...)
``deadletter``       ``rehabwatch.deadletter``  the original bytes; reason in the headers
===================  =========================  ==========================================

Each name is overridden by ``RW_TOPIC_<NAME>`` (e.g. ``RW_TOPIC_DAYGRIDS``); ``RW_TOPIC_PARTITIONS``
(default 8: the most workers that can share a topic) and ``RW_TOPIC_REPLICAS`` (default 1)
apply to every topic. Changing the partition count of an existing topic moves patients between
partitions: do it only on an empty, drained stream.

Encoding, version :data:`WIRE_VERSION`:

- a day grid is ``b"RWG"`` + version byte + 4-byte big-endian header length + a JSON header
  (identity, zone, resolution, which arrays follow) + the zlib-compressed little-endian arrays
  (float64 measures, int8 ``worn``). It round-trips bit for bit, NaN included, and is ~1-3 kB
  for a minute grid instead of ~40 kB of raw arrays.
- a record (summary, candidate, check, alert event) is compact JSON
  ``{"v": 1, "type": "<class name>", "data": {...}}``; dates are ISO strings and are turned back
  into dates from the class's type hints. Values inside untyped dicts (``evidence``) come back
  as JSON gives them.

Any malformed input raises :class:`WireError` (a ``ValueError``), never something else.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import struct
import types
import typing
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

import numpy as np

from schemas.daygrid import MEASURES, DayGrid, Source, slot_count

WIRE_VERSION = 1
GRID_MAGIC = b"RWG"
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


class WireError(ValueError):
    """Bytes that are not a message of the expected kind and version."""


@dataclass(frozen=True)
class TopicConfig:
    """Topic names and sizes; see the module docstring for env overrides."""

    daygrids: str = "activity.daygrids"
    daily: str = "activity.daily"
    candidates: str = "alerts.candidates"
    events: str = "alerts.events"
    deadletter: str = "rehabwatch.deadletter"
    partitions: int = 8
    replicas: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TopicConfig:
        """Defaults, overridden by ``RW_TOPIC_*`` variables."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"RW_TOPIC_{f.name.upper()}")
            if raw:
                values[f.name] = int(raw) if f.type == "int" else raw
        return cls(**values)


@dataclass(frozen=True)
class AlertCheck:
    """A request to evaluate one patient's alert rules as of a local day.

    ``trigger`` says why: ``daily`` (a summary on ``activity.daily`` changed; the evaluate
    agent makes these from the summaries it reads) or ``missing-data`` (the periodic scan found
    the patient silent; these travel on ``alerts.candidates``). Routing both through topics
    keyed and partitioned alike means one patient's alerts are only ever written by the worker
    that owns the patient's partition.
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
    return _GRID_PREFIX.pack(GRID_MAGIC, WIRE_VERSION, len(header)) + header + zlib.compress(body, 1)


def decode_grid(data: bytes) -> DayGrid:
    """Inverse of :func:`encode_grid`."""
    if len(data) < _GRID_PREFIX.size:
        raise WireError(f"{len(data)} bytes is too short for a day grid")
    magic, version, n = _GRID_PREFIX.unpack_from(data)
    if magic != GRID_MAGIC or version != WIRE_VERSION:
        raise WireError(f"not a version-{WIRE_VERSION} day grid (magic {magic!r} v{version})")
    try:
        head = json.loads(data[_GRID_PREFIX.size:_GRID_PREFIX.size + n])
        body = zlib.decompress(data[_GRID_PREFIX.size + n:])
        return _grid_from(head, body)
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
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

def encode_record(record: Any) -> bytes:
    """A frozen dataclass record as versioned compact JSON."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"not a dataclass record: {record!r}")
    envelope = {"v": WIRE_VERSION, "type": type(record).__name__, "data": _fields(record)}
    return json.dumps(envelope, separators=(",", ":"), default=_json_default).encode()


def decode_record(data: bytes, cls: type[R]) -> R:
    """Inverse of :func:`encode_record` for a message expected to hold a ``cls``."""
    try:
        envelope = json.loads(data)
        if envelope.get("v") != WIRE_VERSION or envelope.get("type") != cls.__name__:
            raise WireError(f"expected a version-{WIRE_VERSION} {cls.__name__}, got "
                            f"{envelope.get('type')!r} v{envelope.get('v')!r}")
        return typing.cast(R, _typed(cls, envelope["data"]))
    except WireError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise WireError(f"corrupt {cls.__name__} message: {exc}") from exc


def _fields(record: Any) -> dict[str, Any]:
    """A dataclass's fields, one level deep (nested records go through :func:`_json_default`,
    which is much cheaper than ``dataclasses.asdict``'s deep copy)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot put {type(value).__name__} on the wire")


def _typed(tp: Any, value: Any) -> Any:
    """``value`` (from JSON) converted to type ``tp`` as named in a dataclass's hints."""
    return _converter(tp)(value)


Convert = Callable[[Any], Any]


@functools.cache
def _converter(tp: Any) -> Convert:
    """The conversion from JSON to ``tp``, worked out once per type (None stays None)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return _same
    if origin in (typing.Union, types.UnionType):
        return _nullable(_first_fit(tuple(a for a in args if a is not type(None))))
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = [(f.name, _converter(hints[f.name])) for f in dataclasses.fields(tp)]
        return _nullable(lambda v: tp(**{n: conv(v[n]) for n, conv in fields if n in v}))
    if origin is tuple:
        item = _converter(args[0] if args else Any)
        return _nullable(lambda v: tuple(item(x) for x in v))
    if origin is list:
        item = _converter(args[0])
        return _nullable(lambda v: [item(x) for x in v])
    if origin is dict:
        item = _converter(args[1])
        return _nullable(lambda v: {k: item(x) for k, x in v.items()})
    return _nullable(functools.partial(_typed_scalar, tp))


def _same(value: Any) -> Any:
    return value


def _nullable(convert: Convert) -> Convert:
    return lambda v: None if v is None else convert(v)


def _first_fit(args: tuple[Any, ...]) -> Convert:
    """Conversion to the first of ``args`` that accepts the value."""
    if len(args) == 1:
        return _converter(args[0])

    def convert(value: Any) -> Any:
        errors = []
        for arg in args:
            try:
                return _converter(arg)(value)
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        raise ValueError(f"{value!r} fits none of {args}: {errors}")
    return convert


def _typed_scalar(tp: Any, value: Any) -> Any:
    if tp is datetime:  # before date: a datetime is a date
        return datetime.fromisoformat(value)
    if tp is date:
        return date.fromisoformat(value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise TypeError(f"expected {tp.__name__}, got {value!r}")
    return value
