"""Person resolution: one person across sites, the dose history in order, unmatched records tied by ID."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from tests.factories import make_registry, make_store, site
from tests.registry.test_match import KEY, _record
from vaxpass.registry import SqlRegistry, match_valid_records
from vaxpass.registry.history import dose_history, unmatched_groups
from vaxpass.review import apply_batch_decision, open_batches
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, MatchDecision, Reviewer


def _two_sites(tmp_path: Path) -> tuple[str, SqlRegistry]:
    url = make_store(tmp_path, [site(), site("HN-006-01", "006", "Đống Đa")])
    return url, SqlRegistry(make_registry(tmp_path / "registry.sqlite"))


def test_doses_from_two_sites_with_different_faults_make_one_ordered_history(tmp_path: Path) -> None:
    url, registry = _two_sites(tmp_path)
    with session_scope(url) as s:
        # site 2 gave dose 1, site 1 gave doses 2 and 3; the second site numbered its dose wrongly
        _record(s, 1, full_name="NGUYEN VAN AN", dob=date(1990, 5, 12), sex="M", national_id="001090000001",
                vaccination_date=date(2021, 9, 20), dose_number=2, vaccine_mp="EU/1/20/1528")
        _record(s, 2, full_name="Nguyễn Văn An", dob=date(1990, 12, 5), sex="M", national_id="001090000001",
                vaccination_date=date(2022, 2, 1), dose_number=2, vaccine_mp="EU/1/20/1528")
        _record(s, 3, full_name="Nguyễn An", dob=date(1990, 5, 12), sex="M", national_id=None,
                vaccination_date=date(2021, 8, 15), dose_number=1, vaccine_mp="EU/1/21/1529")
        s.get(DoseRecord, 3).site_code = "HN-006-01"
    match_valid_records(url, registry, cycle_id="cycle-1", key=KEY)
    with session_scope(url) as s:
        people = {r.id: r.person_id for r in s.scalars(select(DoseRecord))}
    assert people[1] == people[2] and people[1] is not None
    assert people[3] is None  # no ID and the middle name dropped: it waits for the district
    assert [(h.dose_record_id, h.position) for h in dose_history(url, people[1])] == [(1, 1), (2, 2)]
    with session_scope(url) as s:
        s.add(Reviewer(username="rv_006", district_code="006", display_name="rv"))
    batch = next(b for b in open_batches(url, cycle_id="cycle-1") if b.district_code == "006")
    apply_batch_decision(url, registry, batch_id=batch.batch_id, approved=True, decided_by="rv_006",
                         decided_at=datetime(2026, 11, 27, 9, tzinfo=UTC), key=KEY)
    history = dose_history(url, people[1])
    assert [(h.dose_record_id, h.position) for h in history] == [(3, 1), (1, 2), (2, 3)]
    assert [h.numbered_in_order for h in history] == [True, True, False]  # the last was numbered 2, is 3rd


def test_unmatched_records_with_the_same_id_are_one_unresolved_person(tmp_path: Path) -> None:
    url, registry = _two_sites(tmp_path)
    with session_scope(url) as s:
        _record(s, 1, full_name="Bùi Thị Mơ", dob=date(1970, 2, 2), sex="F", national_id="001170099999")
        _record(s, 2, full_name="Bui Thi Mo", dob=date(1970, 2, 2), sex="F", national_id="001170099999")
        _record(s, 3, full_name="Lê Văn Tám", dob=date(1980, 1, 1), sex="M", national_id="001080999999")
        s.get(DoseRecord, 2).site_code = "HN-006-01"
    match_valid_records(url, registry, cycle_id="cycle-1", key=KEY)
    groups = unmatched_groups(url)
    assert list(groups.values()) == [[1, 2]]
    with session_scope(url) as s:
        keys = [d.evidence["link_key"] for d in s.scalars(select(MatchDecision).order_by(MatchDecision.id))]
    assert keys[0] == keys[1] != keys[2]
    assert all("001170099999" not in k for k in keys)


def test_foreigners_are_one_person_across_sites(tmp_path: Path) -> None:
    url, registry = _two_sites(tmp_path)
    with session_scope(url) as s:
        for n, passport in ((1, "x1234567"), (2, "X1234567")):
            _record(s, n, full_name="John Smith", dob=date(1980, 1, 1), sex="M", nationality="US",
                    passport_no=passport, vaccination_date=date(2021, 10, n), dose_number=n)
        s.get(DoseRecord, 2).site_code = "HN-006-01"
    summary = match_valid_records(url, registry, cycle_id="cycle-1", key=KEY)
    assert summary.outcomes == {"FOREIGN": 2}
    with session_scope(url) as s:
        people = {r.person_id for r in s.scalars(select(DoseRecord))}
    assert len(people) == 1
    assert [h.dose_record_id for h in dose_history(url, people.pop())] == [1, 2]
