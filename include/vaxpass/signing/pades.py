"""PAdES signatures on PDFs (facility confirmations, PDF certificates) with pyHanko, and their validation.

The signing key never leaves its `Signer`; pyHanko gets it as an in-memory key object, parsed once per
signer rather than once per document (pyHanko's PKCS#12 loader re-parses it every time).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from vaxpass.errors import SigningError
from vaxpass.signing.keystore import Signer

# Room for an ECDSA CMS signature with its chain: reserving it skips pyHanko's trial signature (2x faster).
_BYTES_RESERVED = 8192

T = TypeVar("T")


def outside_event_loop(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call one of pyHanko's blocking functions, which run their own event loop (`asyncio.run`): from a thread
    that already runs one (an async caller, a Playwright session) it goes to a worker thread instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


class PadesSigner:
    """A pyHanko signer built once from a vaxpass `Signer` (key, certificate, chain)."""

    def __init__(self, signer: Signer) -> None:
        key_der = signer.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        self._signer = signers.SimpleSigner(
            signing_cert=_asn1_cert(signer.certificate),
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in signer.chain]))

    def sign(self, pdf: bytes, *, field_name: str = "Signature1", reason: str | None = None,
             location: str | None = None) -> bytes:
        """The PDF with an incremental PAdES B-B signature appended."""
        meta = signers.PdfSignatureMetadata(field_name=field_name, subfilter=SigSeedSubFilter.PADES,
                                            reason=reason, location=location)
        try:
            out = outside_event_loop(signers.sign_pdf, IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=self._signer,
                                   bytes_reserved=_BYTES_RESERVED)
        except Exception as exc:  # pyHanko raises many types; callers get one
            raise SigningError(f"PDF signing failed: {type(exc).__name__}") from exc
        return out.getvalue()


@dataclass(frozen=True)
class PdfSignatureStatus:
    """What a PDF reader would say: intact (bytes unchanged), valid (cryptographically), trusted (chain)."""

    signer_subject: str
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and self.covers_whole_file


def validate_pdf(pdf: bytes, trust_roots: Sequence[x509.Certificate]) -> list[PdfSignatureStatus]:
    """Validate every embedded signature against the given roots (no network: no revocation fetching)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    context = ValidationContext(trust_roots=[_asn1_cert(c) for c in trust_roots], allow_fetching=False)
    out = []
    for embedded in reader.embedded_signatures:
        status = outside_event_loop(validate_pdf_signature, embedded, context)
        out.append(PdfSignatureStatus(
            signer_subject=status.signing_cert.subject.human_friendly if status.signing_cert else "",
            intact=bool(status.intact), valid=bool(status.valid), trusted=bool(status.trusted),
            covers_whole_file=embedded.coverage.name == "ENTIRE_FILE"))
    return out
