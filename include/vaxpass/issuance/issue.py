"""Passport issuance: one current certificate per person, keyed on (person, version).

A person's certificate carries their latest matched dose, once the dose's site head has signed it in a
facility confirmation (an unconfirmed dose waits, counted as `unconfirmed`). A rerun finds the same content
already issued and does nothing; a new dose issues the next version and supersedes the previous one; a
corrected record (a new version of the source row the previous certificate was issued on) issues the next
version and revokes the previous one (DESIGN.md §8). The UVCI is derived from (person, version) with a keyed
hash, so a rerun can never mint a second one.

Only the persons who may need a new version are worked through (`_persons_due`: no current certificate, its
dose corrected, or a dose ranking above it), in chunks of `CHUNK_PERSONS`, one transaction per chunk: reads
go through SQLAlchemy Core (plain rows, as named tuples: `named_rows`; no ORM identity map; id lists as one
parameter, `value_lists`), the certificates and their lineage links are written by one executemany each (on
SQLite on the driver's cursor, `store.bulk`; their ids known from the insert), so the memory a task needs depends on the chunk size, not on the size of the city. Every certificate of a chunk passes the pre-issuance check before
the chunk is stored; a failure rolls the chunk back and fails the task (chunks already committed hold only
certificates that passed their own check). A rerun after a crash finds the committed chunks' persons up to
date and goes on with the rest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from vaxpass.gcscope import cyclic_gc_paused
from vaxpass.issuance.check import Signed, check_before_publishing
from vaxpass.lineage.record import LineageContext, read_confirmations, save_chains
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import encode_hc1
from vaxpass.signing.keys import register_signer, trusted_dsc_ders
from vaxpass.signing.keystore import Signer
from vaxpass.signing.trustlist import TrustList
from vaxpass.signing.uvci import make_uvci
from vaxpass.store import session_scope
from vaxpass.store.bulk import bound_values, copies, copy_rows, executemany_on_driver, insert_sql, reserve_ids
from vaxpass.store.listed import named_rows, value_lists
from vaxpass.store.models import Certificate, DoseRecord, Person
from vaxpass.store.partition import Partition
from vaxpass.vaccines import Vaccine, all_vaccines

# Decision 5772/QĐ-BYT: the QR expires 12 months after it is made.
VALIDITY = timedelta(days=365)
# Persons per transaction: bounds the memory of a task (rows, payloads, HC1 texts, lineage) whatever the city.
CHUNK_PERSONS = 2000

_CERTS = Certificate.metadata.tables[Certificate.__tablename__]
# The dose-record columns issuance and lineage need (never the identifying ones: those come from `persons`),
# selected with Core: plain rows, no ORM objects.
_DOSE_COLUMNS = (DoseRecord.id, DoseRecord.person_id, DoseRecord.raw_record_id, DoseRecord.quality_run_id,
                 DoseRecord.cycle_id, DoseRecord.site_code, DoseRecord.source_key, DoseRecord.version,
                 DoseRecord.status, DoseRecord.vaccine_mp, DoseRecord.dose_number, DoseRecord.vaccination_date)
Rec = Any  # a row of `_DOSE_COLUMNS` (or of persons / certificates columns), a named tuple (`named_rows`)


@dataclass(frozen=True)
class IssuanceSummary:
    issued: int
    reissued: int
    unchanged: int
    skipped: dict[str, int]
    revoked: int = 0


@dataclass
class _Tally:
    issued: int = 0
    reissued: int = 0
    unchanged: int = 0
    revoked: int = 0

    def __post_init__(self) -> None:
        self.skipped: dict[str, int] = defaultdict(int)


def _latest(records: Sequence[Rec]) -> Rec:
    return max(records, key=lambda r: (r.dose_number or 0, r.vaccination_date or datetime.min.date(), -r.id))


def _content_key(person: Rec, dose: Rec) -> str:
    parts = [person.full_name, person.dob, person.sex or "", str(dose.id), dose.vaccine_mp or "",
             str(dose.dose_number), dose.vaccination_date.isoformat() if dose.vaccination_date else ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class _Run:
    """What every chunk of one issuance shares."""

    signer: Signer
    kid: str
    trust: TrustList
    cycle_id: str
    issued_at: datetime
    expires_at: datetime
    uvci_key: bytes
    dag_id: str
    task_id: str
    encode: Callable[..., str]
    vaccines: dict[str, Vaccine]


def issue_certificates(db_url: str, signer: Signer, *, cycle_id: str, issued_at: datetime, uvci_key: bytes,
                       dag_id: str, task_id: str, store_ref: str, store_kind: str = "pkcs12",
                       encode: Callable[..., str] = encode_hc1,
                       partition: Partition | None = None, chunk_size: int = CHUNK_PERSONS) -> IssuanceSummary:
    """Issue or re-issue the certificate of every person with matched, confirmed doses whose content changed
    (only the persons of `partition` when given: parallel tasks never sign for the same person).

    One transaction per chunk of `chunk_size` persons: a crash leaves no person half-issued, and the rerun
    derives the same UVCIs. `encode` signs a payload (`encode_hc1`; replaceable so tests can inject a faulty
    signer the check must catch).
    """
    with session_scope(db_url) as session:  # a revoked key is refused here, before anything is signed
        kid = register_signer(session, signer, purpose="dsc", store_ref=store_ref, store_kind=store_kind)
        trust = TrustList.from_certificates(x509.load_der_x509_certificate(d) for d in trusted_dsc_ders(session))
    run = _Run(signer=signer, kid=kid, trust=trust, cycle_id=cycle_id, issued_at=issued_at,
               expires_at=min(issued_at + VALIDITY, signer.certificate.not_valid_after_utc), uvci_key=uvci_key,
               dag_id=dag_id, task_id=task_id, encode=encode, vaccines={v.mp: v for v in all_vaccines()})
    tally = _Tally()
    with session_scope(db_url) as session:
        person_ids, tally.unchanged = _persons_due(session.connection(), partition)
    for start in range(0, len(person_ids), chunk_size):
        # no cyclic GC inside a chunk: its ~100k rows, payloads and link rows were traversed by full
        # collections of ~0.1 s again and again (18 % of issuance CPU), though none is garbage before it ends
        with session_scope(db_url) as session, cyclic_gc_paused():
            _issue_chunk(session.connection(), run, tally, person_ids[start:start + chunk_size])
    return IssuanceSummary(issued=tally.issued, reissued=tally.reissued, unchanged=tally.unchanged,
                           skipped=dict(tally.skipped), revoked=tally.revoked)


def _persons_due(conn: Connection, partition: Partition | None) -> tuple[list[str], int]:
    """The persons with matched doses who may need a new certificate version, and how many others hold a
    current certificate that is already up to date (counted `unchanged`).

    They come in the order of their first dose record, not of their (pseudonymous, so random) ids: a chunk's
    dose records, source rows, match decisions and confirmation items then lie together in the store (records
    are stored site by site, as extracted) instead of one page per row all over it. At 1 M doses on SQLite that
    took issuance from 185 to 168 CPU-s (the store is 5.5 GB; its pages were read one by one from the OS).

    A person is due when they have no current certificate, when its dose is no longer matched to them (a
    correction superseded it), or when a matched dose of theirs ranks above it (`_latest`: a new dose,
    confirmed or not yet). Anyone else's latest matched dose is the certified one, and neither a person's
    identity row nor a dose record's fields ever change (a correction is a new record version), so their content
    key is the one already issued. This is read from the store alone, not from what earlier cycles did: a person
    whose issue task never ran or crashed stays due until issued.
    """
    certified = aliased(DoseRecord, name="certified")
    matched = (DoseRecord.status == "matched") & DoseRecord.person_id.is_not(None)
    if partition is not None:
        matched = matched & partition.of_persons(DoseRecord.person_id)
    due = select(DoseRecord.person_id).outerjoin(
        Certificate, (Certificate.person_id == DoseRecord.person_id) & (Certificate.status == "current")).outerjoin(
        certified, certified.id == Certificate.dose_record_id).where(matched, or_(
            Certificate.id.is_(None), certified.status != "matched", certified.person_id != Certificate.person_id,
            _ranks_above(DoseRecord, certified))).group_by(DoseRecord.person_id).order_by(
        func.min(DoseRecord.id), DoseRecord.person_id)
    person_ids = [str(p) for p in conn.scalars(due)]
    with_doses = int(conn.scalar(select(func.count(DoseRecord.person_id.distinct())).where(matched)) or 0)
    return person_ids, with_doses - len(person_ids)


def _ranks_above(dose: Any, other: Any) -> Any:
    """SQL for `_latest`'s order: `dose` sorts after `other` by (dose number, vaccination date, lower id)."""
    number, other_number = func.coalesce(dose.dose_number, 0), func.coalesce(other.dose_number, 0)
    day, other_day = (func.coalesce(dose.vaccination_date, date.min),
                      func.coalesce(other.vaccination_date, date.min))
    return or_(number > other_number, and_(number == other_number, or_(
        day > other_day, and_(day == other_day, dose.id < other.id))))


