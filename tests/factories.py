"""Small, explicit test data: a site with a CSV inbox, a registry with a few persons, an ops store."""

from __future__ import annotations

import csv
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from vaxpass.domain import SOURCE_HEADERS, SiteConfig, SourceConfig
from vaxpass.store import migrate, session_scope
from vaxpass.store.models import Cycle, Site

HEADERS = list(SOURCE_HEADERS.values())


@dataclass(frozen=True)
class RegistryPerson:
    registry_id: int
    cccd: str
    cmnd: str | None
    full_name: str
    dob: str
    sex: str
    district_code: str = "001"


PEOPLE = [
    RegistryPerson(1, "001090000001", None, "Nguyễn Văn An", "1990-05-12", "M"),
    RegistryPerson(2, "001190000002", "012345678", "Trần Thị Đào", "1990-03-07", "F"),
    RegistryPerson(3, "001085000003", None, "Lê Hoàng Hòa", "1985-11-30", "M"),
    RegistryPerson(4, "079301000004", None, "Phạm Thu Thủy", "2001-02-14", "F", "006"),
]


def make_registry(path: Path, people: list[RegistryPerson] = PEOPLE) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE persons (registry_id INTEGER PRIMARY KEY, cccd TEXT NOT NULL UNIQUE, cmnd TEXT UNIQUE,"
                " full_name TEXT NOT NULL, family_name TEXT, middle_name TEXT, given_name TEXT, dob TEXT NOT NULL,"
                " sex TEXT NOT NULL, province_code TEXT NOT NULL, district_code TEXT NOT NULL)")
    con.executemany("INSERT INTO persons (registry_id, cccd, cmnd, full_name, dob, sex, province_code, district_code)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(p.registry_id, p.cccd, p.cmnd, p.full_name, p.dob, p.sex, p.cccd[:3], p.district_code)
                     for p in people])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def dose_row(key: str, name: str, dob: str, sex: str, national_id: str, *, vaccine: str = "AstraZeneca",
             dose: str = "1", date: str = "15/08/2021", nationality: str = "VN", passport: str = "",
             phone: str = "0912345678", lot: str = "ABV1234") -> dict[str, str]:
    values = [key, name, dob, sex, national_id, phone, vaccine, dose, date, lot, nationality, passport]
    return dict(zip(HEADERS, values, strict=True))


def write_csv(path: Path, rows: list[dict[str, str]], headers: list[str] = HEADERS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def site(code: str = "HN-001-01", district: str = "001", name: str = "Ba Đình") -> SiteConfig:
    return SiteConfig(code=code, name=f"Trạm Y tế {code}", district_code=district, district_name=name,
                      head_of_facility="Ngô Minh Tâm", source=SourceConfig(kind="csv", path=f"inbox/{code}"))


def make_store(tmp: Path, sites: list[SiteConfig], cycle_id: str = "cycle-1", url: str | None = None) -> str:
    """An ops store with the sites and a cycle: a SQLite file in `tmp`, or the (empty) database at `url`."""
    from datetime import UTC, date, datetime

    url = url or f"sqlite:///{tmp / 'ops.sqlite'}"
    migrate(url)
    with session_scope(url) as session:
        for s in sites:
            session.merge(Site(code=s.code, name=s.name, district_code=s.district_code,
                               district_name=s.district_name, head_of_facility=s.head_of_facility,
                               source_kind="csv", source_path=s.source.path, config_hash="x"))
        session.merge(Cycle(id=cycle_id, run_date=date(2026, 11, 27),
                            run_after=datetime(2026, 11, 27, 1, tzinfo=UTC), dag_id="t", status="running",
                            stats={}))
    return url
