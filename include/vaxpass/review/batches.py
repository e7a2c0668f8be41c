"""District review batches: flagged records grouped by the district of the site that gave the dose.

A batch is opened once per (cycle, district); records already waiting in an open batch are never put in a
second one. The district's decision is applied per record: approving accepts the registry candidate the match
proposed; a record with no candidate stays flagged (it needs a correction) and comes back next cycle;
rejecting holds the records as rejected. Every decision is stored with who, when, before and after.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaxpass.registry.adapter import PopulationRegistry
from vaxpass.registry.match import person_from_registry
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, MatchDecision, ReviewBatch, Reviewer, ReviewItem, Site


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
                         decided_by: str, decided_at: datetime, key: bytes) -> dict[str, int]:
    """Apply a district's approve/reject to every record of the batch; a decided batch is left as it is."""
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
        wanted = [d.candidate_registry_ids[0] for _, _, d in rows if d.candidate_registry_ids]
        candidates = registry.by_registry_id(wanted) if approved and wanted else {}
        for item, rec, decision in rows:
            before: dict[str, Any] = {"status": rec.status, "person_id": rec.person_id}
            if not approved:
                item.decision, rec.status, rec.status_reason = "reject", "rejected", "rejected_by_district"
            elif decision.candidate_registry_ids and decision.candidate_registry_ids[0] in candidates:
                person_id = person_from_registry(session, key, candidates[decision.candidate_registry_ids[0]])
                item.decision, rec.status, rec.person_id = "accept", "matched", person_id
                rec.status_reason = "accepted_by_district"
            else:
                item.decision, rec.status = "unresolved", "flagged"  # needs a correction: back next cycle
            item.decided_by, item.decided_at = decided_by, decided_at
            item.before, item.after = before, {"status": rec.status, "person_id": rec.person_id}
            counts[item.decision] += 1
        batch.status = "approved" if approved else "rejected"
        batch.decided_by, batch.decided_at = decided_by, decided_at
    return dict(counts)


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
        batch.status = "expired"
        return len(rows)
