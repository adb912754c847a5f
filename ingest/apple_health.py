"""Apple Health exports (``export.xml``, or the ``export.zip`` the iPhone writes) -> one
minute series of steps and wear.

**Reading.** The XML is read as a stream by libxml2 (lxml) with a *target*: no tree is
built, each element's attributes reach :class:`_Reader` and are dropped, so memory does not
grow with the file (measured: bench/results-apple-health.md). Why lxml: its target parser
was the fastest real XML parser measured here (faster than the stdlib's expat and than
lxml's own iterparse, which builds every element), and it exposes libxml2's switches to
never load a DTD or reach the network. Most of an export is records we never use (energy,
distance ...), written one per line: those lines, and metadata entries we never read, are
blanked before the parser sees them (:func:`_blank_unused`), which is most of the speed. The internal DTD Apple writes is
accepted; a DTD that declares any ``<!ENTITY`` (which Apple never does: entity expansion
and external entities are how "billion laughs" and XXE work) or refers to an external DTD
is refused before any entity could be used. A document whose root is not ``HealthData`` is
not Apple Health. A file damaged or cut short after the root keeps everything read before
the defect, marked ``partial`` with the reason.

**What is used.**

* ``HKQuantityTypeIdentifierStepCount`` samples: each sample's steps are spread over the
  minutes it spans (:func:`ingest.apple_health_minutes.spread`). Skipped and counted: a bad
  date, a value that is not a non-negative number, a unit other than ``count``, an end before
  the start, a sample longer than an hour (a multi-hour or daily total: not minute data,
  never spread as if it were), more than 300 steps per minute (no human cadence; e.g. a
  manual day total typed in as one instant).
* **Source priority, resolved here** (the merge of ``processors.merge`` ranks source
  *kinds* and breaks ties by key, which is not the Health app's order): per minute, the
  steps of the best source with a sample in that minute, never a sum of two sources. Ranks:
  Apple Watches, then iPhones (and iPods), then any other app or device, then manual
  entries (``HKWasUserEntered`` = 1, whatever their source) last; within a rank, by source
  name. This is the Health app's default order (watch, phone, then apps as added). The one
  series has ``Source("apple-health", "by-priority")``; ``notes`` name every source with
  the steps and minutes it won and the steps it lost to a higher one (per upload, not per
  day: the upload path attaches ``day_extra`` to daily grids only).
* **Wear** (the only wear evidence an export holds): the watch's heart, step, exercise and
  stand-minute samples (:data:`WEAR_TYPES`, at most an hour long) and watch workouts.
  Assumption (A): the watch writes these only while on the wrist, with gaps up to
  :data:`BRIDGE_S` between samples (background heart rate is sampled every few minutes),
  so stretches of such evidence are joined across gaps up to that long. Worn minutes
  without any step sample get 0 steps (the watch was on and counted none); minutes with
  neither stay missing. The iPhone proves no wear, so a phone-only day has worn-unknown
  minutes and is rarely a valid day.
* **Stand hours** (``HKCategoryTypeIdentifierAppleStandHour``): an Idle hour (no minute of
  standing and moving, by the watch's reckoning) makes its worn minutes without steps
  sedentary (``sedentary_s`` = 60). Not used: Stood hours (the minute stood is not known),
  stand hours as wear (an hour record does not say which minutes), upright seconds (nothing
  in an export locates upright time to a minute; ``AppleStandTime`` is wrist-inferred).
* Not used: walking workouts add nothing beyond being wear evidence when the watch recorded
  them (their steps are already in the step samples; counted in ``notes``); walking metrics
  (speed, step length, asymmetry, double support) have no place in the day grid and are
  counted in ``notes``; ``ActivitySummary`` (daily rings) duplicates the samples; heart rate
  serves only as wear evidence; energy, distance and the rest are skipped unread.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import BinaryIO

import numpy as np
from lxml import etree

from ingest import apple_health_zip
from ingest.apple_health_minutes import Samples, Tally, bridge, minute_series, parse_stamps
from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.errors import CorruptFile, UnsupportedFormat
from schemas.daygrid import Source

SOURCE = Source("apple-health", "by-priority")
STEP = "HKQuantityTypeIdentifierStepCount"
STAND_HOUR = "HKCategoryTypeIdentifierAppleStandHour"
IDLE = "HKCategoryValueAppleStandHourIdle"
STOOD = "HKCategoryValueAppleStandHourStood"
USER_ENTERED = "HKWasUserEntered"
#: Watch samples that mean the watch was on the wrist (A: heart sensing needs skin contact;
#: steps, exercise and stand minutes need wrist detection). Energy and distance are left
#: out: they are computed from these same sensors and add little to bridged heart rate,
#: and being the most numerous records they are then skipped unparsed.
WEAR_TYPES = frozenset(f"HKQuantityTypeIdentifier{t}" for t in (
    "HeartRate", "HeartRateVariabilitySDNN", "OxygenSaturation", "RespiratoryRate",
    "StepCount", "AppleExerciseTime", "AppleStandTime"))
WALKING_METRICS = frozenset(f"HKQuantityTypeIdentifier{t}" for t in (
    "WalkingSpeed", "WalkingStepLength", "WalkingAsymmetryPercentage",
    "WalkingDoubleSupportPercentage", "AppleWalkingSteadiness", "SixMinuteWalkTestDistance"))
MAX_SAMPLE_S = 3600
MAX_STEPS_PER_MIN = 300
#: Longest gap between two pieces of wear evidence still read as worn throughout (A).
BRIDGE_S = 15 * 60
WATCH, PHONE, OTHER, MANUAL = range(4)
RANK_NAMES = ("Apple Watch", "iPhone", "app or other device", "manual entry")
_BATCH = 1 << 16
_CHUNK = 1 << 20
_QUANTITY_LINE = b' <Record type="HKQuantityTypeIdentifier'
_METADATA_LINE = b'  <MetadataEntry key="'
_USER_ENTERED_LINE = _METADATA_LINE + USER_ENTERED.encode() + b'"'
_USED_QUANTITIES = frozenset(t.removeprefix("HKQuantityTypeIdentifier").encode()
                             for t in WEAR_TYPES | WALKING_METRICS)


def tier(name: str, device: str | None) -> int:
    """Priority tier of a source from its ``device`` description (Apple's ``model:``), or,
    in old exports without one, from its name."""
    if device:
        if "model:Watch" in device:
            return WATCH
        return PHONE if "model:iPhone" in device or "model:iPod" in device else OTHER
    if "Apple Watch" in name:
        return WATCH
    return PHONE if "iPhone" in name else OTHER


class _Reader:
    """libxml2 target: keeps the attribute texts it needs, converted a batch at a time.

    No ``end`` handler (one call fewer per element): a step sample's metadata entries are
    the entries that follow its start before the next Record or Workout starts. Records
    inside a Correlation repeat top-level ones, and HealthKit correlations (food, blood
    pressure) never hold the types used here.
    """

    def __init__(self, result: ParseResult, filename: str) -> None:
        self.result, self.filename = result, filename
        self.root_seen = self.in_step = False
        self.last_name = ""
        self.exported = np.nan  # ExportDate, UTC epoch seconds
        self.sources: dict[tuple[int, str], int] = {}  # (tier, name) -> index
        self.tiers: dict[tuple[str, str | None], int] = {}
        self.step_start: list[str] = []
        self.step_end: list[str] = []
        self.step_value: list[str] = []
        self.step_source: list[int] = []
        self.wear_start: list[str] = []
        self.wear_end: list[str] = []
        self.workout_start: list[str] = []
        self.workout_end: list[str] = []
        self.idle_start: list[str] = []
        self.idle_end: list[str] = []
        self.chunks: dict[str, list[np.ndarray]] = {k: [] for k in (
            "start", "end", "steps", "source", "worn_start", "worn_end", "idle_start",
            "idle_end")}
        self.counts = dict.fromkeys(("stood", "idle", "walking workouts", "walking metrics",
                                     "manual"), 0)

    def doctype(self, name: str | None, pubid: str | None, system: str | None) -> None:
        if name != "HealthData":
            raise UnsupportedFormat(f"{self.filename}: XML of type {name!r}, not an Apple "
                                    "Health export (HealthData)")
        if pubid or system:
            raise UnsupportedFormat(f"{self.filename}: the DOCTYPE refers to an external DTD "
                                    f"({system or pubid}); Apple Health exports never do: "
                                    "refused")

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag == "Record":
            self.in_step = False
            self.result.records += 1
            kind = attrib.get("type")
            if kind in WEAR_TYPES:
                name, device = attrib.get("sourceName", ""), attrib.get("device")
                found = self.tiers.get((name, device))
                if found is None:
                    found = self.tiers[name, device] = tier(name, device)
                if found == WATCH:
                    self.wear_start.append(attrib.get("startDate", ""))
                    self.wear_end.append(attrib.get("endDate", ""))
                if kind == STEP:
                    self._step(attrib, found, name)
            elif kind == STAND_HOUR:
                self._stand_hour(attrib)
            elif kind in WALKING_METRICS:
                self.counts["walking metrics"] += 1
        elif tag == "MetadataEntry":
            if self.in_step and attrib.get("key") == USER_ENTERED and attrib.get("value") == "1":
                self.step_source[-1] = self._source(MANUAL, self.last_name)
                self.counts["manual"] += 1
        elif tag == "Workout":
            self.in_step = False
            self._workout(attrib)
        elif tag == "ExportDate":
            self.exported = parse_stamps([attrib.get("value", "")])[0]
        elif not self.root_seen:
            if tag != "HealthData":
                raise UnsupportedFormat(f"{self.filename}: XML whose root is <{tag}>, not an "
                                        "Apple Health export (HealthData)")
            self.root_seen = True

    def close(self) -> None:
        self.flush()

    @property
    def pending(self) -> int:
        return len(self.step_start) + len(self.wear_start)

    def _step(self, attrib: dict[str, str], found: int, name: str) -> None:
        if attrib.get("unit") != "count":
            self.result.skip(f"StepCount with unit {attrib.get('unit')!r} (not count)")
            return
        self.in_step = True
        self.last_name = name
        self.step_start.append(attrib.get("startDate", ""))
        self.step_end.append(attrib.get("endDate", ""))
        self.step_value.append(attrib.get("value", ""))
        self.step_source.append(self._source(found, name))

    def _source(self, rank: int, name: str) -> int:
        return self.sources.setdefault((rank, name), len(self.sources))

    def _stand_hour(self, attrib: dict[str, str]) -> None:
        value = attrib.get("value")
        if value == IDLE:
            self.counts["idle"] += 1
            self.idle_start.append(attrib.get("startDate", ""))
            self.idle_end.append(attrib.get("endDate", ""))
        elif value == STOOD:
            self.counts["stood"] += 1
        else:
            self.result.skip(f"stand hour with an unknown value {value!r}")

    def _workout(self, attrib: dict[str, str]) -> None:
        if attrib.get("workoutActivityType") == "HKWorkoutActivityTypeWalking":
            self.counts["walking workouts"] += 1
        if tier(attrib.get("sourceName", ""), attrib.get("device")) == WATCH:
            self.workout_start.append(attrib.get("startDate", ""))
            self.workout_end.append(attrib.get("endDate", ""))

    def flush(self) -> None:
        """Convert the texts held so far into arrays (dates in bulk), skipping odd records;
        wear evidence is bridged right away, so it is kept as a few stretches a day."""
        c = self.chunks
        if self.step_start:
            self._flush_steps()
        if self.wear_start or self.workout_start:
            start, end = _intervals(self.wear_start, self.wear_end, MAX_SAMPLE_S)
            w_start, w_end = _intervals(self.workout_start, self.workout_end, np.inf)
            bad = self._bad(start) + self._bad(w_start)
            if bad:
                self.result.skip("watch sample with a bad date", bad)
            start, end = np.concatenate([start, w_start]), np.concatenate([end, w_end])
            keep = ~np.isnan(start)  # a point sample covers its own second
            worn = bridge(start[keep], np.maximum(end, start + 1)[keep], BRIDGE_S)
            c["worn_start"].append(worn[0])
            c["worn_end"].append(worn[1])
        if self.idle_start:
            start, end = _intervals(self.idle_start, self.idle_end, np.inf)
            if bad := self._bad(start):
                self.result.skip("stand hour with a bad date", bad)
            c["idle_start"].append(start[~np.isnan(start)])
            c["idle_end"].append(end[~np.isnan(start)])

    @staticmethod
    def _bad(start: np.ndarray) -> int:
        return int(np.isnan(start).sum())

    def _flush_steps(self) -> None:
        start, end = parse_stamps(self.step_start), parse_stamps(self.step_end)
        value, source = _numbers(self.step_value), np.array(self.step_source, np.int64)
        for texts in (self.step_start, self.step_end, self.step_value, self.step_source):
            texts.clear()
        dur = end - start
        checks = (
            ("StepCount with a bad date", np.isnan(start) | np.isnan(end)),
            ("StepCount whose value is not a non-negative number", ~(value >= 0)),
            ("StepCount ending before it starts", dur < 0),
            ("StepCount longer than an hour (a total, not minute data)", dur > MAX_SAMPLE_S),
            (f"StepCount faster than {MAX_STEPS_PER_MIN} steps a minute",
             value > MAX_STEPS_PER_MIN * np.maximum(dur, 60) / 60),
        )
        keep = np.ones(start.shape[0], bool)
        for reason, bad in checks:
            bad &= keep
            if bad.any():
                self.result.skip(reason, int(bad.sum()))
                keep &= ~bad
        for k, v in (("start", start), ("end", end), ("steps", value), ("source", source)):
            self.chunks[k].append(v[keep])

    def samples(self) -> Samples:
        """Everything kept, with each step sample's source rank (see the module docstring)."""
        joined = {k: np.concatenate(v) if v else np.empty(0) for k, v in self.chunks.items()}
        ranked = sorted(self.sources)
        rank_of = np.empty(len(ranked), np.int64)
        for rank, key in enumerate(ranked):
            rank_of[self.sources[key]] = rank
        worn = bridge(joined["worn_start"], joined["worn_end"], BRIDGE_S)
        return Samples(joined["start"], joined["end"], joined["steps"],
                       rank_of[joined["source"].astype(np.int64)], max(len(ranked), 1),
                       worn[0], worn[1], joined["idle_start"], joined["idle_end"])


def _intervals(starts: list[str], ends: list[str], longest: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Parsed (start, end) of the texts, which are cleared; a bad date gives a NaN start,
    an interval running backwards or longer than ``longest`` is dropped."""
    start, end = parse_stamps(starts), parse_stamps(ends)
    starts.clear()
    ends.clear()
    start[np.isnan(end)] = np.nan
    drop = ~np.isnan(start) & ((end < start) | (end - start > longest))
    return start[~drop], end[~drop]


def _numbers(texts: list[str]) -> np.ndarray:
    """Floats of the texts (NaN for one that is not a finite number)."""
    try:
        values = np.array(texts, dtype=np.float64)
    except ValueError:
        values = np.array([_number(x) for x in texts], dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


class AppleHealthParser:
    """The ``apple-health`` format: ``export.xml`` or the iPhone's ``export.zip``."""

    name = "apple-health"

    def sniff(self, head: bytes, filename: str) -> int:
        if apple_health_zip.is_zip(head):
            return apple_health_zip.sniff_zip(head)
        return 90 if root_is_health_data(head) else 0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        filename = ctx.filename or "upload"
        result = ParseResult(self.name)
        head = stream.read(apple_health_zip.HEAD_BYTES)
        stream.seek(0)
        if apple_health_zip.is_zip(head):
            with apple_health_zip.open_export(stream, filename, root_is_health_data) as opened:
                reader = _read(opened[1], result, f"{filename}:{opened[0]}")
        elif root_is_health_data(head):
            reader = _read(stream, result, filename)
        else:
            raise UnsupportedFormat(f"{filename}: not an Apple Health export (neither a zip "
                                    "nor XML whose root is HealthData)")
        batches, tally = minute_series(reader.samples(), SOURCE)
        result.series.extend(PatientSeries(ctx.patient_id, batch) for batch in batches)
        if not np.isnan(reader.exported):  # the phone synced everything it had by then
            result.sync_times.append(
                (ctx.patient_id, datetime.fromtimestamp(reader.exported, timezone.utc)))
        result.notes.extend(_notes(reader, tally))
        return result


def root_is_health_data(head: bytes) -> bool:
    """True when the document's first markup names HealthData (DOCTYPE or root element)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<?xml"):
        text = text[text.find(b"?>") + 2:].lstrip()
    while text.startswith(b"<!--"):
        text = text[text.find(b"-->") + 3:].lstrip()
    return text.startswith((b"<!DOCTYPE HealthData", b"<HealthData"))


def _read(stream: BinaryIO, result: ParseResult, filename: str) -> _Reader:
    """Feed the stream to libxml2 in chunks of whole lines, unused records blanked
    (:func:`_blank_unused`); a defect after the root keeps what came before it
    (``partial``)."""
    reader = _Reader(result, filename)
    parser = etree.XMLParser(target=reader, resolve_entities=False, no_network=True,
                             load_dtd=False, encoding="utf-8")
    tail = pending = b""
    try:
        while chunk := stream.read(_CHUNK):
            if not reader.root_seen:
                _refuse_entities(tail + chunk, filename)
                tail = chunk[-8:]
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            if not cut and len(data) < 8 * _CHUNK:
                pending = data
                continue
            body, pending = (data[:cut], data[cut:]) if cut else (data, b"")
            parser.feed(_blank_unused(body, result))
            if reader.pending >= _BATCH:
                reader.flush()
        parser.feed(pending)
        parser.close()
    except etree.XMLSyntaxError as exc:
        if not reader.root_seen:
            raise CorruptFile(f"{filename}: not well-formed XML before any data ({exc})") from exc
        reader.flush()
        result.partial = (f"XML damaged or cut short ({exc}); kept the {result.records:,} "
                          "records before it")
    return reader


def _blank_unused(body: bytes, result: ParseResult) -> bytes:
    """``body`` with each line that is one self-closing Record of a quantity type we never
    use (energy, distance, heart-rate averages, body measurements ...) or one metadata
    entry other than ``HKWasUserEntered`` blanked before libxml2 sees it, when written as
    the iPhone writes them: one per line, indented one (records) or two (entries) spaces,
    ``type`` or ``key`` first. Blanked records are counted; anything else (other layouts,
    several elements on a line) goes to the parser whole. The newlines stay, so libxml2's
    line numbers stay true."""
    lines = body.split(b"\n")
    prefix, start, used = _QUANTITY_LINE, len(_QUANTITY_LINE), _USED_QUANTITIES
    meta, kept_meta = _METADATA_LINE, _USER_ENTERED_LINE
    blanked = 0
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            if (line[start:line.find(b'"', start)] not in used and line.endswith(b"/>")
                    and line.count(b"<") == 1):
                lines[i] = b""
                blanked += 1
        elif (line.startswith(meta) and not line.startswith(kept_meta)
              and line.endswith(b"/>") and line.count(b"<") == 1):
            lines[i] = b""
    result.records += blanked
    return b"\n".join(lines)


def _refuse_entities(data: bytes, filename: str) -> None:
    if b"<!ENTITY" in data:
        raise UnsupportedFormat(
            f"{filename}: the DTD declares XML entities; Apple Health exports never do, and "
            "expanding them is how entity-expansion and external-entity attacks work: refused")


def _notes(reader: _Reader, tally: Tally) -> list[str]:
    """Which source won how much, and what was read but not used."""
    notes = [f"{RANK_NAMES[rank]} {name!r}: {tally.kept_steps[i]:,.0f} steps in "
             f"{tally.kept_minutes[i]:,} minutes used, {tally.dropped_steps[i]:,.0f} steps "
             "left out in minutes a higher-priority source had"
             for i, (rank, name) in enumerate(sorted(reader.sources))
             if tally.kept_minutes[i] or tally.dropped_steps[i]]
    n = reader.counts
    if n["manual"]:
        notes.append(f"{n['manual']} manual step entries (HKWasUserEntered), used last")
    if n["stood"] or n["idle"]:
        notes.append(f"stand hours: {n['stood']} stood, {n['idle']} idle (idle hours make "
                     "worn minutes without steps sedentary)")
    if n["walking workouts"]:
        notes.append(f"{n['walking workouts']} walking workouts: their steps are in the step "
                     "samples; a watch workout counts as wear")
    if n["walking metrics"]:
        notes.append(f"{n['walking metrics']} walking-metric samples (speed, step length, "
                     "asymmetry, double support) not used: the day grid has no place for them")
    return notes


PARSER = AppleHealthParser()
