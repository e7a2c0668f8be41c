"""Person resolution: one person's doses from every site, in order; unmatched records that belong together.

Records matched to one registry person share that person's pseudonymous id whatever site they came from;
foreigners share the pseudonym of their passport. Records without a registry match but with the same CCCD/CMND
carry the same `link_key` in their match evidence (a keyed hash, like every id outside the store), so the
district sees them as one unresolved person.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from vaxpass.identity import pseudonym
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, MatchDecision

# Records that are not (or no longer) part of anyone's history.
NOT_IN_HISTORY = ("superseded", "quarantined", "rejected")


@dataclass(frozen=True)
class HistoryEntry:
    """One dose of a person's history; `position` is its place in time (1 = first dose given)."""

    position: int
    dose_record_id: int
    site_code: str
    vaccination_date: date | None
    recorded_dose_number: int | None
    vaccine_mp: str | None

    @property
    def numbered_in_order(self) -> bool:
        """Did the site number this dose as its place in the person's history?"""
        return self.recorded_dose_number == self.position


def link_key(key: bytes, national_id: str) -> str:
    """The pseudonymous key that ties unmatched records with the same ID number together across sites."""
    return pseudonym(key, "ID", national_id.replace(" ", "").replace(".", ""))


def dose_history(db_url: str, person_id: str) -> list[HistoryEntry]:
    """The person's doses from every site, ordered by date of vaccination (then recorded number, then id)."""
    with session_scope(db_url) as session:
        rows = session.execute(
            select(DoseRecord.id, DoseRecord.site_code, DoseRecord.vaccination_date, DoseRecord.dose_number,
                   DoseRecord.vaccine_mp)
            .where(DoseRecord.person_id == person_id, DoseRecord.status.not_in(NOT_IN_HISTORY))).tuples().all()
    ordered = sorted(rows, key=lambda r: (r[2] or date.max, r[3] or 0, r[0]))
    return [HistoryEntry(n, rid, site, day, number, mp) for n, (rid, site, day, number, mp)
            in enumerate(ordered, start=1)]


def unmatched_groups(db_url: str) -> dict[str, list[int]]:
    """Flagged records (REVIEW or NO_MATCH) grouped by `link_key`: the same unresolved person across sites.
    Only groups of two or more records are returned; record ids in order."""
    groups: dict[str, list[int]] = defaultdict(list)
    with session_scope(db_url) as session:
        latest: dict[int, tuple[int, Any]] = {}
        for rec_id, dec_id, evidence in session.execute(
                select(MatchDecision.dose_record_id, MatchDecision.id, MatchDecision.evidence)
                .join(DoseRecord, DoseRecord.id == MatchDecision.dose_record_id)
                .where(DoseRecord.status.in_(("flagged", "in_review")))).tuples():
            if rec_id not in latest or dec_id > latest[rec_id][0]:
                latest[rec_id] = (dec_id, evidence)
    for rec_id, (_, evidence) in sorted(latest.items()):
        if isinstance(evidence, dict) and evidence.get("link_key"):
            groups[str(evidence["link_key"])].append(rec_id)
    return {k: v for k, v in groups.items() if len(v) > 1}
