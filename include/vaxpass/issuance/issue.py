"""Passport issuance: one current certificate per person, keyed on (person, version).

A person's certificate carries their latest matched dose, once the dose's site head has signed it in a
facility confirmation (an unconfirmed dose waits, counted as `unconfirmed`). A rerun finds the same content
already issued and does nothing; a new dose issues the next version and supersedes the previous one; a
corrected record (a new version of the source row the previous certificate was issued on) issues the next
version and revokes the previous one (DESIGN.md §8). The UVCI is derived from (person, version) with a keyed
hash, so a rerun can never mint a second one. Every certificate passes the pre-issuance check before any is
stored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from vaxpass.issuance.check import Signed, check_before_publishing
from vaxpass.lineage.record import LineageContext, save_links
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import encode_hc1
from vaxpass.signing.keys import register_signer, trusted_dsc_ders
from vaxpass.signing.keystore import Signer
from vaxpass.signing.trustlist import TrustList
from vaxpass.signing.uvci import make_uvci
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, ConfirmationItem, DoseRecord, Person
from vaxpass.store.partition import Partition
from vaxpass.vaccines import Vaccine, all_vaccines

# Decision 5772/QĐ-BYT: the QR expires 12 months after it is made.
VALIDITY = timedelta(days=365)


@dataclass(frozen=True)
class IssuanceSummary:
    issued: int
    reissued: int
    unchanged: int
    skipped: dict[str, int]
    revoked: int = 0


def _latest(records: list[DoseRecord]) -> DoseRecord:
    return max(records, key=lambda r: (r.dose_number or 0, r.vaccination_date or datetime.min.date(), -r.id))


def _content_key(person: Person, dose: DoseRecord) -> str:
    parts = [person.full_name, person.dob, person.sex or "", str(dose.id), dose.vaccine_mp or "",
             str(dose.dose_number), dose.vaccination_date.isoformat() if dose.vaccination_date else ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def issue_certificates(db_url: str, signer: Signer, *, cycle_id: str, issued_at: datetime, uvci_key: bytes,
                       dag_id: str, task_id: str, store_ref: str, store_kind: str = "pkcs12",
                       encode: Callable[..., str] = encode_hc1,
                       partition: Partition | None = None) -> IssuanceSummary:
    """Issue or re-issue the certificate of every person with matched, confirmed doses whose content changed
    (only the persons of `partition` when given: parallel tasks never sign for the same person).

    One transaction: a crash leaves nothing half-issued, and the rerun derives the same UVCIs. `encode` signs
    a payload (`encode_hc1`; replaceable so tests can inject a faulty signer the check must catch).
    """
    matched = select(DoseRecord).where(DoseRecord.status == "matched", DoseRecord.person_id.is_not(None))
    current_q = select(Certificate).where(Certificate.status == "current")
    versions_q = select(Certificate.person_id, func.max(Certificate.version)).group_by(Certificate.person_id)
    if partition is not None:
        matched = matched.where(partition.of_persons(DoseRecord.person_id))
        current_q = current_q.where(partition.of_persons(Certificate.person_id))
        versions_q = versions_q.where(partition.of_persons(Certificate.person_id))
    vaccines: dict[str, Vaccine] = {v.mp: v for v in all_vaccines()}
    expires_at = min(issued_at + VALIDITY, signer.certificate.not_valid_after_utc)
    issued = reissued = unchanged = revoked = 0
    skipped: dict[str, int] = defaultdict(int)
    with session_scope(db_url) as session:
        session.autoflush = False
        kid = register_signer(session, signer, purpose="dsc", store_ref=store_ref, store_kind=store_kind)
        by_person: dict[str, list[DoseRecord]] = defaultdict(list)
        for rec in session.scalars(matched):
            by_person[str(rec.person_id)].append(rec)
        persons = _by_id(session, Person, Person.id, list(by_person))
        current = {c.person_id: c for c in session.scalars(current_q)}
        versions = dict(session.execute(versions_q).tuples().all())
        confirmed = _confirmed(session, [_latest(recs).id for recs in by_person.values()])
        previous_doses = _by_id(session, DoseRecord, DoseRecord.id, [c.dose_record_id for c in current.values()])
        new_certs: list[dict[str, Any]] = []
        signed: list[Signed] = []
        for person_id in sorted(by_person):
            person, dose = persons[person_id], _latest(by_person[person_id])
            key = _content_key(person, dose)
            previous = current.get(person_id)
            if previous is not None and previous.content_key == key:
                unchanged += 1
                continue
            vaccine = vaccines.get(dose.vaccine_mp or "")
            if vaccine is None or dose.dose_number is None or dose.vaccination_date is None:
                skipped["incomplete_dose"] += 1
                continue
            if dose.id not in confirmed:
                skipped["unconfirmed"] += 1  # its site head has not signed it yet: issued once confirmed
                continue
            version = versions.get(person_id, 0) + 1
            uvci = make_uvci(hmac.digest(uvci_key, f"{person_id}:{version}".encode(), "sha256"))  # one-shot, in C
            payload = build_vaccination_payload(
                full_name=person.full_name, dob=person.dob, vaccine=vaccine, dose_number=dose.dose_number,
                total_doses=max(vaccine.series_doses, dose.dose_number),
                vaccination_date=dose.vaccination_date.isoformat(), uvci=uvci)
            hc1 = encode(payload, signer, issued_at=issued_at, expires_at=expires_at)
            signed.append(Signed(uvci=uvci, payload=payload, kid=signer.kid, hc1=hc1))
            new_certs.append({
                "person_id": person_id, "version": version, "uvci": uvci, "content_key": key,
                "dose_record_id": dose.id, "kid": kid, "issued_at": issued_at, "expires_at": expires_at,
                "cycle_id": cycle_id, "status": "current", "supersedes_id": previous.id if previous else None,
                "hc1": hc1})
            if previous is None:
                issued += 1
                continue
            reissued += 1
            if _is_correction(previous_doses.get(previous.dose_record_id), dose):
                previous.status, previous.revoked_at, previous.revocation_reason = "revoked", issued_at, "corrected"
                revoked += 1
            else:
                previous.status = "superseded"
        trust = TrustList.from_certificates(x509.load_der_x509_certificate(d) for d in trusted_dsc_ders(session))
        check_before_publishing(signed, trust, at=issued_at)  # raises: the transaction rolls back, none published
        session.flush()  # the superseded versions first: one current certificate per person at any time
        if new_certs:
            table = Certificate.metadata.tables[Certificate.__tablename__]  # Core executemany (insertmanyvalues): no ORM bookkeeping per row
            ids = session.connection().scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                               new_certs).all()
            context = LineageContext(session, (r for c in new_certs for r in by_person[c["person_id"]]))
            save_links(session, [link for cert_id, c in zip(ids, new_certs, strict=True) for link in context.links(
                certificate_id=cert_id, certified_dose_id=c["dose_record_id"], kid=kid, uvci=c["uvci"],
                version=c["version"], cycle_id=cycle_id, records=by_person[c["person_id"]], dag_id=dag_id,
                task_id=task_id, alg="ES256")])
    return IssuanceSummary(issued=issued, reissued=reissued, unchanged=unchanged, skipped=dict(skipped),
                           revoked=revoked)


def _is_correction(previous: DoseRecord | None, dose: DoseRecord) -> bool:
    """The previous certificate was issued on data now corrected: its dose record was replaced by a later
    version of the same source row (a correction, not a new dose)."""
    if previous is None:
        return False
    same_row = (previous.site_code, previous.source_key) == (dose.site_code, dose.source_key)
    return previous.status == "superseded" or (same_row and previous.id != dose.id)


def _confirmed(session: Session, dose_ids: list[int]) -> set[int]:
    out: set[int] = set()
    for i in range(0, len(dose_ids), 900):
        out.update(session.scalars(select(ConfirmationItem.dose_record_id).where(
            ConfirmationItem.dose_record_id.in_(dose_ids[i:i + 900]))))
    return out


def _by_id(session: Session, model: Any, column: Any, ids: list[Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for i in range(0, len(ids), 900):
        out.update({row.id: row for row in session.scalars(select(model).where(column.in_(ids[i:i + 900])))})
    return out
