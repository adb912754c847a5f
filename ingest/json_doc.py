"""Loading a JSON upload, with its defects translated to ingest errors once."""

from __future__ import annotations

import json
import re
from typing import Any

from ingest.errors import CorruptFile, UnsupportedFormat

#: The UTF-8 byte-order mark some Windows tools put before JSON and CSV text.
BOM = b"\xef\xbb\xbf"
MAX_DEPTH_NOTE = "brackets opened inside each other past the parser's depth limit"


def load_json(data: bytes, filename: str, what: str) -> Any:
    """The JSON document in ``data`` (UTF-8, BOM allowed). Text that does not start like JSON
    is not this format; JSON that breaks off or is malformed is a damaged ``what`` file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptFile(f"{filename}: not UTF-8 text (byte {exc.start})") from exc
    opening = text.lstrip()[:1]
    if opening not in ("{", "["):
        raise UnsupportedFormat(f"{filename}: not a {what} JSON document")
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise CorruptFile(f"{filename}: damaged {what} JSON: nested deeper than any export "
                          f"({MAX_DEPTH_NOTE})") from exc
    except json.JSONDecodeError as exc:
        cut = " (it stops before its brackets close: cut short?)" if _open_at_end(text) else ""
        raise CorruptFile(f"{filename}: damaged {what} JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}{cut}") from exc


def _open_at_end(text: str) -> bool:
    """True when brackets opened outside strings are still open at the end of ``text``."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = char == "\\", char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth > 0 or in_string


def has_keys(head: bytes, *keys: str) -> bool:
    """True when every ``"key":`` appears in the first bytes of a JSON upload (for sniffing:
    a JSON head need not be complete, so it is searched, not parsed)."""
    return all(re.search(rb'"' + re.escape(k.encode()) + rb'"\s*:', head) for k in keys)
