"""Matching valid dose records to persons of the population registry (the police cross-check).

Vietnamese records go through the linker (`linker.link`: blocking, Fellegi–Sunter weights) and get MATCHED,
REVIEW (top candidates with per-field evidence) or NO_MATCH (sent to the district as "not found"); foreigners
bypass the registry (FOREIGN, identified by passport), as the regulation says. Counts only leave this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vaxpass.identity import pseudonym
from vaxpass.registry.adapter import BlockingQuery, PopulationRegistry, PreparedSource, RegistryEntry
from vaxpass.registry.config import MatchConfig
from vaxpass.registry.decide import Decision, decide
from vaxpass.registry.history import link_key
from vaxpass.registry.linker import link, prepared_chunks
from vaxpass.registry.prepare import Vocab, prepare_records
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, MatchDecision, Person
from vaxpass.store.partition import Partition

# What matching reads of a valid record.
_MATCH_COLUMNS = (DoseRecord.id, DoseRecord.nationality, DoseRecord.full_name, DoseRecord.dob, DoseRecord.sex,
                  DoseRecord.national_id, DoseRecord.passport_no)


@dataclass(frozen=True)
class MatchSummary:
    outcomes: dict[str, int]
    reasons: dict[str, int]


@dataclass(frozen=True)
class RecordIdentity:
    """What matching reads of a dose record."""

    full_name: str | None
    dob: date | None
    sex: str | None
    national_id: str | None


def _registry_person(key: bytes, entry: RegistryEntry) -> dict[str, Any]:
    return {"id": pseudonym(key, "VN", entry.cccd), "kind": "citizen", "registry_id": entry.registry_id,
            "full_name": entry.full_name, "dob": entry.dob.isoformat(), "sex": entry.sex,
            "national_id": entry.cccd, "nationality": "VN", "passport_no": None}


class ForeignRecord(Protocol):
    """What a foreigner's person row is made of: a `DoseRecord`, or a row of its columns."""

    @property
    def passport_no(self) -> str | None: ...
    @property
    def nationality(self) -> str: ...
    @property
    def full_name(self) -> str | None: ...
    @property
    def dob(self) -> date | None: ...
    @property
    def sex(self) -> str | None: ...


def foreign_person(key: bytes, rec: ForeignRecord) -> dict[str, Any]:
    """The person row of a foreigner, identified by nationality and passport (the registry holds citizens only)."""
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
    # in id order: parallel matching tasks inserting overlapping persons then wait for each other, never deadlock
    fresh = [persons[pid] for pid in sorted(persons) if pid not in existing]
    if fresh:
        session.execute(_insert_new_persons(session), fresh)


def _insert_new_persons(session: Session) -> Any:
    """INSERT that skips a person another partition's task inserted meanwhile (matching runs in parallel).

    No conflict target: PostgreSQL resolves only the target's conflicts, so with `(id)` a concurrent insert of
    the same registry person still failed on the `registry_id` unique key (seen in CI)."""
    dialect = session.get_bind().dialect.name
    table = Person.metadata.tables[Person.__tablename__]  # Core: no ORM bookkeeping per row
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE") if dialect in ("mysql", "mariadb") else insert(table)


def person_from_registry(session: Session, key: bytes, entry: RegistryEntry) -> str:
    """The pseudonymous id of a registry person, creating their row if needed."""
    person = _registry_person(key, entry)
    save_persons(session, {person["id"]: person})
    return str(person["id"])


def _dob_variants(d: date) -> Iterator[date]:
    yield d
    if d.day <= 12 and d.day != d.month:
        yield date(d.year, d.day, d.month)
    for dy in (-1, 1):
        try:
            yield d.replace(year=d.year + dy)
        except ValueError:  # 29 February
            yield d.replace(year=d.year + dy, day=28) + timedelta(days=1)


def blocking_query(records: Sequence[RecordIdentity]) -> BlockingQuery:
    """The registry keys a batch can block on (the linker applies the exact rules on what comes back)."""
    ids = [r.national_id for r in records if r.national_id and r.national_id.isdigit()]
    return BlockingQuery(
        cccd=frozenset(i for i in ids if len(i) == 12), cmnd=frozenset(i for i in ids if len(i) == 9),
        dob=frozenset(v.isoformat() for r in records if r.dob for v in _dob_variants(r.dob)),
        cccd_prefix=frozenset(i[:6] for i in ids if len(i) == 12))


