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

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vaxpass.lineage.record import record_lineage
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import encode_hc1
from vaxpass.signing.keystore import Signer
from vaxpass.signing.uvci import make_uvci
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, DoseRecord, Person, SigningKey
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
                       dag_id: str, task_id: str, store_ref: str) -> IssuanceSummary:
    """Issue or re-issue the certificate of every person with matched doses whose content changed."""
    vaccines: dict[str, Vaccine] = {v.mp: v for v in all_vaccines()}
    expires_at = min(issued_at + VALIDITY, signer.certificate.not_valid_after_utc)
    issued = reissued = unchanged = 0
    skipped: dict[str, int] = defaultdict(int)
    with session_scope(db_url) as session:
        kid = register_signer(session, signer, purpose="dsc", store_ref=store_ref)
        by_person: dict[str, list[DoseRecord]] = defaultdict(list)
        for rec in session.scalars(select(DoseRecord).where(DoseRecord.status == "matched",
                                                            DoseRecord.person_id.is_not(None))):
            by_person[rec.person_id].append(rec)  # type: ignore[index]
        for person_id in sorted(by_person):
            records = by_person[person_id]
            person = session.get(Person, person_id)
            assert person is not None
            dose = _latest(records)
            key = _content_key(person, dose)
            current = session.scalar(select(Certificate).filter_by(person_id=person_id, status="current"))
            if current is not None and current.content_key == key:
                unchanged += 1
                continue
            vaccine = vaccines.get(dose.vaccine_mp or "")
            if vaccine is None or dose.dose_number is None or dose.vaccination_date is None:
                skipped["incomplete_dose"] += 1
                continue
            version = (session.scalar(select(func.max(Certificate.version)).filter_by(person_id=person_id)) or 0) + 1
            uvci = make_uvci(hmac.new(uvci_key, f"{person_id}:{version}".encode(), hashlib.sha256).digest())
            payload = build_vaccination_payload(
                full_name=person.full_name, dob=person.dob, vaccine=vaccine, dose_number=dose.dose_number,
                total_doses=max(vaccine.series_doses, dose.dose_number),
                vaccination_date=dose.vaccination_date.isoformat(), uvci=uvci)
            hc1 = encode_hc1(payload, signer, issued_at=issued_at, expires_at=expires_at)
            cert = Certificate(person_id=person_id, version=version, uvci=uvci, content_key=key,
                               dose_record_id=dose.id, hc1=hc1, kid=kid, issued_at=issued_at,
                               expires_at=expires_at, cycle_id=cycle_id, status="current",
                               supersedes_id=current.id if current else None)
            if current is not None:
                current.status = "superseded"
                reissued += 1
            else:
                issued += 1
            session.add(cert)
            session.flush()
            record_lineage(session, cert, records, dag_id=dag_id, task_id=task_id, alg="ES256")
    return IssuanceSummary(issued=issued, reissued=reissued, unchanged=unchanged, skipped=dict(skipped))
