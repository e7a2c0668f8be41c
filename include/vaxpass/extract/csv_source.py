"""Reading a site's CSV export: encoding, header check, rows as header → text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vaxpass.domain import SOURCE_HEADERS
from vaxpass.errors import SourceError

# Headers a file must have; the rest may be absent (their fields are then empty).
REQUIRED_HEADERS = ("source_key", "full_name", "dob", "vaccine", "dose_number", "vaccination_date")
_ENCODINGS = ("utf-8-sig", "utf-16", "cp1258")


@dataclass(frozen=True)
class SourceRow:
    """One data row: its 1-based line number in the file (the header is line 1) and its cells by header."""

    row: int
    cells: dict[str, str]


def _decode(data: bytes, site: str, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise SourceError(site, name, "binary-file", "the file holds NUL bytes: not a CSV export")
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceError(site, name, "bad-encoding", "not UTF-8, UTF-16 or Windows-1258")


def read_csv_rows(path: Path, site: str, name: str | None = None) -> Iterator[SourceRow]:
    """Rows of a CSV export; raises SourceError naming the site and file (`name`, default the path's) when the
    file as a whole is unusable."""
    name = name or path.name
    text = _decode(path.read_bytes(), site, name)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise SourceError(site, name, "empty-file", "no header row")
    header = [h.strip() for h in header]
    missing = [SOURCE_HEADERS[f] for f in REQUIRED_HEADERS if SOURCE_HEADERS[f] not in header]
    if missing:
        raise SourceError(site, name, "missing-columns", "missing: " + ", ".join(missing))
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        padded = cells + [""] * (len(header) - len(cells))
        yield SourceRow(row=line, cells=dict(zip(header, padded[: len(header)], strict=True)))
