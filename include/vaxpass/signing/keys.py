"""The ops store's register of signing certificates (DSCs, facility heads, the PDF signer): which exist, which
are active, retired or revoked. The keys themselves stay in their key stores; only certificates are kept here.

`active`: signs now. `retired`: replaced by a rotation, no longer signs, but stays in the trust list until the
certificates it signed expire. `revoked`: compromised or withdrawn; out of the trust list at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.orm import Session

from vaxpass.errors import SigningError
from vaxpass.signing.keystore import Signer
from vaxpass.store.models import SigningKey

ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"


def register_signer(session: Session, signer: Signer, *, purpose: str, store_ref: str,
                    store_kind: str = "pkcs12") -> str:
    """Record the signer's certificate in the ops store (idempotent) and return its kid in hex; a revoked key
    is refused (SigningError), so nothing is ever signed with it again."""
    kid = signer.kid.hex()
    row = session.get(SigningKey, kid)
    if row is None:
        cert = signer.certificate
        session.add(SigningKey(kid=kid, purpose=purpose, subject=cert.subject.rfc4514_string(),
                               certificate_der=cert.public_bytes(Encoding.DER), not_before=cert.not_valid_before_utc,
                               not_after=cert.not_valid_after_utc, store_kind=store_kind, store_ref=store_ref))
        session.flush()
    elif row.status == REVOKED:
        raise SigningError(f"signing key {kid} ({row.purpose}) is revoked: rotate to a new key before signing")
    return kid


def set_status(session: Session, kid: str, status: str, *, at: datetime) -> SigningKey:
    """Retire or revoke a key by kid (hex); revoking is final, retiring a revoked key keeps it revoked."""
    if status not in (ACTIVE, RETIRED, REVOKED):
        raise SigningError(f"unknown key status {status!r}")
    row = session.get(SigningKey, kid.lower())
    if row is None:
        raise SigningError(f"no signing key with kid {kid}")
    if row.status != REVOKED and row.status != status:
        row.status, row.status_changed_at = status, at
    return row


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    purpose: str
    subject: str
    not_before: datetime
    not_after: datetime
    status: str
    store_kind: str
    store_ref: str

    def state_at(self, at: datetime) -> str:
        """The status, or `expired` / `not-yet-valid` when the certificate is outside its validity at `at`."""
        if self.status == ACTIVE and at >= self.not_after:
            return "expired"
        if self.status == ACTIVE and at < self.not_before:
            return "not-yet-valid"
        return self.status


def list_keys(session: Session) -> list[KeyInfo]:
    rows = session.scalars(select(SigningKey).order_by(SigningKey.purpose, SigningKey.not_before)).all()
    return [KeyInfo(kid=r.kid, purpose=r.purpose, subject=r.subject, not_before=r.not_before, not_after=r.not_after,
                    status=r.status, store_kind=r.store_kind, store_ref=r.store_ref) for r in rows]


def trusted_dsc_ders(session: Session, *, at: datetime | None = None) -> list[bytes]:
    """DER certificates of the document signers verifiers should trust: active and retired, never revoked. With
    `at`, a retired DSC past its notAfter is left out: every certificate it signed has expired by then (their
    expiry never passes the signer's notAfter)."""
    query = select(SigningKey.certificate_der).where(SigningKey.purpose == "dsc", SigningKey.status != REVOKED)
    if at is not None:
        query = query.where((SigningKey.status != RETIRED) | (SigningKey.not_after > at))
    return list(session.scalars(query.order_by(SigningKey.not_before)))