def _issue_chunk(conn: Connection, run: _Run, tally: _Tally, person_ids: list[str]) -> None:
    """Issue for the given persons: read, sign, check, then write certificates, the superseded/revoked previous
    versions and the lineage links."""
    by_person: dict[str, list[Rec]] = defaultdict(list)
    # The status is filtered here, not in SQL: with `status = 'matched'` in the query, SQLite (and possibly
    # PostgreSQL) scans the status index, every matched dose of the city for every chunk; by the person ids it
    # reads only the chunk's persons' records (their few unmatched versions are skipped here).
    for rec in _select_in(conn, select(*_DOSE_COLUMNS), DoseRecord.person_id, person_ids):
        if rec.status == "matched":
            by_person[rec.person_id].append(rec)
    persons = {row.id: row for row in _select_in(
        conn, select(Person.id, Person.full_name, Person.dob, Person.sex), Person.id, person_ids)}
    current: dict[str, Rec] = {}
    versions: dict[str, int] = {}
    for cert in _select_in(conn, select(Certificate.id, Certificate.person_id, Certificate.version,
                                        Certificate.status, Certificate.content_key, Certificate.dose_record_id),
                           Certificate.person_id, person_ids):
        versions[cert.person_id] = max(versions.get(cert.person_id, 0), cert.version)
        if cert.status == "current":
            current[cert.person_id] = cert
    latest = {person_id: _latest(recs) for person_id, recs in by_person.items()}
    # the latest doses' confirmations, read once: whether a dose may be issued, and its chain's confirmation link
    confirmed = read_confirmations(conn, [dose.id for dose in latest.values()])
    previous_doses = {row.id: row for row in _rows_by_id(conn, [c.dose_record_id for c in current.values()])}
    new_certs: list[dict[str, Any]] = []
    signed: list[Signed] = []
    superseded: list[dict[str, Any]] = []
    for person_id in person_ids:
        if person_id not in by_person:
            continue  # no matched dose left (its last one moved on since the list was read)
        person, dose = persons[person_id], latest[person_id]
        key = _content_key(person, dose)
        previous = current.get(person_id)
        if previous is not None and previous.content_key == key:
            tally.unchanged += 1
            continue
        vaccine = run.vaccines.get(dose.vaccine_mp or "")
        if vaccine is None or dose.dose_number is None or dose.vaccination_date is None:
            tally.skipped["incomplete_dose"] += 1
            continue
        if dose.id not in confirmed:
            tally.skipped["unconfirmed"] += 1  # its site head has not signed it yet: issued once confirmed
            continue
        version = versions.get(person_id, 0) + 1
        uvci = make_uvci(hmac.digest(run.uvci_key, f"{person_id}:{version}".encode(), "sha256"))  # one-shot, in C
        payload = build_vaccination_payload(
            full_name=person.full_name, dob=person.dob, vaccine=vaccine, dose_number=dose.dose_number,
            total_doses=max(vaccine.series_doses, dose.dose_number),
            vaccination_date=dose.vaccination_date.isoformat(), uvci=uvci)
        hc1 = run.encode(payload, run.signer, issued_at=run.issued_at, expires_at=run.expires_at)
        signed.append(Signed(uvci=uvci, payload=payload, kid=run.signer.kid, hc1=hc1))
        new_certs.append({
            "person_id": person_id, "version": version, "uvci": uvci, "content_key": key,
            "dose_record_id": dose.id, "kid": run.kid, "issued_at": run.issued_at, "expires_at": run.expires_at,
            "cycle_id": run.cycle_id, "status": "current", "supersedes_id": previous.id if previous else None,
            "hc1": hc1})
        if previous is None:
            tally.issued += 1
            continue
        tally.reissued += 1
        if _is_correction(previous_doses.get(previous.dose_record_id), dose):
            superseded.append({"cert_id": previous.id, "new_status": "revoked", "at": run.issued_at,
                               "reason": "corrected"})
            tally.revoked += 1
        else:
            superseded.append({"cert_id": previous.id, "new_status": "superseded", "at": None, "reason": None})
    check_before_publishing(signed, run.trust, at=run.issued_at)  # raises: the chunk rolls back, none published
    if superseded:  # the previous versions first: one current certificate per person at any time
        conn.execute(update(_CERTS).where(_CERTS.c.id == bindparam("cert_id")).values(
            status=bindparam("new_status"), revoked_at=bindparam("at"), revocation_reason=bindparam("reason")),
            superseded)
    if not new_certs:
        return
    ids = _insert_certificates(conn, new_certs)
    context = LineageContext(conn, [r for c in new_certs for r in by_person[c["person_id"]]],
                             confirmations=confirmed)
    save_chains(conn, [context.chain(
        certificate_id=cert_id, certified_dose_id=c["dose_record_id"], kid=run.kid, uvci=c["uvci"],
        version=c["version"], cycle_id=run.cycle_id, records=by_person[c["person_id"]], dag_id=run.dag_id,
        task_id=run.task_id, alg="ES256") for cert_id, c in zip(ids, new_certs, strict=True)])


