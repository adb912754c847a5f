"""A small FIT record reader: headers, definition/data messages, compressed timestamps, CRC.

Why our own: the candidate decoders either decode every field of every message in Python
(fitparse, fitdecode, garmin-fit-sdk: too slow for the ingest target, see bench/results-fit.md)
or stop with nothing on the first defect (fitfast), while a file damaged at its end must keep
what was decoded. This reader compiles one :class:`struct.Struct` per definition message that
unpacks only the fields the caller asked for and skips the rest as pad bytes.

Defects never raise: the reader stops and records :attr:`FitReader.damage` (where and what),
or appends to :attr:`FitReader.crc_errors`; the caller decides what a defect means.
Field values are raw (no scale/offset, no sub-fields); the FIT "invalid" sentinel is dropped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator, Mapping

#: Global message number -> {field number: name} for the fields a caller wants decoded.
Wanted = Mapping[int, Mapping[int, str]]
TIMESTAMP = 253
#: FIT base type number -> (struct code, size, invalid sentinel); string is handled apart.
_BASE = {0: ("B", 1, 0xFF), 1: ("b", 1, 0x7F), 2: ("B", 1, 0xFF), 3: ("h", 2, 0x7FFF),
         4: ("H", 2, 0xFFFF), 5: ("i", 4, 0x7FFFFFFF), 6: ("I", 4, 0xFFFFFFFF),
         8: ("f", 4, None), 9: ("d", 8, None), 10: ("B", 1, 0), 11: ("H", 2, 0),
         12: ("I", 4, 0), 13: ("B", 1, 0xFF), 14: ("q", 8, 0x7FFFFFFFFFFFFFFF),
         15: ("Q", 8, 0xFFFFFFFFFFFFFFFF), 16: ("Q", 8, 0)}
_STRING = 7


def _crc_table() -> tuple[int, ...]:
    """CRC-16/ARC (polynomial 0xA001 reflected), as the FIT protocol specifies."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def fit_crc(data: bytes | memoryview, crc: int = 0) -> int:
    """FIT CRC of ``data``, continuing from ``crc``."""
    table = _CRC_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


@dataclass(frozen=True)
class Header:
    """One FIT file header (a chained file has several)."""

    size: int
    data_size: int

    @classmethod
    def read(cls, data: bytes, pos: int) -> Header | None:
        """The header at ``pos``, or None when the bytes there are not a FIT header."""
        if len(data) - pos < 12 or data[pos] not in (12, 14) or data[pos + 8:pos + 12] != b".FIT":
            return None
        size = data[pos]
        if size == 14 and len(data) - pos < 14:
            return None
        if size == 14 and data[pos + 12:pos + 14] not in (b"\0\0", _le16(fit_crc(data[pos:pos + 12]))):
            return None
        return cls(size, struct.unpack_from("<I", data, pos + 4)[0])


def _le16(value: int) -> bytes:
    return struct.pack("<H", value)


@dataclass(frozen=True)
class Definition:
    """A compiled definition message: how to unpack (and skip) one local message type."""

    global_num: int
    size: int
    unpack: Any  # bound struct.Struct.unpack_from
    names: tuple[str, ...]
    invalid: tuple[Any, ...]
    timestamp_at: int  # index of field 253 in the unpacked tuple, or -1
    odd_fields: tuple[str, ...]  # wanted fields skipped because their size fits no base type


@lru_cache(maxsize=1024)
def compile_definition(global_num: int, big_endian: bool, fields: bytes,
                       dev_size: int, wanted: tuple[tuple[int, str], ...]) -> Definition:
    """Compile field triples (number, size, base type) into one Struct for the wanted ones.

    Field 253 (timestamp) is always decoded, since compressed timestamps count from it."""
    names_by_num = dict(wanted)
    names_by_num.setdefault(TIMESTAMP, "timestamp")
    codes: list[str] = [">" if big_endian else "<"]
    names: list[str] = []
    invalid: list[Any] = []
    odd: list[str] = []
    for i in range(0, len(fields), 3):
        num, size, base = fields[i], fields[i + 1], fields[i + 2] & 0x1F
        name = names_by_num.get(num)
        code = _field_code(size, base) if name else None
        if code is None or name is None:
            codes.append(f"{size}x")
            if name:
                odd.append(name)
            continue
        codes.append(code)
        names.append(name)
        invalid.append(None if base == _STRING else _BASE[base][2])
    codes.append(f"{dev_size}x")
    layout = struct.Struct("".join(codes))
    stamp = names.index("timestamp") if "timestamp" in names else -1
    return Definition(global_num, layout.size, layout.unpack_from, tuple(names), tuple(invalid),
                      stamp, tuple(odd))


def _field_code(size: int, base: int) -> str | None:
    """Struct code of a scalar field, or None when its declared size fits no base type."""
    if base == _STRING:
        return f"{size}s"
    spec = _BASE.get(base)
    return spec[0] if spec and spec[1] == size else None


