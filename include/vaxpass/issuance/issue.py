"""Passport issuance: one current certificate per person, keyed on (person, version).

A person's certificate carries their latest matched dose. A rerun finds the same content already issued and
does nothing; a new dose (or corrected identity) issues the next version and supersedes the previous one.
The UVCI is derived from (person, version) with a keyed hash, so a rerun can never mint a second one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from vaxpass.lineage.record import LineageContext, save_links
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import encode_hc1
from vaxpass.signing.keystore import Signer
from vaxpass.signing.uvci import make_uvci
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, DoseRecord, Person, SigningKey
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


def register_signer(session: Session, signer: Signer, *, purpose: str, store_ref: str) -> str:
    """Record the signer's certificate in the ops store (idempotent); returns its kid in hex."""
    kid = signer.kid.hex()
    if session.get(SigningKey, kid) is None:
        cert = signer.certificate
        session.add(SigningKey(kid=kid, purpose=purpose, subject=cert.subject.rfc4514_string(),
                               certificate_der=cert.public_bytes(Encoding.DER), not_before=cert.not_valid_before_utc,
                               not_after=cert.not_valid_after_utc, store_kind="pkcs12", store_ref=store_ref))
        session.flush()
    return kid


def _latest(records: list[DoseRecord]) -> DoseRecord:
    return max(records, key=lambda r: (r.dose_number or 0, r.vaccination_date or datetime.min.date(), -r.id))


def _content_key(person: Person, dose: DoseRecord) -> str:
    parts = [person.full_name, person.dob, person.sex or "", str(dose.id), dose.vaccine_mp or "",
             str(dose.dose_number), dose.vaccination_date.isoformat() if dose.vaccination_date else ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def issue_certificates(db_url: str, signer: Signer, *, cycle_id: str, issued_at: datetime, uvci_key: bytes,
                       dag_id: str, task_id: str, store_ref: str,
                       partition: Partition | None = None) -> IssuanceSummary:
    """Issue or re-issue the certificate of every person with matched doses whose content changed (only the
    persons of `partition` when given: parallel tasks never sign for the same person).

    One transaction: a crash leaves nothing half-issued, and the rerun derives the same UVCIs.
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
    issued = reissued = unchanged = 0
    skipped: dict[str, int] = defaultdict(int)
    with session_scope(db_url) as session:
        session.autoflush = False
        kid = register_signer(session, signer, purpose="dsc", store_ref=store_ref)
        by_person: dict[str, list[DoseRecord]] = defaultdict(list)
        for rec in session.scalars(matched):
            by_person[str(rec.person_id)].append(rec)
        persons = _by_id(session, Person, Person.id, list(by_person))
        current = {c.person_id: c for c in session.scalars(current_q)}
        versions = dict(session.execute(versions_q).tuples().all())
        new_certs: list[dict[str, Any]] = []
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
            version = versions.get(person_id, 0) + 1
            uvci = make_uvci(hmac.new(uvci_key, f"{person_id}:{version}".encode(), hashlib.sha256).digest())
            payload = build_vaccination_payload(
                full_name=person.full_name, dob=person.dob, vaccine=vaccine, dose_number=dose.dose_number,
                total_doses=max(vaccine.series_doses, dose.dose_number),
                vaccination_date=dose.vaccination_date.isoformat(), uvci=uvci)
            new_certs.append({
                "person_id": person_id, "version": version, "uvci": uvci, "content_key": key,
                "dose_record_id": dose.id, "kid": kid, "issued_at": issued_at, "expires_at": expires_at,
                "cycle_id": cycle_id, "status": "current", "supersedes_id": previous.id if previous else None,
                "hc1": encode_hc1(payload, signer, issued_at=issued_at, expires_at=expires_at)})
            if previous is not None:
                previous.status = "superseded"
                reissued += 1
            else:
                issued += 1
        session.flush()  # the superseded versions first: one current certificate per person at any time
        if new_certs:
            ids = session.scalars(insert(Certificate).returning(Certificate.id, sort_by_parameter_order=True),
                                  new_certs).all()
            context = LineageContext(session, (r for c in new_certs for r in by_person[c["person_id"]]))
            save_links(session, [link for cert_id, c in zip(ids, new_certs, strict=True) for link in context.links(
                certificate_id=cert_id, certified_dose_id=c["dose_record_id"], kid=kid, uvci=c["uvci"],
                version=c["version"], cycle_id=cycle_id, records=by_person[c["person_id"]], dag_id=dag_id,
                task_id=task_id, alg="ES256")])
    return IssuanceSummary(issued=issued, reissued=reissued, unchanged=unchanged, skipped=dict(skipped))


def _by_id(session: Session, model: Any, column: Any, ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(ids), 900):
        out.update({row.id: row for row in session.scalars(select(model).where(column.in_(ids[i:i + 900])))})
    return out
