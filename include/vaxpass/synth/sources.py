"""The other ways synthetic sites deliver: an Excel workbook typed by nurses, the site's own SQLite database,
and a FHIR feed as a folder of Bundle pages. Every writer takes rows chunk by chunk and writes deterministic
bytes (a workbook's zip timestamps and document dates are fixed), so the same seed gives the same files."""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from vaxpass.domain import SOURCE_HEADERS
from vaxpass.synth.fhir import bundle, resources

Row = tuple[str, ...]
FIXED_TIME = datetime(2022, 7, 1)
SQL_TABLE = "tiem_chung"
SQL_COLUMNS = {"source_key": "ma_mui_tiem", "full_name": "ho_ten", "dob": "ngay_sinh", "sex": "gioi_tinh",
               "national_id": "so_cccd", "phone": "so_dien_thoai", "vaccine": "ten_vac_xin",
               "dose_number": "mui_tiem", "vaccination_date": "ngay_tiem", "lot": "so_lo",
               "nationality": "quoc_tich", "passport_no": "so_ho_chieu"}
SQL_WATERMARK = "cap_nhat_luc"
FHIR_PAGE = 500


def _date_cell(text: str) -> Any:
    """A dd/mm/yyyy a nurse typed becomes a date cell (Excel's own parse); anything else stays text."""
    try:
        return datetime.strptime(text, "%d/%m/%Y") if len(text) == 10 else text
    except ValueError:
        return text


class XlsxSheet:
    """One worksheet, written streaming (openpyxl write-only); dates of vaccination as date cells."""

    def __init__(self, path: Path) -> None:
        import openpyxl

        self.path = path
        self.book = openpyxl.Workbook(write_only=True)
        self.book.properties.created = self.book.properties.modified = FIXED_TIME
        self.ws = self.book.create_sheet("Danh sách tiêm")
        self.ws.append(list(SOURCE_HEADERS.values()))

    def add(self, rows: list[Row]) -> None:
        for r in rows:
            cells: list[Any] = list(r)
            cells[8] = _date_cell(r[8])
            cells[7] = int(r[7]) if r[7].isdigit() else r[7]
            self.ws.append(cells)

    def close(self) -> None:
        self.book.save(self.path)
        _fix_zip_times(self.path)


def _fix_zip_times(path: Path) -> None:
    """Fixed zip entry times and document dates (openpyxl stamps the save time into both)."""
    with zipfile.ZipFile(path) as src:
        items = [(info, src.read(info)) for info in src.infolist()]
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    items = [(info, re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
              if info.filename == "docProps/core.xml" else data) for info, data in items]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in items:
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, data)


class SiteDatabase:
    """The site's own database (a SQLite file): table `tiem_chung` with ASCII column names and a watermark."""

    def __init__(self, path: Path, updated_at: str) -> None:
        path.unlink(missing_ok=True)
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=OFF")
        cols = ", ".join(f"{c} TEXT" for c in SQL_COLUMNS.values())
        self.conn.execute(f"CREATE TABLE {SQL_TABLE} ({cols}, {SQL_WATERMARK} TEXT NOT NULL, "
                          f"PRIMARY KEY ({SQL_COLUMNS['source_key']}))")
        self.conn.execute(f"CREATE INDEX {SQL_TABLE}_wm ON {SQL_TABLE} ({SQL_WATERMARK}, "
                          f"{SQL_COLUMNS['source_key']})")
        self.conn.execute("BEGIN")
        self.updated_at = updated_at

    def add(self, rows: list[Row]) -> None:
        marks = ", ".join("?" * (len(SQL_COLUMNS) + 1))
        self.conn.executemany(f"INSERT INTO {SQL_TABLE} VALUES ({marks})", (r + (self.updated_at,) for r in rows))

    def close(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.close()


class FhirFeed:
    """A folder of searchset Bundle pages (`page-00001.json`, …), as an immunisation platform would serve."""

    def __init__(self, folder: Path, last_updated: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.last_updated = folder, last_updated
        self.pending: list[Row] = []
        self.pages = 0

    def _flush(self, rows: list[Row]) -> None:
        self.pages += 1
        doc = bundle([resources(r, self.last_updated) for r in rows])
        text = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1)
        (self.folder / f"page-{self.pages:05d}.json").write_text(text + "\n", encoding="utf-8")

    def add(self, rows: list[Row]) -> None:
        self.pending.extend(rows)
        while len(self.pending) >= FHIR_PAGE:
            self._flush(self.pending[:FHIR_PAGE])
            del self.pending[:FHIR_PAGE]

    def close(self) -> None:
        if self.pending or not self.pages:
            self._flush(self.pending)


def site_kind(index: int) -> str:
    """The mix of source kinds: the first three sites are an inbox (a CSV export plus a typed workbook), a SQL
    database and a FHIR feed, so even the smallest data set has every kind; beyond them most sites send CSV."""
    if index < 3:
        return ("inbox", "sql", "fhir")[index]
    return {3: "xlsx", 5: "sql"}.get(index % 6) or ("fhir" if index % 12 == 4 else "csv")


def site_source(index: int, code: str) -> Any:
    from vaxpass.domain import SourceConfig

    kind = site_kind(index)
    if kind == "sql":
        return SourceConfig(kind="sql", path=f"sites/{code}.sqlite", column_map=dict(SQL_COLUMNS),
                            options={"table": SQL_TABLE, "watermark_column": SQL_WATERMARK})
    if kind == "fhir":
        return SourceConfig(kind="fhir", path=f"feeds/{code}")
    return SourceConfig(kind=kind, path=f"inbox/{code}")
