"""Writing a certificate's lineage chain (DESIGN.md §4) into the ops store at issuance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaxpass.store.models import (
    Certificate,
    DoseRecord,
    LandedFile,
    LineageLink,
    MatchDecision,
    QualityRun,
    RawRecord,
    ReviewBatch,
    ReviewItem,
)

# Links every certificate must have; `review` is required too when a record went through a district gate.
REQUIRED_KINDS = ("source_row", "extraction", "validation", "match", "signature", "dag_run")


def record_lineage(session: Session, cert: Certificate, records: list[DoseRecord], *, dag_id: str,
                   task_id: str, alg: str) -> None:
    """Link `cert` to each dose record's source row, extraction, validation, match and review, its signature
    and the DAG run. Details carry ids, hashes and codes only: no personal data."""
    links: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        raw = session.get(RawRecord, rec.raw_record_id)
        assert raw is not None
        landed = session.get(LandedFile, raw.landed_file_id)
        assert landed is not None
        links[("source_row", f"raw_record:{raw.id}")] = {
            "site": rec.site_code, "file": landed.source_name, "file_sha256": landed.sha256,
            "row": raw.source_row, "source_key": rec.source_key, "content_hash": raw.content_hash,
            "dose_record_id": rec.id, "version": rec.version, "certified_dose": rec.id == cert.dose_record_id}
        links[("extraction", f"extraction_run:{landed.extraction_run_id}")] = {
            "site": rec.site_code, "cycle": rec.cycle_id}
        if rec.quality_run_id is not None:
            qrun = session.get(QualityRun, rec.quality_run_id)
            assert qrun is not None
            links[("validation", f"quality_run:{qrun.id}")] = {
                "suite": qrun.suite_name, "suite_version": qrun.suite_version, "result": "passed"}
        decision = session.scalar(select(MatchDecision).where(MatchDecision.dose_record_id == rec.id)
                                  .order_by(MatchDecision.id.desc()).limit(1))
        if decision is not None:
            links[("match", f"match_decision:{decision.id}")] = {
                "outcome": decision.outcome, "method": decision.method, "reason": decision.reason,
                "score": decision.score, "evidence": decision.evidence}
        for item, batch in session.execute(select(ReviewItem, ReviewBatch).join(
                ReviewBatch, ReviewBatch.id == ReviewItem.batch_id).where(
                ReviewItem.dose_record_id == rec.id, ReviewItem.decision.is_not(None))).tuples():
            links[("review", f"review_item:{item.id}")] = {
                "district": batch.district_code, "batch": batch.id, "reviewer": item.decided_by,
                "decision": item.decision, "decided_at": item.decided_at.isoformat() if item.decided_at else None,
                "before": item.before, "after": item.after}
    links[("signature", f"kid:{cert.kid}")] = {"alg": alg, "uvci": cert.uvci, "version": cert.version}
    links[("dag_run", f"cycle:{cert.cycle_id}")] = {"dag_id": dag_id, "run_id": cert.cycle_id, "task_id": task_id}
    for (kind, ref), detail in links.items():
        session.add(LineageLink(certificate_id=cert.id, kind=kind, ref=ref, detail=detail))
