"""Reading a delimited text export (CSV, or Excel's tab-separated "Unicode text"): streamed row by row.

Row-level faults do not reject the file: the row is kept and quarantined with a reason code —
`column_count` (a truncated or shifted row), `embedded_newline` (a cell broken over lines), `formula_cell`,
`mixed_encoding`, `bad_encoding`, `control_characters`. Formula cells: a cell starting with "=" is never data
in a dose export, nor is "+"/"@" followed by a function call (`+HYPERLINK(`, `@SUM(`); a phone number such as
"+84…" is data. Such cells are never evaluated, only quarantined (CSV injection defence).
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vaxpass.extract.source import DeliveryError, Rows, SourceRow
from vaxpass.extract.textio import TextLines

FORMULA = re.compile(r"^\s*(=|[+@]\s*[A-Za-z_][\w.]*\s*\()")
csv.field_size_limit(min(sys.maxsize, 1 << 24))


def cell_problem(cells: list[str], text: str | None = None) -> str | None:
    """The reason a row's cells cannot be trusted, checked in order of severity; None when they can.
    `text`: the cells joined by "\x1f", when the caller has it already."""
    if text is None:
        text = "\x1f".join(cells)
    if "\n" in text or "\r" in text:
        return "embedded_newline"
    if "\x00" in text:
        return "control_characters"
    if "\ufffd" in text:
        return "bad_encoding"
    if ("=" in text or "+" in text or "@" in text) and any(FORMULA.match(c) for c in cells):
        return "formula_cell"
    return None


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_csv(path: Path, site: str, name: str | None = None) -> Rows:
    """The header (line 1) and a stream of rows as header → text; raises `DeliveryError` naming the site, the
    file (`name`, default the path's) and the line when the file as a whole is unusable."""
    name = name or path.name
    lines = TextLines(path, site, name)
    it = iter(lines)
    first = next(it, None)
    if first is None or not first.strip():
        raise DeliveryError(site, name, "empty-file", "no header row", row=1)
    reader = csv.reader(_chain(first, it), delimiter=_delimiter(first))
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise DeliveryError(site, name, "malformed-csv", str(exc)[:120], row=1) from exc
    header = [h or f"column_{i}" for i, h in enumerate(header, start=1)]
    return Rows(header, _rows(reader, header, lines, site, name))


def _rows(reader: Any, header: list[str], lines: TextLines, site: str, name: str) -> Iterator[SourceRow]:
    width = len(header)
    end = reader.line_num
    foreign = lines.foreign_lines
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            text = "\x1f".join(cells)
            if not text.strip():  # "\x1f" is whitespace too: a blank row
                continue
            problem = cell_problem(cells, text)
            if len(cells) != width:
                problem = "column_count"
                cells = cells + [""] * (width - len(cells)) if len(cells) < width else cells
            if problem is None and foreign and any(n in foreign for n in range(start, end + 1)):
                problem = "mixed_encoding"
            row = dict(zip(header, cells, strict=False))
            if len(cells) > width:
                row.update({f"~extra_{i}": c for i, c in enumerate(cells[width:], start=1)})
            yield SourceRow(start, row, problem, len(text))
    except csv.Error as exc:
        raise DeliveryError(site, name, "malformed-csv", str(exc)[:120], row=end + 1) from exc


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