def match_identities(records: Sequence[RecordIdentity], registry: PopulationRegistry,
                     config: MatchConfig | None = None) -> list[Decision]:
    """Decide every record against the registry (no store involved: the benchmark calls this too)."""
    cfg = config or MatchConfig()
    query = blocking_query(records)
    prepared = registry.prepared(query, chunk_size=cfg.scan_chunk) if isinstance(registry, PreparedSource) else None
    vocab = prepared.vocab() if prepared is not None else Vocab()
    side = prepare_records(vocab, full_name=[r.full_name for r in records], dob=[r.dob for r in records],
                           sex=[r.sex for r in records], national_id=[r.national_id for r in records])
    if prepared is not None:
        chunks = prepared.sides(cfg.scan_chunk)
    else:
        rows = registry.candidates(query, chunk_size=cfg.scan_chunk) if records else iter(())
        chunks = prepared_chunks(rows, vocab)
    return decide(link(side, chunks, cfg), len(records), cfg)


def match_valid_records(db_url: str, registry: PopulationRegistry, *, cycle_id: str, key: bytes,
                        config: MatchConfig | None = None, partition: Partition | None = None) -> MatchSummary:
    """Match every valid record not yet matched (of one `partition` of the records when given: the buckets
    are disjoint, so parallel tasks never decide the same record); returns counts only (no personal data)."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    query = select(*_MATCH_COLUMNS).where(DoseRecord.status == "valid").order_by(DoseRecord.id)
    if partition is not None:
        query = query.where(partition.of_records(DoseRecord.id))
    with session_scope(db_url) as session:
        records = session.execute(query).all()  # plain rows: matching only reads them
        citizens = [r for r in records if r.nationality == "VN"]
        decided = match_identities([RecordIdentity(r.full_name, r.dob, r.sex, r.national_id) for r in citizens],
                                   registry, config)
        matched_ids = [d.candidate_registry_ids[0] for d in decided if d.outcome == "MATCHED"]
        entries = registry.by_registry_id(matched_ids) if matched_ids else {}
        by_record = dict(zip((r.id for r in citizens), decided, strict=True))
        persons: dict[str, dict[str, Any]] = {}
        registry_persons: dict[int, dict[str, Any]] = {}
        decisions: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for rec in records:
            person: dict[str, Any] | None = None
            if rec.nationality != "VN":
                person = foreign_person(key, rec)
                row: dict[str, Any] = {"outcome": "FOREIGN", "method": "passport", "reason": "foreign_national", "score": 1.0,
                       "evidence": {}, "candidate_registry_ids": []}
            else:
                d = by_record[rec.id]
                if d.outcome == "MATCHED":
                    rid = d.candidate_registry_ids[0]
                    person = registry_persons.get(rid)
                    if person is None:  # a person's doses share one row (and one keyed hash)
                        person = registry_persons[rid] = _registry_person(key, entries[rid])
                evidence = d.evidence
                if d.outcome != "MATCHED" and rec.national_id:
                    evidence = {**evidence, "link_key": link_key(key, rec.national_id)}
                row = {"outcome": d.outcome, "method": d.method, "reason": d.reason, "score": d.score,
                       "evidence": evidence, "candidate_registry_ids": d.candidate_registry_ids}
            person_id: str | None = person["id"] if person else None
            if person is not None and person_id is not None:
                persons[person_id] = person
            decisions.append({"dose_record_id": rec.id, "cycle_id": cycle_id, "person_id": person_id, **row})
            updates.append({"rec_id": rec.id, "new_status": "matched" if person else "flagged",
                            "new_reason": None if person else row["reason"], "new_person": person_id})
            outcomes[row["outcome"]] += 1
            reasons[row["reason"]] += 1
        save_persons(session, persons)
        if decisions:
            # Core executemany on the tables: no ORM bookkeeping per row (nothing in the session holds them)
            decisions_table = MatchDecision.metadata.tables[MatchDecision.__tablename__]
            records_table = DoseRecord.metadata.tables[DoseRecord.__tablename__]
            session.execute(insert(decisions_table), decisions)
            session.execute(update(records_table).where(records_table.c.id == bindparam("rec_id")).values(
                status=bindparam("new_status"), status_reason=bindparam("new_reason"),
                person_id=bindparam("new_person")), updates)
    return MatchSummary(outcomes=dict(outcomes), reasons=dict(reasons))
