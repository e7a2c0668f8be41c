"""Exports from the ops store: certificates (HC1 text, QR PNG or signed PDF) and the document signer trust list."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from cryptography import x509
from sqlalchemy import select

from vaxpass.signing.hcert import decode_hc1
from vaxpass.signing.keys import trusted_dsc_ders
from vaxpass.signing.keystore import Signer
from vaxpass.signing.pades import PadesSigner
from vaxpass.signing.pdfcert import PdfCertificateSigner
from vaxpass.signing.qr import write_qr_png
from vaxpass.signing.trustlist import TrustList
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate


def safe_name(uvci: str) -> str:
    """A file name for a UVCI: `URN:UVCI:01:VN:ABC#X` → `URN_UVCI_01_VN_ABC_X`."""
    return re.sub(r"[^A-Za-z0-9]+", "_", uvci).strip("_")


def export_certificates(db_url: str, out: Path, *, fmt: str = "hc1", limit: int | None = None) -> int:
    """Write one file per current certificate (the first `limit` by issuance order): `<safe UVCI>.txt` with its
    HC1 string, or `.png` with its QR."""
    out.mkdir(parents=True, exist_ok=True)
    with session_scope(db_url) as session:
        rows = session.execute(select(Certificate.uvci, Certificate.hc1).where(Certificate.status == "current")
                               .order_by(Certificate.id).limit(limit)).tuples().all()
    for uvci, hc1 in rows:
        if fmt == "png":
            write_qr_png(hc1, out / f"{safe_name(uvci)}.png")
        else:
            (out / f"{safe_name(uvci)}.txt").write_text(hc1 + "\n")
    return len(rows)


def export_pdf_certificates(db_url: str, out: Path, signer: Signer, *, limit: int | None = None) -> int:
    """Write `<safe UVCI>.pdf` per current certificate: the bilingual PDF with its QR and fields, PAdES-signed
    by `signer` (the PDF signer of `vaxpass pki init`), the HC1 text attached. The fields come from the signed
    payload, decoded (its signature was checked before it was published)."""
    out.mkdir(parents=True, exist_ok=True)
    maker = PdfCertificateSigner(PadesSigner(signer))
    with session_scope(db_url) as session:
        rows = session.execute(select(Certificate.uvci, Certificate.hc1).where(Certificate.status == "current")
                               .order_by(Certificate.id).limit(limit)).tuples().all()
    for uvci, hc1 in rows:
        decoded = decode_hc1(hc1)
        pdf = maker.make(decoded.payload, hc1, issued_at=decoded.issued_at, expires_at=decoded.expires_at)
        (out / f"{safe_name(uvci)}.pdf").write_bytes(pdf)
    return len(rows)


def export_trustlist(db_url: str, out: Path, *, at: datetime | None = None) -> int:
    """The document signer certificates verifiers should trust (active, and retired until their notAfter at `at`;
    never revoked), as the JSON trust list."""
    with session_scope(db_url) as session:
        ders = trusted_dsc_ders(session, at=at)
    certs = [x509.load_der_x509_certificate(der) for der in ders]
    TrustList.from_certificates(certs, country="VN").save(out)
    return len(certs)
