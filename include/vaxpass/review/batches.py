"""District review batches: flagged records grouped by the district of the site that gave the dose.

A batch is opened once per (cycle, district); records already waiting in an open batch are never put in a
second one. The district's decision is applied per record: approving applies each record's reviewer action
(accept a candidate, correct, reject: `vaxpass.review.actions`) and, for a record without one, accepts the
registry candidate the match proposed; a record with no candidate stays flagged (it needs a correction) and
comes back next cycle; rejecting holds the records as rejected. Every decision is stored with who, when,
before and after.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaxpass.registry.adapter import PopulationRegistry
from vaxpass.registry.match import person_from_registry
from vaxpass.review.actions import pending_actions
from vaxpass.review.fields import parse_corrections
from vaxpass.review.revalidate import judge, match_records, new_version, store_verdicts
from vaxpass.store import session_scope
from vaxpass.store.models import (
    Cycle,
    DoseRecord,
    MatchDecision,
    ReviewAction,
    ReviewBatch,
    Reviewer,
    ReviewItem,
    Site,
)


@dataclass(frozen=True)
class BatchSummary:
    """What a district gate shows: counts only, no personal data."""

    batch_id: int
    district_code: str
    district_name: str
    records: int
    reasons: dict[str, int]
    reviewers: list[str] = field(default_factory=list)


def _latest_decision(session: Session, record_id: int) -> MatchDecision:
    decision = session.scalar(select(MatchDecision).where(MatchDecision.dose_record_id == record_id)
                              .order_by(MatchDecision.id.desc()).limit(1))
    assert decision is not None, "a flagged record always has a match decision"
    return decision


def open_batches(db_url: str, *, cycle_id: str) -> list[BatchSummary]:
    """Put every flagged record into its district's batch for this cycle (idempotent)."""
    with session_scope(db_url) as session:
        rows = session.execute(select(DoseRecord, Site.district_code).join(Site, Site.code == DoseRecord.site_code)
                               .where(DoseRecord.status == "flagged").order_by(DoseRecord.id)).all()
        for rec, district in rows:
            batch = session.scalar(select(ReviewBatch).filter_by(cycle_id=cycle_id, district_code=district))
            if batch is None:
                batch = ReviewBatch(cycle_id=cycle_id, district_code=district, status="open")
                session.add(batch)
                session.flush()
            decision = _latest_decision(session, rec.id)
            session.add(ReviewItem(batch_id=batch.id, dose_record_id=rec.id, match_decision_id=decision.id,
                                   reason=decision.reason or "flagged"))
            rec.status = "in_review"
        session.flush()
        return [_summary(session, b) for b in session.scalars(
            select(ReviewBatch).filter_by(cycle_id=cycle_id, status="open").order_by(ReviewBatch.district_code))]


def _summary(session: Session, batch: ReviewBatch) -> BatchSummary:
    reasons = Counter(session.scalars(select(ReviewItem.reason).filter_by(batch_id=batch.id)))
    district_name = session.scalar(select(Site.district_name).filter_by(district_code=batch.district_code)
                                   .limit(1)) or batch.district_code
    reviewers = list(session.scalars(select(Reviewer.username).filter_by(district_code=batch.district_code)
                                     .order_by(Reviewer.username)))
    return BatchSummary(batch.id, batch.district_code, district_name, sum(reasons.values()), dict(reasons),
                        reviewers)


