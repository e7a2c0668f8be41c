"""Reading an Excel workbook typed by a site (first sheet, or `options.sheet`): the values openpyxl's read-only
mode gives, streamed row by row (see `xlsx_sheet`). Formulas are never evaluated: a formula cell (`=HYPERLINK(…)`) quarantines its row
(`formula_cell`). Dates typed as dates come as ISO dates; numbers keep no float noise (1.0 → "1")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

from vaxpass.extract.csv_source import cell_problem
from vaxpass.extract.source import DeliveryError, Rows, SourceRow
from vaxpass.extract.xlsx_sheet import Workbook


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, ArrayFormula):  # its formula text: the row is quarantined as `formula_cell`
        return value.text or "="
    if isinstance(value, DataTableFormula):  # a what-if table's cell holds a formula with no text of its own
        return "=TABLE()"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def open_xlsx(path: Path, site: str, name: str, sheet: str | None = None) -> Rows:
    try:
        book = Workbook(path, sheet)
    except Exception as exc:  # a broken or disguised workbook fails in zipfile, the XML parser or openpyxl alike
        raise DeliveryError(site, name, "bad-xlsx", f"not a readable .xlsx workbook ({type(exc).__name__})",
                            row=None) from exc
    try:
        it = book.sheet().rows()
        header_values = next(it, None)
    except Exception as exc:
        book.close()
        raise DeliveryError(site, name, "bad-xlsx", f"unreadable sheet ({type(exc).__name__})", row=1) from exc
    if not header_values or not any(v is not None for v in header_values):
        book.close()
        raise DeliveryError(site, name, "empty-file", "no header row", row=1)
    while header_values and header_values[-1] is None:
        header_values = header_values[:-1]
    header = [cell_text(h).strip() or f"column_{i}" for i, h in enumerate(header_values, start=1)]
    return Rows(header, _rows(book, it, header, site, name))


def _rows(book: Any, it: Iterator[tuple[Any, ...]], header: list[str], site: str, name: str,
          ) -> Iterator[SourceRow]:
    width = len(header)
    number = 1
    try:
        for values in it:
            number += 1
            texts = [v if type(v) is str else cell_text(v) for v in values]  # most cells are text already
            if not any(t.strip() for t in texts):
                continue
            extra = [t for t in texts[width:] if t.strip()]
            problem = cell_problem(texts)
            if problem is None and extra:
                problem = "column_count"
            cells = dict(zip(header, texts[:width] + [""] * (width - len(texts)), strict=True))
            cells.update({f"~extra_{i}": t for i, t in enumerate(extra, start=1)})
            yield SourceRow(row=number, cells=cells, problem=problem)
    except Exception as exc:
        raise DeliveryError(site, name, "bad-xlsx", f"unreadable row ({type(exc).__name__})", row=number) from exc
    finally:
        book.close()
