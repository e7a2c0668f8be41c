"""Per-record review decisions: accept any candidate, correct (validated at once, re-validated and re-matched
when the batch is approved, re-issued with the correction in lineage), reject with a reason; all or nothing,
only the district's own open records, by its own reviewers, every decision audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.issuance.test_issue import head_of_facility
from tests.review.conftest import AT, KEY, ReviewStore
from vaxpass.confirmation.confirm import confirm_site
from vaxpass.issuance import issue_certificates
from vaxpass.lineage import check_lineage
from vaxpass.lineage.chain import lineage_chain, render_tree
from vaxpass.review import apply_batch_decision, open_batches, release_batch
from vaxpass.review.actions import RecordDecision, ReviewError, decide_records
from vaxpass.signing.keystore import Signer, load_signer
from vaxpass.signing.pki import create_root_ca, issue_document_signer
from vaxpass.store import session_scope
from vaxpass.store.models import (
    Certificate,
    Cycle,
    DoseRecord,
    MatchDecision,
    Person,
    ReviewAction,
    ReviewItem,
)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    ca = tmp_path_factory.mktemp("ca")
    create_root_ca(ca, b"pw", now=AT - timedelta(days=1))
    return load_signer(issue_document_signer(ca, b"pw", ca / "dsc.p12", now=AT - timedelta(days=1)), b"pw")


def _decide(st: ReviewStore, *decisions: RecordDecision, actor: str = "rv_001", district: str = "001") -> list[int]:
    return decide_records(st.url, district_code=district, decisions=list(decisions), actor=actor, acted_at=AT,
                          channel="api")


def _approve(st: ReviewStore, approved: bool = True) -> dict[str, int]:
    return apply_batch_decision(st.url, st.registry, batch_id=st.batch_id, approved=approved,
                                decided_by="rv_001", decided_at=AT + timedelta(minutes=5), key=KEY)


def _issue(st: ReviewStore, signer: Signer):  # type: ignore[no-untyped-def]
    """Issue what is due, after each site's head has confirmed its matched doses (issuance needs it)."""
    with session_scope(st.url) as s:
        sites = sorted(set(s.scalars(select(DoseRecord.site_code).where(DoseRecord.status == "matched"))))
    for code in sites:
        confirm_site(st.url, head_of_facility(code)[0], cycle_id="cycle-1", site_code=code, signed_at=AT,
                     store_ref="head.p12")
    return issue_certificates(st.url, signer, cycle_id="cycle-1", issued_at=AT, uvci_key=KEY, dag_id="d",
                              task_id="issue_reviewed", store_ref="dsc.p12")


def _record(st: ReviewStore, key: str) -> DoseRecord:
    with session_scope(st.url) as s:
        rec = s.scalar(select(DoseRecord).filter_by(source_key=key).order_by(DoseRecord.version.desc()).limit(1))
        assert rec is not None
        return rec


def _actions(st: ReviewStore) -> list[ReviewAction]:
    with session_scope(st.url) as s:
        return list(s.scalars(select(ReviewAction).order_by(ReviewAction.id)))


def test_accepting_the_second_candidate_ties_the_record_to_that_person(store: ReviewStore) -> None:
    _decide(store, RecordDecision(store.ids["binh"], "accept", registry_id=6))
    counts = _approve(store)
    assert counts["accept"] == 2  # binh by the reviewer's pick, an2 by the proposed candidate
    with session_scope(store.url) as s:
        rec = s.get(DoseRecord, store.ids["binh"])
        assert rec is not None and rec.status == "matched" and rec.status_reason == "accepted_by_district"
        person = s.get(Person, rec.person_id)
        assert person is not None and person.registry_id == 6
        item = s.scalar(select(ReviewItem).filter_by(dose_record_id=rec.id))
        assert item is not None and item.decision == "accept" and item.decided_by == "rv_001"
    [action] = _actions(store)
    assert (action.status, action.outcome, action.actor, action.acted_at) == ("applied", "matched", "rv_001", AT)


def test_a_candidate_the_match_did_not_propose_is_refused(store: ReviewStore) -> None:
    with pytest.raises(ReviewError) as err:
        _decide(store, RecordDecision(store.ids["binh"], "accept", registry_id=1))
    assert [p.rule for p in err.value.problems[store.ids["binh"]]] == ["not_a_candidate"]
    assert _actions(store) == []


