"""A store where one cycle ran for real (extraction from a CSV inbox, the Great Expectations suite, the
matcher) and one district batch is open, with a registry holding twins (two candidates for one record)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import PEOPLE, RegistryPerson, dose_row, make_registry, make_store, site, write_csv
from vaxpass.domain import SiteConfig
from vaxpass.extract import extract_site
from vaxpass.pipeline.validate import validate_site
from vaxpass.registry import SqlRegistry, match_valid_records
from vaxpass.review import open_batches
from vaxpass.store import migrate, session_scope
from vaxpass.store.models import Cycle, DoseRecord, Reviewer, Site

KEY = b"pseudonym-key-for-tests-only-123"
AT = datetime(2026, 11, 27, 9, tzinfo=UTC)
RUN_DATE = date(2026, 11, 27)
TWINS = [RegistryPerson(5, "001095000005", None, "Nguyễn Văn Bình", "1995-04-04", "M"),
         RegistryPerson(6, "001095000006", None, "Nguyễn Văn Bình", "1995-04-04", "M")]
ROWS = [
    # day and month swapped, old CMND: the registry's Trần Thị Đào (2) is the candidate, dob disagrees
    dose_row("dao", "Tran Thi Dao", "03/07/1990", "Nữ", "012345678"),
    # not in the registry at all
    dose_row("tam", "Lê Văn Tám", "01/01/1980", "Nam", "001080999999"),
    # a twin: two registry persons with this name and date of birth, neither with this ID
    dose_row("binh", "Nguyễn Văn Bình", "04/04/1995", "Nam", "001095000007"),
    # a clean first dose (certified before review), and the second dose with a mistyped date of birth
    dose_row("an1", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", date="01/08/2021"),
    dose_row("an2", "Nguyễn Văn An", "13/05/1990", "Nam", "001090000001", dose="2", date="01/10/2021"),
]


@dataclass
class ReviewStore:
    url: str
    registry: SqlRegistry
    batch_id: int
    ids: dict[str, int]  # source key → dose record id
    tmp: Path


def build_store(tmp: Path, url: str | None = None) -> ReviewStore:
    """The store on SQLite in `tmp`, or on the database at `url` (PostgreSQL)."""
    sites = [site(), site("HN-006-01", "006", "Đống Đa")]
    url = make_store(tmp, sites) if url is None else _make_store_at(url, sites)
    registry = SqlRegistry(make_registry(tmp / "registry.sqlite", [*PEOPLE, *TWINS]))
    write_csv(tmp / "data" / sites[0].source.path / "d1.csv", ROWS)
    extract_site(url, cycle_id="cycle-1", site=sites[0], data_dir=tmp / "data", landing_dir=tmp / "landing")
    validate_site(url, cycle_id="cycle-1", site_code=sites[0].code, run_date=RUN_DATE)
    match_valid_records(url, registry, cycle_id="cycle-1", key=KEY)
    with session_scope(url) as s:
        s.add_all([Reviewer(username="rv_001", district_code="001", display_name="rv"),
                   Reviewer(username="rv_006", district_code="006", display_name="rv")])
    batches = open_batches(url, cycle_id="cycle-1")
    with session_scope(url) as s:
        ids = {r.source_key: r.id for r in s.scalars(select(DoseRecord))}
    return ReviewStore(url, registry, batches[0].batch_id, ids, tmp)


def _make_store_at(url: str, sites: list[SiteConfig]) -> str:
    migrate(url)
    with session_scope(url) as s:
        for c in sites:
            s.add(Site(code=c.code, name=c.name, district_code=c.district_code, district_name=c.district_name,
                       head_of_facility=c.head_of_facility, source_kind="csv", source_path=c.source.path or "",
                       config_hash="x"))
        s.add(Cycle(id="cycle-1", run_date=RUN_DATE, run_after=datetime(2026, 11, 27, 1, tzinfo=UTC), dag_id="t",
                    status="running", stats={}))
    return url


@pytest.fixture
def store(tmp_path: Path) -> ReviewStore:
    return build_store(tmp_path)
