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
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaxpass.gcscope import cyclic_gc_paused
from vaxpass.identity import pseudonym
from vaxpass.registry.adapter import BlockingQuery, PopulationRegistry, PreparedSource, RegistryEntry
from vaxpass.registry.config import MatchConfig
from vaxpass.registry.decide import Decision, decide
from vaxpass.registry.history import link_key
from vaxpass.registry.linker import link, prepared_chunks
from vaxpass.registry.prepare import Vocab, prepare_records
from vaxpass.store import session_scope
from vaxpass.store.bulk import insert_rows, update_rows
from vaxpass.store.listed import value_lists
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


# A foreigner's decision: (outcome, method, reason, score, evidence, candidate registry ids) as stored.
_FOREIGN = ("FOREIGN", "passport", "foreign_national", 1.0, "{}", "[]")


def _ids_text(ids: list[int]) -> str:
    """`json.dumps` of a list of registry ids (ints: each written as its repr)."""
    return f"[{', '.join(map(int.__repr__, ids))}]"


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


_PERSON_COLUMNS = ("id", "kind", "registry_id", "full_name", "dob", "sex", "national_id", "nationality", "passport_no")
_DECISION_COLUMNS = ("dose_record_id", "cycle_id", "person_id", "outcome", "method", "reason", "score", "evidence",
                     "candidate_registry_ids")
_RECORD_UPDATE = ("status", "status_reason", "person_id")
_PERSONS = Person.metadata.tables[Person.__tablename__]
_DECISIONS = MatchDecision.metadata.tables[MatchDecision.__tablename__]
_RECORDS = DoseRecord.metadata.tables[DoseRecord.__tablename__]


def save_persons(session: Session, persons: dict[str, dict[str, Any]]) -> None:
    """Insert the persons not yet in the store (a person's identity row is written once)."""
    ids = list(persons)
    existing: set[str] = set()
    for listed in value_lists(session.connection(), ids):
        existing.update(session.scalars(select(Person.id).where(listed.has(Person.id))))
    # in id order: parallel matching tasks inserting overlapping persons then wait for each other, never deadlock;
    # a person another partition's task inserted meanwhile is skipped (matching runs in parallel)
    row = itemgetter(*_PERSON_COLUMNS)
    fresh = [row(persons[pid]) for pid in sorted(persons) if pid not in existing]
    insert_rows(session.connection(), _PERSONS, _PERSON_COLUMNS, fresh, skip_existing=True, batched=True)


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
    return _blocking_query([r.national_id for r in records], [r.dob for r in records])


def _blocking_query(national_ids: Sequence[str | None], dobs: Sequence[date | None]) -> BlockingQuery:
    ids = [i for i in national_ids if i and i.isdigit()]
    return BlockingQuery(
        cccd=frozenset(i for i in ids if len(i) == 12), cmnd=frozenset(i for i in ids if len(i) == 9),
        dob=frozenset(v.isoformat() for d in set(dobs) if d for v in _dob_variants(d)),
        cccd_prefix=frozenset(i[:6] for i in ids if len(i) == 12))


def match_identities(records: Sequence[RecordIdentity], registry: PopulationRegistry,
                     config: MatchConfig | None = None) -> list[Decision]:
    """Decide every record against the registry (no store involved: the benchmark calls this too)."""
    return _match_columns([r.full_name for r in records], [r.dob for r in records], [r.sex for r in records],
                          [r.national_id for r in records], registry, config)


def _match_columns(full_name: list[str | None], dob: list[date | None], sex: list[str | None],
                   national_id: list[str | None], registry: PopulationRegistry,
                   config: MatchConfig | None) -> list[Decision]:
    """`match_identities` of records given column by column."""
    cfg = config or MatchConfig()
    query = _blocking_query(national_id, dob)
    prepared = registry.prepared(query, chunk_size=cfg.scan_chunk) if isinstance(registry, PreparedSource) else None
    vocab = prepared.vocab() if prepared is not None else Vocab()
    side = prepare_records(vocab, full_name=full_name, dob=dob, sex=sex, national_id=national_id)
    if prepared is not None:
        chunks = prepared.sides(cfg.scan_chunk)
    else:
        rows = registry.candidates(query, chunk_size=cfg.scan_chunk) if full_name else iter(())
        chunks = prepared_chunks(rows, vocab)
    return decide(link(side, chunks, cfg), len(full_name), cfg)