_CERT_COLUMNS = ("person_id", "version", "uvci", "content_key", "dose_record_id", "kid", "issued_at", "expires_at",
                 "cycle_id", "status", "supersedes_id", "hc1")
_INSERT_CERTS_QMARK = insert_sql(_CERTS, _CERT_COLUMNS)
# Past it SQLite picks a new row's id at random (https://sqlite.org/autoinc.html): the ids are then read back.
_SQLITE_MAX_ROWID = 2**63 - 1


def _insert_certificates(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows with one executemany and return their ids, in the rows' order.

    On PostgreSQL through psycopg 3 the ids are taken from the sequence first and the rows copied with them
    (`COPY`); through another driver they come back with the insert (RETURNING, sorted by the parameters'
    order). On SQLite the
    rows go to the driver's cursor (SQLAlchemy's RETURNING with the rows' order kept inserts row by row there,
    the largest cost of the write), each value converted as its column's type binds it (the two timestamps,
    ~3 µs a value: each distinct one once; every other column binds as it is). Their ids are then known without
    reading every new row back by UVCI: SQLite gives a row without an id the largest id in the table plus one,
    so when the largest id grew by exactly the number of rows, the rows took the ids after the previous
    largest, in order (rows another connection inserted in between, or ids chosen otherwise, would break the
    equality: then they are read by UVCI).
    """
    if copies(conn):
        ids = reserve_ids(conn, _CERTS, len(rows))
        copy_rows(conn, _CERTS, ("id", *_CERT_COLUMNS),
                  [(cert_id, *(row[name] for name in _CERT_COLUMNS)) for cert_id, row in zip(ids, rows, strict=True)])
        return ids
    if conn.dialect.name != "sqlite":
        inserted = conn.execute(insert(_CERTS).returning(_CERTS.c.id, sort_by_parameter_order=True), rows)
        return list(inserted.scalars())
    values = bound_values(conn, _CERTS, _CERT_COLUMNS, [[row[name] for name in _CERT_COLUMNS] for row in rows])
    largest = select(func.max(_CERTS.c.id))
    before = conn.scalar(largest) or 0
    executemany_on_driver(conn, _INSERT_CERTS_QMARK, values)
    after = conn.scalar(largest) or 0
    if after - before == len(rows) and after < _SQLITE_MAX_ROWID:
        return list(range(before + 1, after + 1))
    return _ids_by_uvci(conn, [row["uvci"] for row in rows])


def _is_correction(previous: Rec | None, dose: Rec) -> bool:
    """The previous certificate was issued on data now corrected: its dose record was replaced by a later
    version of the same source row (a correction, not a new dose)."""
    if previous is None:
        return False
    same_row = (previous.site_code, previous.source_key) == (dose.site_code, dose.source_key)
    return bool(previous.status == "superseded" or (same_row and previous.id != dose.id))


def _ids_by_uvci(conn: Connection, uvcis: list[str]) -> list[int]:
    found: dict[str, int] = {}
    for listed in value_lists(conn, uvcis):
        for uvci, cert_id in conn.execute(select(Certificate.uvci, Certificate.id).where(
                listed.has(Certificate.uvci))):
            found[uvci] = cert_id
    return [found[uvci] for uvci in uvcis]


def _rows_by_id(conn: Connection, ids: list[int]) -> list[Rec]:
    return _select_in(conn, select(*_DOSE_COLUMNS), DoseRecord.id, ids)


def _select_in(conn: Connection, query: Any, column: Any, values: Sequence[Any]) -> list[Rec]:
    """The rows of `query` whose `column` is one of `values` (`value_lists`: one statement on SQLite)."""
    out: list[Rec] = []
    for listed in value_lists(conn, values):
        out.extend(named_rows(conn.execute(query.where(listed.has(column)))))
    return out
