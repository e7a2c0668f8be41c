"""District batches: grouping by district, idempotent opening, approve / reject / expire."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from tests.factories import make_registry, make_store, site
from tests.registry.test_match import KEY, _record
from vaxpass.registry import SqlRegistry, match_valid_records
from vaxpass.review import apply_batch_decision, open_batches, release_batch
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, Reviewer, ReviewItem

AT = datetime(2026, 11, 27, 9, tzinfo=UTC)


def _flagged_store(tmp_path: Path) -> tuple[str, SqlRegistry]:
    url = make_store(tmp_path, [site(), site("HN-006-01", "006", "Đống Đa")])
    registry = SqlRegistry(make_registry(tmp_path / "registry.sqlite"))
    with session_scope(url) as s:
        s.add(Reviewer(username="rv_001", district_code="001", display_name="rv"))
        # no ID, no diacritics and day/month swapped: a review with the right candidate first
        _record(s, 1, full_name="Tran Thi Dao", dob=date(1990, 7, 3), sex="F", national_id=None)
        _record(s, 2, full_name="Lê Văn Tám", dob=date(1980, 1, 1), sex="M", national_id="001080999999")
    match_valid_records(url, registry, cycle_id="cycle-1", key=KEY)
    return url, registry


def test_open_batches_groups_by_district_and_is_idempotent(tmp_path: Path) -> None:
    url, _ = _flagged_store(tmp_path)
    first = open_batches(url, cycle_id="cycle-1")
    assert [(b.district_code, b.records, b.reviewers) for b in first] == [("001", 2, ["rv_001"])]
    assert first[0].reasons == {"dob_disagree": 1, "no_match": 1}
    again = open_batches(url, cycle_id="cycle-1")
    assert [(b.batch_id, b.records) for b in again] == [(first[0].batch_id, 2)]


def test_approve_accepts_candidates_and_leaves_the_rest_open(tmp_path: Path) -> None:
    url, registry = _flagged_store(tmp_path)
    batch = open_batches(url, cycle_id="cycle-1")[0]
    counts = apply_batch_decision(url, registry, batch_id=batch.batch_id, approved=True, decided_by="rv_001",
                                  decided_at=AT, key=KEY)
    assert counts == {"accept": 1, "unresolved": 1}
    with session_scope(url) as s:
        recs = {r.id: r for r in s.scalars(select(DoseRecord))}
        items = {i.dose_record_id: i for i in s.scalars(select(ReviewItem))}
    assert recs[1].status == "matched" and recs[1].person_id
    assert recs[2].status == "flagged"
    assert items[1].before == {"status": "in_review", "person_id": None}
    assert items[1].after == {"status": "matched", "person_id": recs[1].person_id}
    assert items[1].decided_by == "rv_001"
    # a decided batch is not decided twice
    assert apply_batch_decision(url, registry, batch_id=batch.batch_id, approved=False, decided_by="x",
                                decided_at=AT, key=KEY) == {}


def test_reject_holds_and_expiry_releases(tmp_path: Path) -> None:
    url, registry = _flagged_store(tmp_path)
    batch = open_batches(url, cycle_id="cycle-1")[0]
    assert release_batch(url, batch_id=batch.batch_id) == 2
    with session_scope(url) as s:
        assert set(s.scalars(select(DoseRecord.status))) == {"flagged"}
    nxt = open_batches(url, cycle_id="cycle-2") if _cycle(url, "cycle-2") else []
    apply_batch_decision(url, registry, batch_id=nxt[0].batch_id, approved=False, decided_by="rv_001",
                         decided_at=AT, key=KEY)
    with session_scope(url) as s:
        assert set(s.scalars(select(DoseRecord.status))) == {"rejected"}


def _cycle(url: str, cycle_id: str) -> bool:
    from vaxpass.store.models import Cycle

    with session_scope(url) as s:
        s.add(Cycle(id=cycle_id, run_date=date(2026, 11, 28), run_after=AT, dag_id="t", status="running", stats={}))
    return True
