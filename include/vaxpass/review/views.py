"""What the review pages show, read from the ops store: a district's open records, one record beside its
registry candidates with the match evidence, and every district's backlog.

`district_records` and `record_detail` hold personal data: only the district's reviewers may see them (the
caller checks). `backlog` holds counts and ages only, for managers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vaxpass.registry.adapter import PopulationRegistry, RegistryEntry
from vaxpass.review.actions import open_items, pending_actions
from vaxpass.review.fields import as_text
from vaxpass.store import session_scope
from vaxpass.store.models import (
    Certificate,
    Cycle,
    DoseRecord,
    QualityResult,
    ReviewAction,
    Site,
)
from vaxpass.text import fold_name

_REASONS = {
    "no_match": ("Không tìm thấy trong CSDLQG về dân cư", "Not found in the population registry"),
    "ambiguous_candidates": ("Nhiều người phù hợp", "Several registry persons fit"),
    "weak_evidence": ("Bằng chứng khớp yếu", "Weak match evidence"),
    "id_missing": ("Thiếu số CCCD/CMND", "No national ID"),
}
_FIELD_WORDS = {"id": ("số CCCD/CMND", "national ID"), "name": ("họ tên", "name"), "dob": ("ngày sinh", "date of birth"),
                "sex": ("giới tính", "sex")}


def reason_label(reason: str) -> tuple[str, str]:
    """A match reason code in Vietnamese and English (`dob_disagree` → "Khác ngày sinh" / "date of birth differs")."""
    if reason in _REASONS:
        return _REASONS[reason]
    if reason.endswith("_disagree"):
        parts = [p for p in reason.removesuffix("_disagree").split("_") if p in _FIELD_WORDS]
        if parts:
            return ("Khác " + ", ".join(_FIELD_WORDS[p][0] for p in parts),
                    ", ".join(_FIELD_WORDS[p][1] for p in parts).capitalize() + " differ(s)")
    return reason, reason


@dataclass(frozen=True)
class DistrictBacklog:
    """Records of a district waiting on review (flagged, or in an open batch), counts and age only."""

    district_code: str
    district_name: str
    open_records: int
    in_open_batch: int
    oldest_since: datetime | None  # the run time of the cycle the oldest waiting record came in
    reasons: dict[str, int] = field(default_factory=dict)


def backlog(db_url: str) -> list[DistrictBacklog]:
    """Every district with records waiting (sorted by code); `reasons` counts the match reasons."""
    with session_scope(db_url) as session:
        rows = session.execute(
            select(Site.district_code, Site.district_name, DoseRecord.status, DoseRecord.status_reason,
                   Cycle.run_after)
            .join(Site, Site.code == DoseRecord.site_code).join(Cycle, Cycle.id == DoseRecord.cycle_id)
            .where(DoseRecord.status.in_(("flagged", "in_review")))).tuples().all()
    by_district: dict[str, list[Any]] = defaultdict(list)
    names: dict[str, str] = {}
    for code, name, status, reason, since in rows:
        by_district[code].append((status, reason, since))
        names[code] = name
    out = []
    for code in sorted(by_district):
        recs = by_district[code]
        out.append(DistrictBacklog(code, names[code], len(recs), sum(1 for s, _, _ in recs if s == "in_review"),
                                   min(since for _, _, since in recs),
                                   dict(Counter(r or "flagged" for _, r, _ in recs))))
    return out


def district_records(db_url: str, district_code: str) -> list[dict[str, Any]]:
    """The district's records in open batches, with the match reason and the reviewer's pending decision."""
    with session_scope(db_url) as session:
        items = open_items(session, district_code)
        pending = pending_actions(session, [item.id for item, *_ in items.values()])
        out = []
        for rid, (item, batch, rec, decision) in items.items():
            action = pending.get(item.id)
            out.append({"record_id": rid, "batch_id": batch.id, "cycle_id": batch.cycle_id, "site_code": rec.site_code,
                        "source_key": rec.source_key, "reason": item.reason, "reason_label": reason_label(item.reason),
                        "score": round(decision.score, 4), "candidates": len(decision.candidate_registry_ids),
                        "values": as_text(rec), "pending": _action_view(action) if action else None})
        return out


def _action_view(action: ReviewAction) -> dict[str, Any]:
    return {"id": action.id, "action": action.action, "registry_id": action.registry_id,
            "reason_code": action.reason_code, "note": action.note, "fields": action.fields,
            "before": action.before, "after": action.after, "actor": action.actor,
            "acted_at": action.acted_at.isoformat(), "channel": action.channel, "status": action.status,
            "outcome": action.outcome}


def _differs(values: dict[str, str | None], entry: RegistryEntry) -> list[str]:
    """The record's fields that differ from the registry person's (names compared folded)."""
    out = []
    nid = values["national_id"]
    if nid not in (entry.cccd, entry.cmnd):
        out.append("national_id")
    if fold_name(values["full_name"] or "") != fold_name(entry.full_name):
        out.append("full_name")
    if values["dob"] != entry.dob.isoformat():
        out.append("dob")
    if values["sex"] != entry.sex:
        out.append("sex")
    return out


def record_detail(db_url: str, registry: PopulationRegistry, district_code: str,
                  record_id: int) -> dict[str, Any] | None:
    """One open record of the district beside its registry candidates (their identity fields, the fields that
    differ, the comparison levels and weights), its quality warnings and its review history; None when the
    record is not open in that district."""
    with session_scope(db_url) as session:
        found = open_items(session, district_code, [record_id]).get(record_id)
        if found is None:
            return None
        item, batch, rec, decision = found
        values = as_text(rec)
        evidence = {int(c["registry_id"]): c for c in decision.evidence.get("candidates", [])}
        entries = registry.by_registry_id(decision.candidate_registry_ids) if decision.candidate_registry_ids else {}
        candidates = []
        for rank, registry_id in enumerate(decision.candidate_registry_ids, start=1):
            entry = entries.get(int(registry_id))
            if entry is None:
                continue
            ev = evidence.get(int(registry_id), {})
            candidates.append({
                "registry_id": entry.registry_id, "rank": ev.get("rank", rank), "weight": ev.get("weight"),
                "probability": ev.get("probability"), "levels": ev.get("fields", {}),
                "values": {"national_id": entry.cccd, "full_name": entry.full_name, "dob": entry.dob.isoformat(),
                           "sex": entry.sex},
                "differs": _differs(values, entry)})
        warnings = [{"rule": q.rule, "severity": q.severity, "reason_en": q.reason_en, "reason_vi": q.reason_vi}
                    for q in session.scalars(select(QualityResult).filter_by(dose_record_id=rec.id)
                                             .order_by(QualityResult.id))]
        history = [_action_view(a) for a in session.scalars(select(ReviewAction).filter_by(item_id=item.id)
                                                              .order_by(ReviewAction.id))]
        site = session.get(Site, rec.site_code)
        return {"record_id": rec.id, "batch_id": batch.id, "cycle_id": batch.cycle_id, "site_code": rec.site_code,
                "site_name": site.name if site else rec.site_code, "source_key": rec.source_key,
                "version": rec.version, "reason": item.reason, "reason_label": reason_label(item.reason),
                "outcome": decision.outcome, "method": decision.method, "score": round(decision.score, 4),
                "thresholds": decision.evidence.get("thresholds"), "values": values,
                "nationality": rec.nationality, "candidates": candidates, "warnings": warnings,
                "history": history, "pending": history[-1] if history and history[-1]["status"] == "pending"
                else None}


def superseded_by_correction(db_url: str, *, cycle_id: str | None = None) -> list[dict[str, Any]]:
    """Certificates replaced because a reviewer corrected a record: for each re-issued certificate whose dose
    record came from a correction, the certificate it superseded and the correction (fields only).

    The hook for revocation (DESIGN.md §8: a certificate issued on wrong data is revoked, not just superseded).
    """
    with session_scope(db_url) as session:
        query = (select(Certificate, ReviewAction).join(ReviewAction,
                                                         ReviewAction.new_dose_record_id == Certificate.dose_record_id)
                 .where(Certificate.supersedes_id.is_not(None), ReviewAction.status == "applied"))
        if cycle_id is not None:
            query = query.where(Certificate.cycle_id == cycle_id)
        return [{"superseded_certificate_id": cert.supersedes_id, "certificate_id": cert.id,
                 "review_action_id": action.id, "fields": sorted(action.fields)}
                for cert, action in session.execute(query.order_by(Certificate.id)).tuples()]