def test_a_correction_becomes_a_new_version_revalidated_rematched_and_reissued(store: ReviewStore,
                                                                               signer: Signer) -> None:
    _issue(store, signer)  # An's first dose is certified before the review
    with session_scope(store.url) as s:
        first = s.scalar(select(Certificate).where(Certificate.status == "current",
                                                   Certificate.dose_record_id == store.ids["an1"]))
        assert first is not None
        first_id, person_id = first.id, first.person_id
    old = store.ids["an2"]
    _decide(store, RecordDecision(old, "correct", fields={"dob": "12/05/1990", "lot": "XYZ999"}))
    [action] = _actions(store)
    assert action.before == {"dob": "1990-05-13", "lot": "ABV1234"}
    assert action.after == {"dob": "12/05/1990", "lot": "XYZ999"}
    assert _record(store, "an2").id == old  # nothing changes before the batch is approved
    counts = _approve(store)
    assert counts["correct"] == 1 and counts["corrected_matched"] == 1
    new = _record(store, "an2")
    assert (new.version, new.status, new.lot, new.dob.isoformat()) == (2, "matched", "XYZ999", "1990-05-12")
    with session_scope(store.url) as s:
        old_rec = s.get(DoseRecord, old)
        assert old_rec is not None and old_rec.status == "superseded"
        assert new.raw_record_id == old_rec.raw_record_id  # the source row's provenance is kept
        decision = s.scalar(select(MatchDecision).filter_by(dose_record_id=new.id))
        assert decision is not None and decision.outcome == "MATCHED" and decision.reason == "identity_confirmed"
        assert new.quality_run_id is not None and new.person_id == person_id
    summary = _issue(store, signer)
    assert summary.reissued == 1
    with session_scope(store.url) as s:
        cert = s.scalar(select(Certificate).filter_by(person_id=person_id, status="current"))
        assert cert is not None and cert.dose_record_id == new.id and cert.supersedes_id == first_id
        assert s.get(Certificate, first_id).status == "superseded"  # type: ignore[union-attr]
        uvci = cert.uvci
    chain = lineage_chain(store.url, uvci)
    assert chain is not None
    review = {link["ref"].split(":")[0]: link for link in chain["links"]["review"]}
    correction = review["review_action"]
    assert correction["action"] == "correct" and correction["reviewer"] == "rv_001"
    assert correction["fields"] == "dob,lot" and correction["corrected_record"] == old
    assert correction["before"] == {"lot": "ABV1234"} and correction["after"] == {"lot": "XYZ999"}  # no dob
    assert review["review_item"]["decision"] == "correct"
    tree = render_tree(chain)
    assert "review_action" in tree and "1990" not in tree and "Nguyễn" not in tree
    assert check_lineage(store.url, cycle_id="cycle-1") >= 2


@pytest.mark.parametrize(("fields", "rule"), [
    ({"dob": "2030-01-01"}, "dob_range"),
    ({"national_id": "001190000001"}, "cccd_century_sex"),  # a woman's century digit on a man
    ({"vaccine": "Sputnik Light Pro"}, "vaccine_unknown"),
    ({"dose_number": "two"}, "unparseable"),
    ({"lot": "ABV1234"}, "no_change"),
])
def test_a_correction_that_breaks_a_rule_is_refused_and_changes_nothing(store: ReviewStore, fields: dict[str, str],
                                                                        rule: str) -> None:
    with session_scope(store.url) as s:
        before = s.scalar(select(func.count()).select_from(DoseRecord))
    with pytest.raises(ReviewError) as err:
        _decide(store, RecordDecision(store.ids["an2"], "correct", fields=fields))
    assert rule in [p.rule for p in err.value.problems[store.ids["an2"]]]
    assert "1990" not in str(err.value)  # rule codes, never the values
    with session_scope(store.url) as s:
        assert s.scalar(select(func.count()).select_from(DoseRecord)) == before
        rec = s.get(DoseRecord, store.ids["an2"])
        assert rec is not None and rec.status == "in_review" and rec.version == 1
    assert _actions(store) == []


def test_reject_with_a_reason_and_a_note(store: ReviewStore) -> None:
    _decide(store, RecordDecision(store.ids["tam"], "reject", reason_code="not_resident", note="moved away"))
    with pytest.raises(ReviewError):
        _decide(store, RecordDecision(store.ids["binh"], "reject", reason_code="bored"))
    counts = _approve(store)
    assert counts["reject"] == 1
    rec = _record(store, "tam")
    assert (rec.status, rec.status_reason) == ("rejected", "not_resident")
    [action] = _actions(store)
    assert (action.note, action.status, action.after) == ("moved away", "applied",
                                                          {"status": "rejected", "reason": "not_resident"})


