"""Matching valid dose records to persons: exact identity (CCCD, or an old CMND linked to one) confirmed by
name, date of birth and sex; foreigners bypass the registry; everything else is flagged with its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
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


def _registry_person(key: bytes, entry: RegistryEntry) -> dict[str, Any]:
    return {"id": pseudonym(key, "VN", entry.cccd), "kind": "citizen", "registry_id": entry.registry_id,
            "full_name": entry.full_name, "dob": entry.dob.isoformat(), "sex": entry.sex,
            "national_id": entry.cccd, "nationality": "VN", "passport_no": None}


def _foreign_person(key: bytes, rec: DoseRecord) -> dict[str, Any]:
    assert rec.passport_no is not None and rec.full_name and rec.dob
    passport = rec.passport_no.upper()
    return {"id": pseudonym(key, f"P:{rec.nationality}", passport), "kind": "foreign", "registry_id": None,
            "full_name": rec.full_name, "dob": rec.dob.isoformat(), "sex": rec.sex, "national_id": None,
            "nationality": rec.nationality, "passport_no": passport}


def save_persons(session: Session, persons: dict[str, dict[str, Any]]) -> None:
    """Insert the persons not yet in the store (a person's identity row is written once)."""
    ids = list(persons)
    existing: set[str] = set()
    for i in range(0, len(ids), 900):
        existing.update(session.scalars(select(Person.id).where(Person.id.in_(ids[i:i + 900]))))
    fresh = [p for pid, p in persons.items() if pid not in existing]
    if fresh:
        session.execute(insert(Person), fresh)


def person_from_registry(session: Session, key: bytes, entry: RegistryEntry) -> str:
    """The pseudonymous id of a registry person, creating their row if needed."""
    person = _registry_person(key, entry)
    save_persons(session, {person["id"]: person})
    return str(person["id"])


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
        persons: dict[str, dict[str, Any]] = {}
        decisions: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for rec in records:
            person: dict[str, Any] | None = None
            evidence: dict[str, Any] = {}
            entry: RegistryEntry | None = None
            if rec.nationality != "VN":
                person, outcome, method, reason = _foreign_person(key, rec), "FOREIGN", "passport", "foreign_national"
            else:
                outcome, method, reason, entry, evidence = _decide(rec, by_cccd, by_cmnd)
                if outcome == "MATCHED" and entry is not None:
                    person = _registry_person(key, entry)
            person_id: str | None = person["id"] if person else None
            if person is not None and person_id is not None:
                persons[person_id] = person
            decisions.append({"dose_record_id": rec.id, "cycle_id": cycle_id, "outcome": outcome, "method": method,
                              "reason": reason, "score": 1.0 if person else 0.0, "evidence": evidence,
                              "candidate_registry_ids": [entry.registry_id] if entry else [],
                              "person_id": person_id})
            updates.append({"id": rec.id, "status": "matched" if person else "flagged",
                            "status_reason": None if person else reason, "person_id": person_id})
            outcomes[outcome] += 1
            reasons[reason] += 1
        session.expunge_all()
        save_persons(session, persons)
        if decisions:
            session.execute(insert(MatchDecision), decisions)
            session.execute(update(DoseRecord), updates)
    return MatchSummary(outcomes=dict(outcomes), reasons=dict(reasons))
