"""The iPhone's ``export.zip``: find the one Apple Health XML inside and stream it.

Nothing is extracted to disk and no member name is ever used as a path: members are read
from the archive by their directory entry, and only the export XML is decompressed (its
first bytes, for the other ``.xml`` members, to find it). The export may have any name
(``apple_health_export/export.xml``, localized ``Export.xml``, ``exportar.xml``,
``导出.xml`` ...): it is the ``.xml`` member whose root is ``HealthData``.

Bounds, checked on the directory before anything is decompressed (``zipfile`` never gives
more bytes than a member declares, and a member that inflates past its declared size fails
its CRC): at most :data:`MAX_TOTAL_BYTES` uncompressed in all, and no member above 1 MiB
inflating more than :data:`MAX_RATIO` times (a real ``export.xml`` deflates about 10-30x; a
zip bomb, thousands). An archive with member names that leave it (``../``, absolute paths)
is refused: an iPhone never writes one.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import BinaryIO

from ingest.errors import AmbiguousFormat, CorruptFile, TooLarge, UnsupportedFormat

HEAD_BYTES = 64 * 1024
MAX_TOTAL_BYTES = 8 << 30
MAX_RATIO = 100
_RATIO_FROM_BYTES = 1 << 20
EXPORT_FOLDER = b"apple_health_export/"


def is_zip(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def sniff_zip(head: bytes) -> int:
    """90 for a zip whose first entries name the iPhone's export folder, else 20: the only
    zip format we read, and parsing says plainly when the export is not inside."""
    return 90 if EXPORT_FOLDER in head else 20


@contextmanager
def open_export(stream: BinaryIO, filename: str, is_export: Callable[[bytes], bool]
                ) -> Iterator[tuple[str, BinaryIO]]:
    """(member name, decompressing reader) of the archive's Apple Health XML.

    Raises CorruptFile for a damaged archive (also when damage shows while reading),
    TooLarge past the bounds, UnsupportedFormat when no member is an Apple Health export,
    AmbiguousFormat when several are."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise CorruptFile(f"{filename}: damaged or cut-short zip ({exc})") from exc
    with archive:
        infos = archive.infolist()
        _check(infos, filename)
        member = _find_export(archive, infos, filename, is_export)
        try:
            with archive.open(member) as xml:
                yield member.filename, xml  # type: ignore[misc]
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise CorruptFile(f"{filename}: {member.filename} is damaged inside the zip "
                              f"({exc})") from exc


def _check(infos: list[zipfile.ZipInfo], filename: str) -> None:
    for info in infos:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (
                len(info.filename) > 1 and info.filename[1] == ":"):
            raise UnsupportedFormat(f"{filename}: zip member {info.filename!r} names a path "
                                    "outside the archive; an iPhone export never does: refused")
        if (info.file_size > _RATIO_FROM_BYTES
                and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise TooLarge(f"{filename}: zip member {info.filename!r} inflates "
                           f"{info.file_size / max(info.compress_size, 1):,.0f} times "
                           f"(limit {MAX_RATIO}); refused as a zip bomb")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise TooLarge(f"{filename}: the zip holds {total:,} bytes uncompressed, above the "
                       f"{MAX_TOTAL_BYTES:,}-byte limit")


def _find_export(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], filename: str,
                 is_export: Callable[[bytes], bool]) -> zipfile.ZipInfo:
    found = [info for info in infos
             if info.filename.casefold().endswith(".xml") and not info.is_dir()
             and is_export(_head(archive, info, filename))]
    if not found:
        raise UnsupportedFormat(f"{filename}: a zip without an Apple Health export inside "
                                "(no .xml member whose root is HealthData)")
    if len(found) > 1:
        names = ", ".join(info.filename for info in found)
        raise AmbiguousFormat(f"{filename}: the zip holds several Apple Health exports "
                              f"({names}); upload them one at a time")
    return found[0]


def _head(archive: zipfile.ZipFile, info: zipfile.ZipInfo, filename: str) -> bytes:
    try:
        with archive.open(info) as member:
            return member.read(HEAD_BYTES)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CorruptFile(f"{filename}: {info.filename} is damaged inside the zip "
                          f"({exc})") from exc
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, unknown compression
        raise UnsupportedFormat(f"{filename}: cannot open {info.filename} ({exc})") from exc
