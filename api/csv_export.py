"""CSV for people who open it in a spreadsheet: UTF-8 with a byte order mark (so Excel reads
Cyrillic right), RFC 4180 quoting and CRLF line ends, and no cell a spreadsheet would run as a
formula."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

BOM: Final = "\ufeff"
CONTENT_TYPE: Final = "text/csv; charset=utf-8; header=present"

# What a spreadsheet reads as a formula (OWASP "CSV injection")...
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
# ...except a plain number or phone number ("+7 (916) 123-45-67", "-5"), left as it is.
_PLAIN_NUMBER: Final = re.compile(r"[+-]?[0-9][0-9 ()\-.,]*")


def csv_cell(value: object) -> str:
    """A value as a cell: None as empty, and a leading quote on text a spreadsheet would run."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, delimiter: str = ","
) -> Iterator[str]:
    """The CSV text, BOM and header first, one chunk per row (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")

    def line(values: Sequence[object]) -> str:
        writer.writerow([csv_cell(value) for value in values])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield BOM + line(header)
    for row in rows:
        yield line(row)
