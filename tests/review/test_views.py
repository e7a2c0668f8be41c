"""What the review pages read: the record beside its candidates with the differing fields, the backlog."""

from __future__ import annotations

from tests.review.conftest import AT, ReviewStore
from vaxpass.review.actions import RecordDecision, decide_records
from vaxpass.review.views import backlog, district_records, reason_label, record_detail


def test_record_detail_shows_candidates_their_differences_and_evidence(store: ReviewStore) -> None:
    detail = record_detail(store.url, store.registry, "001", store.ids["an2"])
    assert detail is not None and detail["reason"] == "dob_disagree"
    [cand] = detail["candidates"]
    assert cand["registry_id"] == 1 and cand["differs"] == ["dob"]
    assert cand["levels"]["id"]["level"] == "cccd_exact" and cand["levels"]["dob"]["weight"] < 0
    binh = record_detail(store.url, store.registry, "001", store.ids["binh"])
    assert binh is not None and [c["registry_id"] for c in binh["candidates"]] == [5, 6]
    assert all(c["differs"] == ["national_id"] for c in binh["candidates"])
    assert record_detail(store.url, store.registry, "006", store.ids["an2"]) is None  # not that district's
    assert record_detail(store.url, store.registry, "001", store.ids["an1"]) is None  # not in review


def test_district_records_show_the_pending_decision(store: ReviewStore) -> None:
    decide_records(store.url, district_code="001", actor="rv_001", acted_at=AT, channel="web",
                   decisions=[RecordDecision(store.ids["tam"], "reject", reason_code="duplicate")])
    recs = {r["record_id"]: r for r in district_records(store.url, "001")}
    assert recs[store.ids["tam"]]["pending"]["action"] == "reject"
    assert recs[store.ids["binh"]]["pending"] is None and recs[store.ids["binh"]]["candidates"] == 2


def test_backlog_counts_and_ages_per_district(store: ReviewStore) -> None:
    [b] = backlog(store.url)
    assert (b.district_code, b.open_records, b.in_open_batch) == ("001", 3, 3)
    assert b.oldest_since is not None and b.reasons == {"no_match": 1, "ambiguous_candidates": 1, "dob_disagree": 1}


def test_reason_labels_are_bilingual() -> None:
    assert reason_label("dob_disagree") == ("Khác ngày sinh", "Date of birth differ(s)")
    assert reason_label("no_match")[1] == "Not found in the population registry"
