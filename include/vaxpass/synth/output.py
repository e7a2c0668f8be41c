"""The files of a synthetic data set, written a chunk at a time so memory stays bounded at any size.

- `registry.sqlite`: the population registry (CSDLQG về dân cư), table `persons`
- each site's delivery, by its source kind: `inbox/<site code>/doses_<YYYYMMDD>.csv` (Vietnamese headers,
  dd/mm/yyyy dates) and/or `.xlsx`, `sites/<site code>.sqlite` (its own database), `feeds/<site code>/` (FHIR)
- `ground_truth.csv`: who each dose record really is and which faults it carries
"""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from vaxpass.domain import SOURCE_HEADERS, SiteConfig
from vaxpass.synth.population import REGISTRY, PersonChunk
from vaxpass.synth.records import CsvRow
from vaxpass.synth.sources import FhirFeed, SiteDatabase, XlsxSheet

REGISTRY_DDL = """
CREATE TABLE persons (
    registry_id   INTEGER PRIMARY KEY,
    cccd          TEXT NOT NULL UNIQUE,
    cmnd          TEXT NULL UNIQUE,
    full_name     TEXT NOT NULL,
    family_name   TEXT,
    middle_name   TEXT,
    given_name    TEXT,
    dob           TEXT NOT NULL,  -- YYYY-MM-DD
    sex           TEXT NOT NULL,  -- 'M' | 'F'
    province_code TEXT NOT NULL,
    district_code TEXT NOT NULL
)"""
# cmnd is indexed by its UNIQUE constraint; the first six CCCD digits (province, century+sex, year) block matching
REGISTRY_INDEXES = ("CREATE INDEX persons_cccd_prefix ON persons (substr(cccd, 1, 6))",)
GROUND_TRUTH_HEADER = ("site_code", "source_key", "person_key", "registry_id", "in_registry", "foreign",
                       "dose_number_true", "faults")


def csv_block(rows: list[CsvRow]) -> str:
    """The rows as CSV text ending in a newline. A plain join is three times faster than `csv.writer`; it is
    used when no field needs quoting (checked on the whole block), which holds for everything synth writes."""
    if not rows:
        return ""
    text = "\n".join([",".join(r) for r in rows]) + "\n"
    if text.count(",") == len(rows) * (len(rows[0]) - 1) and text.count("\n") == len(rows) \
            and '"' not in text and "\r" not in text:
        return text
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


class _Closing:
    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close(ok=et is None)

    def close(self, ok: bool = True) -> None:
        raise NotImplementedError


class RegistryWriter(_Closing):
    """Bulk load into SQLite: one transaction, no journal, no fsync (the file is rebuilt from scratch anyway)."""

    def __init__(self, path: Path, district_codes: list[str], province_codes: tuple[str, ...]) -> None:
        path.unlink(missing_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=OFF")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA cache_size=-131072")
        self._conn.execute(REGISTRY_DDL)
        self._conn.execute("BEGIN")
        self._districts = district_codes
        self._provinces = province_codes

    def add(self, pc: PersonChunk) -> None:
        regs = [i for i, k in enumerate(pc.kind.tolist()) if k == REGISTRY]
        rid, sex, prov, dpos = (a.tolist() for a in (pc.registry_id, pc.sex, pc.province, pc.district_pos))
        dob = pc.dob.astype(str).tolist()
        self._conn.executemany(
            "INSERT INTO persons VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            ((rid[i], pc.cccd[i], pc.cmnd[i], pc.full_name[i], pc.family[i], pc.middle[i], pc.given[i], dob[i],
              "F" if sex[i] else "M", self._provinces[prov[i]], self._districts[dpos[i]]) for i in regs),
        )

    def close(self, ok: bool = True) -> None:
        if ok:
            for ddl in REGISTRY_INDEXES:
                self._conn.execute(ddl)
            self._conn.execute("COMMIT")
        self._conn.close()


class SiteFiles(_Closing):
    """Each site's delivery, rows appended chunk by chunk: a CSV in `inbox/<code>/` (an `inbox` site also gets a
    typed workbook holding every tenth row), a workbook (`xlsx`), a SQLite database in `sites/` (`sql`) or a
    folder of FHIR Bundle pages in `feeds/<code>/` (`fhir`)."""

    def __init__(self, out_dir: Path, sites: list[SiteConfig], export_date: date) -> None:
        for folder in ("inbox", "sites", "feeds"):
            if (out_dir / folder).exists():
                shutil.rmtree(out_dir / folder)
        stamp = f"{export_date:%Y-%m-%d}T18:00:00"
        self._kinds = [s.source.kind for s in sites]
        self._csv: dict[int, Path] = {}
        self._other: dict[int, Any] = {}
        for i, s in enumerate(sites):
            where = out_dir / s.source.path
            if s.source.kind in ("csv", "inbox"):
                path = where / f"doses_{export_date:%Y%m%d}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("w", encoding="utf-8", newline="") as f:
                    csv.writer(f, lineterminator="\n").writerow(SOURCE_HEADERS.values())
                self._csv[i] = path
            if s.source.kind in ("xlsx", "inbox"):
                where.mkdir(parents=True, exist_ok=True)
                name = "bo_sung" if s.source.kind == "inbox" else "doses"
                self._other[i] = XlsxSheet(where / f"{name}_{export_date:%Y%m%d}.xlsx")
            elif s.source.kind == "sql":
                where.parent.mkdir(parents=True, exist_ok=True)
                self._other[i] = SiteDatabase(where, stamp.replace("T", " "))
            elif s.source.kind == "fhir":
                self._other[i] = FhirFeed(where, stamp + "Z")

    def add(self, rows_by_site: dict[int, list[CsvRow]]) -> None:
        for s in sorted(rows_by_site):
            rows = rows_by_site[s]
            if self._kinds[s] == "inbox":  # every tenth row was typed into the workbook instead
                sheet = [r for r in rows if r[0].endswith("0")]
                rows = [r for r in rows if not r[0].endswith("0")]
                self._other[s].add(sheet)
            if s in self._csv:
                with self._csv[s].open("a", encoding="utf-8", newline="") as f:
                    f.write(csv_block(rows))
            else:
                self._other[s].add(rows)

    def close(self, ok: bool = True) -> None:
        for writer in self._other.values():
            writer.close()


class GroundTruthWriter(_Closing):
    def __init__(self, path: Path) -> None:
        self._f = path.open("w", encoding="utf-8", newline="")
        self._f.write(csv_block([GROUND_TRUTH_HEADER]))

    def add(self, rows: list[CsvRow]) -> None:
        self._f.write(csv_block(rows))

    def close(self, ok: bool = True) -> None:
        self._f.close()