class FitReader:
    """Decode the wanted fields of every FIT file chained in ``data``.

    Iterate :meth:`messages` for ``(global message number, {field name: raw value})`` of the
    wanted messages; afterwards ``count`` is the number of data messages of any kind, ``files``
    the number of chained files, ``damage`` the first structural defect (None if none),
    ``crc_errors`` the files whose CRC did not match, ``odd_fields`` the wanted fields skipped
    for a size that fits no base type."""

    def __init__(self, data: bytes, wanted: Wanted) -> None:
        self.data = data
        self.wanted = {g: tuple(sorted(f.items())) for g, f in wanted.items()}
        self.count = 0
        self.files = 0
        self.damage: str | None = None
        self.crc_errors: list[str] = []
        self.odd_fields: set[str] = set()

    def messages(self) -> Iterator[tuple[int, dict[str, Any]]]:
        pos = 0
        if not self.data:
            self.damage = "empty file (0 bytes)"
        while pos < len(self.data) and self.damage is None:
            header = Header.read(self.data, pos)
            if header is None:
                self.damage = f"no FIT header at byte {pos}"
                return
            end = self._data_end(pos, header)
            yield from self._records(pos + header.size, end)
            if self.damage is None:
                self._check_crc(pos, end)
                self.files += 1
            pos = end + 2

    def _data_end(self, pos: int, header: Header) -> int:
        """Where the records of the file at ``pos`` end (its CRC follows)."""
        end = pos + header.size + header.data_size
        if header.data_size == 0 and len(self.data) - pos > header.size + 2:
            # A recorder that crashed never writes data_size: scan to the end of the upload.
            self.damage = "header data_size is 0 (file never finalised); read to end of file"
            return len(self.data) - 2
        return end

    def _check_crc(self, start: int, end: int) -> None:
        if end + 2 > len(self.data):
            self.damage = f"file ends at byte {len(self.data)} before the CRC at byte {end}"
            return
        read = struct.unpack_from("<H", self.data, end)[0]
        computed = fit_crc(memoryview(self.data)[start:end])
        if read != computed:
            self.crc_errors.append(f"file at byte {start}: CRC read 0x{read:04X}, "
                                   f"computed 0x{computed:04X}")

    def _records(self, pos: int, end: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """Decode records in ``[pos, end)``; definitions and timestamps are per chained file."""
        data, last_ts = self.data, 0
        defs: dict[int, Definition] = {}
        limit = min(end, len(data))
        while pos < limit:
            head = data[pos]
            if head & 0x40 and not head & 0x80:
                pos = self._define(pos, limit, defs)
                if pos < 0:
                    return
                continue
            local = (head >> 5) & 0x03 if head & 0x80 else head & 0x0F
            d = defs.get(local)
            if d is None:
                self.damage = f"data message for undefined local message {local} at byte {pos}"
                return
            if pos + 1 + d.size > limit:
                break
            values = d.unpack(data, pos + 1)
            pos += 1 + d.size
            self.count += 1
            if head & 0x80:  # compressed timestamp header: 5-bit offset from the last timestamp
                last_ts += ((head & 0x1F) - last_ts) & 0x1F
            elif d.timestamp_at >= 0 and values[d.timestamp_at] != 0xFFFFFFFF:
                last_ts = values[d.timestamp_at]
            if d.global_num in self.wanted:
                msg = _as_dict(d, values)
                if head & 0x80:
                    msg["timestamp"] = last_ts
                yield d.global_num, msg
        if pos < end:
            self.damage = (f"file ends at byte {len(data)}, inside its records (to byte {end})"
                           if end > len(data) else f"record at byte {pos} overruns the data size")

    def _define(self, pos: int, limit: int, defs: dict[int, Definition]) -> int:
        """Read the definition message at ``pos`` into ``defs``; the next position, or -1."""
        data = self.data
        if pos + 6 > limit:
            self.damage = f"definition message cut off at byte {pos}"
            return -1
        big, global_num, n = data[pos + 2] == 1, *struct.unpack_from(
            ">HB" if data[pos + 2] == 1 else "<HB", data, pos + 3)
        fields_end = pos + 6 + 3 * n
        dev_size, after = 0, fields_end
        if data[pos] & 0x20 and fields_end < limit:  # developer fields: skip their bytes
            ndev = data[fields_end]
            after = fields_end + 1 + 3 * ndev
            dev_size = sum(data[fields_end + 2:after:3])
        if after > limit:
            self.damage = f"definition message cut off at byte {pos}"
            return -1
        d = compile_definition(global_num, big, bytes(data[pos + 6:fields_end]), dev_size,
                               self.wanted.get(global_num, ()))
        self.odd_fields.update(d.odd_fields)
        defs[data[pos] & 0x0F] = d
        return after


def _as_dict(d: Definition, values: tuple[Any, ...]) -> dict[str, Any]:
    """Field name -> raw value, leaving out FIT invalid sentinels (and NaN floats)."""
    out = {}
    for name, value, bad in zip(d.names, values, d.invalid):
        if isinstance(value, bytes):
            value = value.split(b"\0", 1)[0].decode("utf-8", "replace")
            if not value:
                continue
        elif value == bad or value != value:
            continue
        out[name] = value
    return out