def match_valid_records(db_url: str, registry: PopulationRegistry, *, cycle_id: str, key: bytes,
                        config: MatchConfig | None = None, partition: Partition | None = None) -> MatchSummary:
    """Match every valid record not yet matched (of one `partition` of the records when given: the buckets
    are disjoint, so parallel tasks never decide the same record); returns counts only (no personal data)."""
    query = select(*_MATCH_COLUMNS).where(DoseRecord.status == "valid").order_by(DoseRecord.id)
    if partition is not None:
        query = query.where(partition.of_records(DoseRecord.id))
    # no cyclic GC while the batch is matched: its rows, decisions and evidence (several objects per record,
    # none garbage before the batch is written) set off full collections, 15-25 % of the stage's CPU
    with cyclic_gc_paused(), session_scope(db_url) as session:
        records = session.execute(query).all()  # plain rows: matching only reads them
        # column by column, in _MATCH_COLUMNS order: a row's attributes cost more to read than its values in one
        # C loop (reading them took a tenth of the stage's own Python time)
        ids, nationality, full_name, dob, sex, national_id, _ = zip(*records, strict=True) if records else ((),) * 7
        vn = [i for i, n in enumerate(nationality) if n == "VN"]
        decided = _match_columns([full_name[i] for i in vn], [dob[i] for i in vn], [sex[i] for i in vn],
                                      [national_id[i] for i in vn], registry, config)
        matched_ids = [d.candidate_registry_ids[0] for d in decided if d.outcome == "MATCHED"]
        entries = registry.by_registry_id(matched_ids) if matched_ids else {}
        persons: dict[str, dict[str, Any]] = {}
        registry_persons: dict[int, dict[str, Any]] = {}
        # Rows as tuples in column order, JSON columns as the text json.dumps makes (what the JSON type wrote)
        decisions: list[tuple[Any, ...]] = []
        matched: list[tuple[Any, ...]] = []
        flagged: list[tuple[Any, ...]] = []
        next_decision = iter(decided).__next__  # the citizens' decisions, in the records' order
        for rec, nation, rec_id, nid in zip(records, nationality, ids, national_id, strict=True):
            person: dict[str, Any] | None = None
            if nation != "VN":
                person = foreign_person(key, rec)
                outcome, method, reason, score, evidence, candidates = _FOREIGN
            else:
                d = next_decision()
                outcome, method, reason, score = d.outcome, d.method, d.reason, d.score
                if outcome == "MATCHED":
                    rid = d.candidate_registry_ids[0]
                    person = registry_persons.get(rid)
                    if person is None:  # a person's doses share one row (and one keyed hash)
                        person = registry_persons[rid] = _registry_person(key, entries[rid])
                evidence = d.evidence_text
                if outcome != "MATCHED" and nid:  # evidence is never empty: "model" comes first
                    # (a link key is "p" and hex digits: json.dumps would only quote it)
                    evidence = f'{evidence[:-1]}, "link_key": "{link_key(key, nid)}"}}'
                candidates = _ids_text(d.candidate_registry_ids)
            if person is None:
                person_id = None
                flagged.append(("flagged", reason, None, rec_id))
            else:
                person_id = person["id"]
                persons[person_id] = person
                matched.append(("matched", None, person_id, rec_id))
            decisions.append((rec_id, cycle_id, person_id, outcome, method, reason, score, evidence, candidates))
        save_persons(session, persons)
        conn = session.connection()
        insert_rows(conn, _DECISIONS, _DECISION_COLUMNS, decisions, batched=True)
        # the records' updates grouped by their new status (each group in id order): SQLite's update of the
        # status and person indexes then costs a tenth less than with matched and flagged records interleaved
        update_rows(conn, _RECORDS, _RECORD_UPDATE, matched + flagged)
    return MatchSummary(outcomes=dict(Counter(d[3] for d in decisions)),
                        reasons=dict(Counter(d[5] for d in decisions)))
