"""Matching valid dose records to persons: exact identity (CCCD, or an old CMND linked to one) confirmed by
name, date of birth and sex; foreigners bypass the registry; everything else is flagged with its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaxpass.identity import pseudonym
from vaxpass.registry.adapter import PopulationRegistry, RegistryEntry
from vaxpass.registry.compare import AGREE, compare_dob, compare_name, compare_sex
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, MatchDecision, Person


@dataclass(frozen=True)
class MatchSummary:
    outcomes: dict[str, int]
    reasons: dict[str, int]


def person_from_registry(session: Session, key: bytes, entry: RegistryEntry) -> Person:
    pid = pseudonym(key, "VN", entry.cccd)
    person = session.get(Person, pid)
    if person is None:
        person = Person(id=pid, kind="citizen", registry_id=entry.registry_id, full_name=entry.full_name,
                        dob=entry.dob.isoformat(), sex=entry.sex, national_id=entry.cccd, nationality="VN")
        session.add(person)
        session.flush()
    return person


def _foreign_person(session: Session, key: bytes, rec: DoseRecord) -> Person:
    assert rec.passport_no is not None and rec.full_name and rec.dob
    pid = pseudonym(key, f"P:{rec.nationality}", rec.passport_no.upper())
    person = session.get(Person, pid)
    if person is None:
        person = Person(id=pid, kind="foreign", full_name=rec.full_name, dob=rec.dob.isoformat(), sex=rec.sex,
                        nationality=rec.nationality, passport_no=rec.passport_no.upper())
        session.add(person)
        session.flush()
    return person


def _decide(rec: DoseRecord, by_cccd: dict[str, RegistryEntry],
            by_cmnd: dict[str, RegistryEntry]) -> tuple[str, str, str, RegistryEntry | None, dict[str, Any]]:
    """(outcome, method, reason, candidate, evidence) for one Vietnamese record."""
    nid = rec.national_id or ""
    entry, method = (by_cccd.get(nid), "cccd") if len(nid) == 12 else (by_cmnd.get(nid), "cmnd")
    if not nid:
        return "REVIEW", "none", "id_missing", None, {}
    if entry is None:
        return "REVIEW", method, "id_not_in_registry", None, {}
    evidence = {"name": compare_name(rec.full_name, entry.full_name), "dob": compare_dob(rec.dob, entry.dob),
                "sex": compare_sex(rec.sex, entry.sex)}
    disagree = [f for f, v in evidence.items() if v not in AGREE]
    if not disagree:
        return "MATCHED", method, "identity_confirmed", entry, evidence
    return "REVIEW", method, f"{'_'.join(disagree)}_disagree", entry, evidence


def match_valid_records(db_url: str, registry: PopulationRegistry, *, cycle_id: str, key: bytes) -> MatchSummary:
    """Match every valid record not yet matched; returns counts only (no personal data)."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    with session_scope(db_url) as session:
        records = session.scalars(select(DoseRecord).where(DoseRecord.status == "valid")).all()
        ids = [r.national_id for r in records if r.nationality == "VN" and r.national_id]
        by_cccd = registry.by_cccd(i for i in ids if len(i) == 12)
        by_cmnd = registry.by_cmnd(i for i in ids if len(i) == 9)
        for rec in records:
            person: Person | None
            evidence: dict[str, Any]
            if rec.nationality != "VN":
                person = _foreign_person(session, key, rec)
                outcome, method, reason, entry, evidence = "FOREIGN", "passport", "foreign_national", None, {}
            else:
                outcome, method, reason, entry, evidence = _decide(rec, by_cccd, by_cmnd)
                person = person_from_registry(session, key, entry) if outcome == "MATCHED" and entry else None
            session.add(MatchDecision(
                dose_record_id=rec.id, cycle_id=cycle_id, outcome=outcome, method=method, reason=reason,
                score=1.0 if person else 0.0, evidence=evidence,
                candidate_registry_ids=[entry.registry_id] if entry else [],
                person_id=person.id if person else None))
            rec.status = "matched" if person else "flagged"
            rec.status_reason = None if person else reason
            rec.person_id = person.id if person else None
            outcomes[outcome] += 1
            reasons[reason] += 1
    return MatchSummary(outcomes=dict(outcomes), reasons=dict(reasons))
