"""Verification of a certificate in any of its forms — `HC1:` text, a QR image, or the signed PDF — as
`vaxpass verify` does it: signature, trust list, validity at a given time, revocation, and for a PDF its PAdES
signature first. One `Verdict` with a reason code when invalid.

Reason codes beyond `hcert.verify_hc1`'s: unreadable (no file / no QR found), revoked, pdf-signature-invalid,
pdf-changed-after-signing, pdf-untrusted, no-hc1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from vaxpass.errors import VerificationError
from vaxpass.signing.hcert import DecodedHcert, decode_hc1, verify_hc1
from vaxpass.signing.pades import validate_pdf
from vaxpass.signing.pdfcert import hc1_of
from vaxpass.signing.trustlist import TrustList

_PNG, _JPEG, _PDF = b"\x89PNG", b"\xff\xd8\xff", b"%PDF-"


@dataclass(frozen=True)
class Verdict:
    valid: bool
    form: str  # hc1 | image | pdf
    reason: str = ""
    detail: str = ""
    decoded: DecodedHcert | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def payload(self) -> dict[str, Any] | None:
        return self.decoded.payload if self.decoded else None


def uvci_sha256(uvci: str) -> str:
    """A revocation list entry: SHA-256 of the UVCI, hex."""
    return hashlib.sha256(uvci.encode("ascii")).hexdigest()


def load_revocations(path: Path) -> set[str]:
    """The hashes of a revocation list written by `vaxpass revocation export`."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("kind") != "uvci-sha256" or not isinstance(doc.get("hashes"), list):
            raise ValueError("not a uvci-sha256 revocation list")
        return {str(h).lower() for h in doc["hashes"]}
    except (OSError, ValueError, AttributeError) as exc:
        raise VerificationError("bad-revocation-list", f"{path}: {exc}") from None


def trust_of_certificate(path: Path) -> TrustList:
    """A trust list of one document signer certificate (DER or PEM); its country comes from its subject."""
    data = path.read_bytes()
    try:
        cert = (x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate(data))
    except ValueError:
        raise VerificationError("bad-trust-cert", f"{path} is not an X.509 certificate") from None
    countries = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COUNTRY_NAME)
    return TrustList.from_certificates([cert], country=str(countries[0].value) if countries else "VN")


def read_qr(image: bytes) -> str:
    """The text of the QR code in a PNG/JPEG image (zxing-cpp)."""
    import io

    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        picture = Image.open(io.BytesIO(image))
        picture.load()
    except (UnidentifiedImageError, OSError):
        raise VerificationError("unreadable", "not an image") from None
    found = zxingcpp.read_barcodes(picture.convert("L"), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    if not found:
        raise VerificationError("unreadable", "no QR code found in the image")
    return str(found[0].text)


def verify_input(arg: str, trust: TrustList, *, at: datetime, revoked: Collection[str] = (),
                 pdf_roots: Sequence[x509.Certificate] = ()) -> Verdict:
    """Verify `arg`: a path to a PDF, a QR image or a text file holding `HC1:`, or the `HC1:` text itself."""
    path = Path(arg)
    form, notes = "hc1", []
    try:
        if not arg.startswith("HC1:") and path.is_file():
            data = path.read_bytes()
            if data.startswith(_PDF):
                form = "pdf"
                notes.append(_check_pdf(data, pdf_roots))
                text = hc1_of(data)
            elif data.startswith((_PNG, _JPEG)):
                form, text = "image", read_qr(data)
            else:
                text = data.decode("ascii", errors="replace").strip()
        elif not arg.startswith("HC1:"):
            raise VerificationError("unreadable", f"no such file, and not HC1 text: {arg[:40]}")
        else:
            text = arg.strip()
        decoded = verify_hc1(text, trust, now=at)
        uvci = str(decoded.payload["v"][0]["ci"])
        if uvci_sha256(uvci) in revoked:
            raise VerificationError("revoked", uvci)
    except VerificationError as exc:
        partial = _try_decode(text) if "text" in locals() else None
        return Verdict(False, form, exc.reason, exc.detail, partial, notes)
    return Verdict(True, form, decoded=decoded, notes=notes)


def _try_decode(text: str) -> DecodedHcert | None:
    try:
        return decode_hc1(text)
    except VerificationError:
        return None


def _check_pdf(pdf: bytes, roots: Sequence[x509.Certificate]) -> str:
    """The PAdES signature must be intact, valid and cover the whole file; with `roots`, chain to one of them."""
    try:
        statuses = validate_pdf(pdf, roots)
    except Exception as exc:  # pyHanko/pypdf raise many types on damaged files
        raise VerificationError("pdf-signature-invalid", type(exc).__name__) from None
    if not statuses:
        raise VerificationError("pdf-signature-invalid", "the PDF is not signed")
    for status in statuses:
        if not (status.intact and status.valid):
            raise VerificationError("pdf-signature-invalid", status.signer_subject)
        if not status.covers_whole_file:
            raise VerificationError("pdf-changed-after-signing", status.signer_subject)
        if roots and not status.trusted:
            raise VerificationError("pdf-untrusted", status.signer_subject)
    trusted = "trusted root" if roots else "no root given: chain not checked"
    return f"PDF signature valid ({statuses[0].signer_subject}; {trusted})"
