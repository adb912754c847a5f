"""ActiGraph accelerometer exports (format ``actigraph``): ``.agd`` files and ActiLife CSVs.

* ``.agd``: the SQLite database ActiLife writes, opened without trusting it
  (:mod:`ingest.actigraph_agd`);
* ActiLife epoch CSV: 10-line preamble, with or without a header row
  (:mod:`ingest.actigraph_csv`).

Both become one recording of epochs on the device clock, then one batch of the minute grid
(:mod:`ingest.actigraph_epochs`: per-epoch steps; inclinometer sitting + lying as sedentary
seconds and "off" as not worn, only for a device worn at the waist/hip). Axis counts, lux,
heart rate and the vector magnitude are not used. A CSV converted from an ``.agd`` by other
software (``timestamp,axis1,…`` with no preamble) is refused: its "Z" times cannot be trusted.
"""

from __future__ import annotations

from typing import BinaryIO

from ingest.actigraph_agd import SQLITE_MAGIC, read_agd
from ingest.actigraph_csv import derived_message, is_actilife, read_actilife_csv, refuses_derived
from ingest.actigraph_epochs import add_recording
from ingest.base import ParseContext, ParseResult
from ingest.csv_table import decode, head_lines
from ingest.errors import UnsupportedFormat


class ActiGraphParser:
    """ActiGraph ``.agd`` and ActiLife CSV epoch files (see the module docstring)."""

    name = "actigraph"

    def sniff(self, head: bytes, filename: str) -> int:
        if head.startswith(SQLITE_MAGIC):
            return 60
        first = head_lines(head, 1)
        if is_actilife([",".join(first[0])] if first else []):
            return 90
        if first and refuses_derived(first[0]):
            return 20
        # the name is stronger evidence than a zip of no known layout (apple-health: 20)
        return 25 if filename.lower().endswith(".agd") else 0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> ParseResult:
        data = stream.read()
        filename = ctx.filename or "upload"
        result = ParseResult(self.name)
        if data.startswith(SQLITE_MAGIC) or filename.lower().endswith(".agd"):
            recording = read_agd(data, filename, result)
        else:
            text = decode(data, filename)
            first = head_lines(data, 1)
            if first and refuses_derived(first[0]):
                raise UnsupportedFormat(derived_message(filename))
            if not is_actilife(text.splitlines()[:1]):
                raise UnsupportedFormat(f"{filename}: neither an ActiGraph .agd file nor an "
                                        "ActiLife CSV (no 'Data File Created By ActiGraph' "
                                        "preamble on its first line)")
            recording = read_actilife_csv(text, filename, ctx.date_order, result)
        if len(recording.local_s):
            add_recording(recording, ctx, filename, result)
        return result


PARSER = ActiGraphParser()
