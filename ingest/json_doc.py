"""Reading a JSON upload in bounded memory (an ijson event scan, then its long lists streamed
in chunks), with its defects translated to ingest errors once."""

from __future__ import annotations

import io
import itertools
import re
from typing import Any, Iterator

import ijson

from ingest.errors import CorruptFile, UnsupportedFormat

#: The UTF-8 byte-order mark some Windows tools put before JSON and CSV text.
BOM = b"\xef\xbb\xbf"
MAX_DEPTH_NOTE = "brackets opened inside each other past the parser's depth limit"


def has_keys(head: bytes, *keys: str) -> bool:
    """True when every ``"key":`` appears in the first bytes of a JSON upload (for sniffing:
    a JSON head need not be complete, so it is searched, not parsed)."""
    return all(re.search(rb'"' + re.escape(k.encode()) + rb'"\s*:', head) for k in keys)


#: Deeper nesting than this is refused by the streaming reader (exports nest a few levels).
MAX_DEPTH = 512
JSONError = ijson.JSONError


def _stream(data: bytes) -> io.BytesIO:
    """``data`` as a stream past its byte-order mark (the buffer is shared, not copied)."""
    stream = io.BytesIO(data)
    stream.seek(len(BOM) if data.startswith(BOM) else 0)
    return stream


def scan_json(data: bytes, wanted: frozenset[str]) -> tuple[str, dict[str, tuple[str, Any]]]:
    """Check a whole JSON document in bounded memory, building none of it: (the top-level
    event, ``start_map`` or ``start_array`` or a scalar's, and the first event and value at
    each of the ``wanted`` dotted prefixes of depth 1 or 2 that occur, the last if repeated). Raises
    :class:`JSONError` for malformed JSON and :class:`RecursionError` past ``MAX_DEPTH``."""
    depth, top, path, seen = 0, "", [""] * 3, {}
    for event, value in ijson.basic_parse(_stream(data), use_float=True):
        if not top:
            top = event
        if event == "map_key":
            if depth <= 2:
                path[depth] = value
            continue
        if event in ("end_map", "end_array"):
            depth -= 1
            continue
        if 1 <= depth <= 2:
            prefix = ".".join(path[1:depth + 1])
            if prefix in wanted:  # the last, as json.loads keeps a repeated key's last value
                seen[prefix] = (event, value)
        if event in ("start_map", "start_array"):
            depth += 1
            if depth > MAX_DEPTH:
                raise RecursionError(f"JSON nested past {MAX_DEPTH} levels")
            if event == "start_array" and depth <= 2:
                path[depth] = "item"
    return top, seen


def json_items(data: bytes, prefix: str, size: int) -> Iterator[list[Any]]:
    """The values at ``prefix`` (ijson's dotted path, ``item`` for array members) of a
    document :func:`scan_json` has checked, ``size`` at a time."""
    items = ijson.items(_stream(data), prefix, use_float=True)
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def scan_document(data: bytes, filename: str, what: str,
                  wanted: frozenset[str]) -> tuple[str, dict[str, tuple[str, Any]]]:
    """:func:`scan_json` of an upload (UTF-8, BOM allowed), its defects as ingest errors: text
    that does not start like JSON is not this format; JSON that breaks off, is malformed or is
    nested past ``MAX_DEPTH`` is a damaged ``what`` file."""
    opening = data[:4096].removeprefix(BOM).lstrip()[:1]
    if opening not in (b"{", b"["):
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CorruptFile(f"{filename}: not UTF-8 text (byte {exc.start})") from exc
        raise UnsupportedFormat(f"{filename}: not a {what} JSON document")
    try:
        return scan_json(data, wanted)
    except RecursionError as exc:
        raise CorruptFile(f"{filename}: damaged {what} JSON: nested deeper than any export "
                          f"({MAX_DEPTH_NOTE})") from exc
    except JSONError as exc:
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as bad:
            raise CorruptFile(f"{filename}: not UTF-8 text (byte {bad.start})") from exc
        defect = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        cut = (" (it stops before its brackets close: cut short?)"
               if "premature EOF" in defect else "")
        raise CorruptFile(f"{filename}: damaged {what} JSON: {defect}{cut}") from exc