def test_decisions_are_all_or_nothing(store: ReviewStore) -> None:
    with pytest.raises(ReviewError) as err:
        _decide(store, RecordDecision(store.ids["binh"], "accept", registry_id=5),
                RecordDecision(store.ids["an2"], "correct", fields={"dob": "31/02/1990"}),
                RecordDecision(store.ids["an1"], "reject", reason_code="duplicate"))
    assert set(err.value.problems) == {store.ids["an2"], store.ids["an1"]}
    assert [p.rule for p in err.value.problems[store.ids["an1"]]] == ["not_open_in_district"]
    assert _actions(store) == []


def test_only_the_districts_reviewers_and_its_open_records(store: ReviewStore) -> None:
    decision = RecordDecision(store.ids["binh"], "accept", registry_id=5)
    with pytest.raises(ReviewError) as err:
        _decide(store, decision, actor="rv_006")  # another district's reviewer
    assert [p.rule for p in err.value.problems[None]] == ["not_a_reviewer"]
    with pytest.raises(ReviewError) as err:
        _decide(store, decision, actor="rv_006", district="006")  # their own district, not their record
    assert [p.rule for p in err.value.problems[store.ids["binh"]]] == ["not_open_in_district"]
    _approve(store)
    with pytest.raises(ReviewError):  # the batch is decided: nothing is open any more
        _decide(store, decision)


def test_a_later_decision_replaces_the_earlier_one_and_corrections_add_up(store: ReviewStore) -> None:
    rid = store.ids["an2"]
    _decide(store, RecordDecision(rid, "correct", fields={"lot": "LOT777"}))
    _decide(store, RecordDecision(rid, "correct", fields={"dob": "1990-05-12"}))
    first, second = _actions(store)
    assert first.status == "replaced" and second.fields == {"lot": "LOT777", "dob": "1990-05-12"}
    _decide(store, RecordDecision(rid, "reject", reason_code="wrong_data"))
    assert [a.status for a in _actions(store)] == ["replaced", "replaced", "pending"]
    _approve(store)
    assert _record(store, "an2").status == "rejected"


def test_a_rejected_batch_holds_everything_and_an_expired_one_keeps_nothing_pending(store: ReviewStore) -> None:
    _decide(store, RecordDecision(store.ids["binh"], "accept", registry_id=6))
    _approve(store, approved=False)
    assert _record(store, "binh").status == "rejected"
    assert [a.status for a in _actions(store)] == ["held"]


def test_expiry_returns_the_records_and_the_next_batch_starts_afresh(store: ReviewStore) -> None:
    _decide(store, RecordDecision(store.ids["an2"], "correct", fields={"dob": "1990-05-12"}))
    assert release_batch(store.url, batch_id=store.batch_id) == 3
    assert [a.status for a in _actions(store)] == ["expired"]
    with session_scope(store.url) as s:
        s.add(Cycle(id="cycle-2", run_date=AT.date(), run_after=AT, dag_id="t", status="running", stats={}))
    [batch] = open_batches(store.url, cycle_id="cycle-2")
    assert batch.records == 3


def test_a_corrected_record_that_still_does_not_match_goes_back_flagged(store: ReviewStore, tmp_path: Path) -> None:
    rid = store.ids["tam"]
    _decide(store, RecordDecision(rid, "correct", fields={"full_name": "Lê Văn Tâm"}))
    counts = _approve(store)
    assert counts["corrected_flagged"] == 1
    rec = _record(store, "tam")
    assert (rec.version, rec.status, rec.status_reason) == (2, "flagged", "no_match")


@pytest.mark.postgres
def test_correction_and_approval_on_postgres(tmp_path: Path, pg_databases: Callable[[], str]) -> None:
    from tests.review.conftest import build_store

    st = build_store(tmp_path, pg_databases())
    _decide(st, RecordDecision(st.ids["an2"], "correct", fields={"dob": "1990-05-12"}),
            RecordDecision(st.ids["binh"], "accept", registry_id=6),
            RecordDecision(st.ids["tam"], "reject", reason_code="duplicate"))
    assert _approve(st) == {"correct": 1, "corrected_matched": 1, "accept": 1, "reject": 1}
    assert (_record(st, "an2").version, _record(st, "an2").status) == (2, "matched")
    assert [a.status for a in _actions(st)] == ["applied"] * 3