def apply_batch_decision(db_url: str, registry: PopulationRegistry, *, batch_id: int, approved: bool,
                         decided_by: str, decided_at: datetime, key: bytes,
                         suite_dir: Path | None = None) -> dict[str, int]:
    """Apply a district's approve/reject to every record of the batch; a decided batch is left as it is.

    Approve applies each record's pending reviewer action (`vaxpass.review.actions`): the accepted candidate,
    the rejection, or the correction — a new version of the record, validated and matched again in this
    transaction (`corrected_<status>` counts what became of them). A record without an action gets the
    proposed first candidate, or stays `unresolved` (flagged, back next cycle) when there is none. Reject
    holds every record, whatever its actions said.
    """
    counts: Counter[str] = Counter()
    with session_scope(db_url) as session:
        batch = session.get(ReviewBatch, batch_id)
        if batch is None:
            raise LookupError(f"review batch {batch_id} does not exist")
        if batch.status != "open":
            return {}
        rows = session.execute(select(ReviewItem, DoseRecord, MatchDecision)
                               .join(DoseRecord, DoseRecord.id == ReviewItem.dose_record_id)
                               .join(MatchDecision, MatchDecision.id == ReviewItem.match_decision_id)
                               .where(ReviewItem.batch_id == batch_id).order_by(ReviewItem.id)).tuples().all()
        actions = pending_actions(session, [item.id for item, _, _ in rows])
        wanted = [_candidate(actions.get(item.id), d) for item, _, d in rows]
        candidates = registry.by_registry_id([w for w in wanted if w is not None]) if approved else {}
        corrected: list[tuple[ReviewItem, ReviewAction, DoseRecord]] = []
        for (item, rec, _), registry_id in zip(rows, wanted, strict=True):
            action = actions.get(item.id)
            before: dict[str, Any] = {"status": rec.status, "person_id": rec.person_id}
            if not approved:
                item.decision, rec.status, rec.status_reason = "reject", "rejected", "rejected_by_district"
            elif action is not None and action.action == "reject":
                item.decision, rec.status, rec.status_reason = "reject", "rejected", action.reason_code
            elif action is not None and action.action == "correct":
                values, _ = parse_corrections(action.fields)
                fresh = new_version(session, rec, values, cycle_id=batch.cycle_id)
                corrected.append((item, action, fresh))
                item.decision = "correct"
            elif registry_id is not None and registry_id in candidates:
                person_id = person_from_registry(session, key, candidates[registry_id])
                item.decision, rec.status, rec.person_id = "accept", "matched", person_id
                rec.status_reason = "accepted_by_district"
            else:
                item.decision, rec.status = "unresolved", "flagged"  # needs a correction: back next cycle
            item.decided_by = action.actor if action is not None and approved else decided_by
            item.decided_at = action.acted_at if action is not None and approved else decided_at
            item.before, item.after = before, {"status": rec.status, "person_id": rec.person_id}
            if action is not None:
                action.status = "applied" if approved else "held"
                action.outcome = rec.status if approved else "rejected"
            counts[item.decision] += 1
        if corrected:
            _revalidate(session, registry, corrected, batch=batch, key=key, suite_dir=suite_dir)
            counts.update(f"corrected_{fresh.status}" for _, _, fresh in corrected)
        batch.status = "approved" if approved else "rejected"
        batch.decided_by, batch.decided_at = decided_by, decided_at
    return dict(counts)


def _candidate(action: ReviewAction | None, decision: MatchDecision) -> int | None:
    """The registry person an approval ties the record to: the reviewer's pick, else the match's first."""
    if action is not None:
        return action.registry_id if action.action == "accept" else None
    return int(decision.candidate_registry_ids[0]) if decision.candidate_registry_ids else None


def _revalidate(session: Session, registry: PopulationRegistry,
                corrected: list[tuple[ReviewItem, ReviewAction, DoseRecord]], *, batch: ReviewBatch, key: bytes,
                suite_dir: Path | None) -> None:
    """The corrected versions through the quality rules and the matcher (the cycle's run date judges them)."""
    run_date = session.scalar(select(Cycle.run_date).filter_by(id=batch.cycle_id))
    assert run_date is not None, "a batch belongs to a cycle"
    fresh = [rec for _, _, rec in corrected]
    store_verdicts(session, fresh, judge(session, fresh, run_date=run_date, suite_dir=suite_dir),
                   cycle_id=batch.cycle_id)
    match_records(session, registry, fresh, key=key, cycle_id=batch.cycle_id)
    for item, action, rec in corrected:
        action.new_dose_record_id, action.outcome = rec.id, rec.status
        item.after = {"status": "superseded", "new_dose_record_id": rec.id, "new_status": rec.status,
                      "person_id": rec.person_id}


def batch_is_open(db_url: str, *, batch_id: int) -> bool:
    """Whether the batch still waits for its district's answer (not approved, rejected or expired)."""
    with session_scope(db_url) as session:
        batch = session.get(ReviewBatch, batch_id)
        return batch is not None and batch.status == "open"


def release_batch(db_url: str, *, batch_id: int) -> int:
    """A gate closed without an answer (timeout): its records go back to flagged, never auto-approved."""
    with session_scope(db_url) as session:
        batch = session.get(ReviewBatch, batch_id)
        if batch is None or batch.status != "open":
            return 0
        rows = session.execute(select(ReviewItem, DoseRecord).join(
            DoseRecord, DoseRecord.id == ReviewItem.dose_record_id).where(ReviewItem.batch_id == batch_id)).all()
        for item, rec in rows:
            rec.status = "flagged"
            item.decision = "expired"
        for action in pending_actions(session, [item.id for item, _ in rows]).values():
            action.status = "expired"  # a new batch next cycle: the reviewer decides again
        batch.status = "expired"
        return len(rows)
