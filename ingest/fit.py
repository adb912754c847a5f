"""Garmin/ANT FIT files (monitoring and activity) -> one :class:`IntervalBatch`.

Decoding is done by :mod:`ingest.fit_reader` (why our own: bench/results-fit.md). Times in a
FIT file are seconds since 1989-12-31 00:00 UTC; they are UTC, never local, so no patient
zone is assumed except where a monitoring file lacks its ``monitoring_info`` (see
:func:`_device_offset`).

Defects: a file whose first header or first messages cannot be read raises
:class:`CorruptFile`. A file damaged later (cut short, ``data_size`` never written, an
undefined local message, an unreadable chained header) keeps what was decoded before the
defect, with the reason in ``ParseResult.partial``. A CRC mismatch on a file that otherwise
decodes completely is *accepted* with the reason in ``partial``: every definition and
message was consistent to the last byte, so the damage, if any, is a changed value we cannot
locate; rejecting would lose a whole day of a patient's data, while ``partial`` marks the
upload for review (and the stored upload says so).
"""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from fitdecode.profile import FIELD_TYPES

from ingest import fit_activity, fit_monitoring
from ingest.base import ParseContext, ParseResult, PatientSeries
from ingest.errors import CorruptFile
from ingest.fit_reader import FitReader
from ingest.fit_rows import Rows
from schemas.daygrid import Source

FILE_ID = 0
MONITORING_B = 32
GARMIN = 1
#: Unix time of the FIT epoch, 1989-12-31 00:00:00 UTC.
FIT_EPOCH_S = 631065600
FIELDS = {
    FILE_ID: {0: "type", 1: "manufacturer", 2: "product", 3: "serial_number",
              4: "time_created", 8: "product_name"},
    **fit_monitoring.FIELDS, **fit_activity.FIELDS,
}


class FitParser:
    """The ``fit`` format: FIT monitoring and activity files, chained files included."""

    name = "fit"

    def sniff(self, head: bytes, filename: str) -> int:
        return 10 if _plain_header(head) else 0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        data = stream.read()
        reader = FitReader(data, FIELDS)
        by_type = _decode(reader, ctx.filename)
        result = ParseResult(self.name, records=reader.count, partial=_partial(reader))
        file_id = by_type.get(FILE_ID, [{}])[0]
        rows = _rows(file_id, by_type, ctx, result)
        if reader.odd_fields:
            result.notes.append(f"fields skipped for a size their type does not allow: "
                                f"{', '.join(sorted(reader.odd_fields))}")
        if rows.start or rows.counters:
            batch = rows.batch(_source(file_id, by_type), FIT_EPOCH_S)
            result.series.append(PatientSeries(ctx.patient_id, batch))
        return result


def _plain_header(head: bytes) -> bool:
    """Header size 12 or 14 and ".FIT" at bytes 8..12 (the header CRC is checked by parse)."""
    return len(head) >= 12 and head[0] in (12, 14) and head[8:12] == b".FIT"


def _decode(reader: FitReader, filename: str) -> dict[int, list[dict[str, Any]]]:
    """Wanted messages by global number; CorruptFile when nothing usable could be read."""
    segments: list[list[tuple[int, dict[str, Any]]]] = []
    try:
        for global_num, msg in reader.messages():
            if global_num == FILE_ID or not segments:  # each chained file starts with one
                segments.append([])
            segments[-1].append((global_num, msg))
    except (struct.error, IndexError, ValueError) as exc:  # a reader bug must not leak
        raise CorruptFile(f"{filename or 'upload'}: FIT file unreadable: {exc}") from exc
    by_type: dict[int, list[dict[str, Any]]] = {}
    for i, segment in enumerate(segments):
        if segment in segments[:i]:
            continue  # a chained copy of an earlier file: its steps are already counted
        for global_num, msg in segment:
            by_type.setdefault(global_num, []).append(msg)
    if FILE_ID not in by_type:
        defect = reader.damage or "no file_id message"
        raise CorruptFile(f"{filename or 'upload'}: FIT file unreadable: {defect}")
    return by_type


def _partial(reader: FitReader) -> str | None:
    reasons = []
    if reader.damage:
        reasons.append(f"FIT {reader.damage}; kept the {reader.count} messages before it")
    if reader.crc_errors:
        reasons.append("FIT CRC mismatch, content decoded completely but unverified ("
                       + "; ".join(reader.crc_errors) + ")")
    return "; ".join(reasons) or None

MONITORING_KIND, ACTIVITY_KIND = "garmin-fit", "garmin-fit-activity"


def _rows(file_id: dict[str, Any], by_type: dict[int, list[dict[str, Any]]],
          ctx: ParseContext, result: ParseResult) -> Rows:
    if file_id.get("type") == MONITORING_B or fit_monitoring.MONITORING in by_type:
        return _monitoring_rows(file_id, by_type, ctx, result)
    rows = fit_activity.read_activity(by_type.get(fit_activity.RECORD, []),
                                      by_type.get(fit_activity.SESSION, []), result.skipped)
    if result.skipped.get("record without a UTC timestamp"):
        result.notes.append("records timed from device power-on (no clock set) cannot be "
                            "placed on a date and were left out")
    return rows


def _monitoring_rows(file_id: dict[str, Any], by_type: dict[int, list[dict[str, Any]]],
                     ctx: ParseContext, result: ParseResult) -> Rows:
    info = by_type.get(fit_monitoring.MONITORING_INFO, [{}])[0]
    start = info.get("timestamp", file_id.get("time_created"))
    offset = _device_offset(info, start, ctx, result)
    messages = [(fit_monitoring.MONITORING_INFO, m)
                for m in by_type.get(fit_monitoring.MONITORING_INFO, [])][:1]
    messages += [(fit_monitoring.MONITORING, m) for m in by_type.get(fit_monitoring.MONITORING, [])]
    state = fit_monitoring.read_monitoring(messages, offset, start)
    if state.untimed:
        result.skip("monitoring row before any full timestamp", state.untimed)
    return state.rows



def _device_offset(info: dict[str, Any], start: int | None, ctx: ParseContext,
                   result: ParseResult) -> int:
    """Device-local minus UTC seconds: the device's own (monitoring_info), else — an
    assumption, noted in the result — the patient's zone at the file start."""
    if "local_timestamp" in info and "timestamp" in info:
        return int(info["local_timestamp"] - info["timestamp"])
    at = datetime.fromtimestamp((start or 0) + FIT_EPOCH_S, timezone.utc)
    offset = ZoneInfo(ctx.tz).utcoffset(at)
    result.notes.append(f"no monitoring_info: assumed the device clock followed {ctx.tz}")
    return int(offset.total_seconds()) if offset else 0


def _source(file_id: dict[str, Any], by_type: dict[int, list[dict[str, Any]]]) -> Source:
    """Monitoring (all-day) and workout files of one watch are separate sources: the all-day
    counters already include workout steps, so the merge lets workouts fill only minutes that
    no monitoring file covers, instead of overlaying one on the other."""
    serial = file_id.get("serial_number")
    monitoring = file_id.get("type") == MONITORING_B or fit_monitoring.MONITORING in by_type
    return Source(MONITORING_KIND if monitoring else ACTIVITY_KIND,
                  _device_name(file_id).replace(":", "_"),
                  "" if serial is None else str(serial))


def _device_name(file_id: dict[str, Any]) -> str:
    """Product name: Garmin's product table, the file's own name, else maker-number."""
    maker, product = file_id.get("manufacturer"), file_id.get("product")
    if maker == GARMIN and product in FIELD_TYPES["garmin_product"].enum:
        return str(FIELD_TYPES["garmin_product"].enum[product])
    if file_id.get("product_name"):
        return str(file_id["product_name"])
    maker_name = FIELD_TYPES["manufacturer"].enum.get(maker, maker)
    return f"{maker_name}-{product}" if product is not None else str(maker_name or "")


PARSER = FitParser()
