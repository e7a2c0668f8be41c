"""PAdES signatures on PDFs (facility confirmations, PDF certificates) with pyHanko, and their validation.

The signing key never leaves its `Signer`; pyHanko gets it as an in-memory key object, parsed once per
signer rather than once per document (pyHanko's PKCS#12 loader re-parses it every time).

Speed: pyHanko builds the CMS SignedData with asn1crypto on every signature, re-encoding the certificates and
attributes (about two thirds of its time for a one-page PDF). For a PAdES B-B signature everything in it but the
document digest and the signature value is the same for every document of one signer, so `_CmsTemplate` asks
pyHanko once for a signature over a dummy digest, keeps its DER cut into fixed pieces, and per document only
puts the digest and a fresh signature in; pyHanko still prepares the PDF (field, signature dictionary, byte
range, incremental update). The template checks itself against pyHanko's own output when it is built.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from vaxpass.errors import SigningError
from vaxpass.signing.keystore import Signer

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


def _tlv(tag: int, body: bytes) -> bytes:
    """One DER element: tag, definite length, body."""
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + body


_DUMMY_DIGEST = bytes(range(0xA0, 0xC0))  # 32 bytes that cannot occur by chance in the attributes around them


class _NoTemplateError(Exception):
    """The signer's key or signature algorithm is not one the template signs with (ECDSA or RSA PKCS#1 v1.5
    with SHA-256): pyHanko signs on its own."""


class _CmsTemplate:
    """The CMS SignedData of a PAdES B-B signature by one signer, as fixed DER pieces around the two values that
    change per document: the message digest (inside the signed attributes) and the signature value."""

    def __init__(self, signer: signers.SimpleSigner, key: Any) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise _NoTemplateError(type(key).__name__)
        made = asyncio.run(signer.async_sign(_DUMMY_DIGEST, "sha256", use_pades=True,
                                             signed_attr_settings=PdfCMSSignedAttributes()))
        signed_data = made["content"]
        [info] = signed_data["signer_infos"]
        attrs = info["signed_attrs"].contents
        if attrs.count(_DUMMY_DIGEST) != 1:
            raise SigningError("unexpected PAdES signed attributes")
        self._attrs_head, self._attrs_tail = attrs.split(_DUMMY_DIGEST)
        self._info_head = info["version"].dump() + info["sid"].dump() + info["digest_algorithm"].dump()
        self._info_tail = info["signature_algorithm"].dump()
        self._data_head = (signed_data["version"].dump() + signed_data["digest_algorithms"].dump()
                           + signed_data["encap_content_info"].dump() + signed_data["certificates"].dump())
        self._content_type = made["content_type"].dump()
        algorithm = info["signature_algorithm"]["algorithm"].native
        if isinstance(key, ec.EllipticCurvePrivateKey) and algorithm == "sha256_ecdsa":
            self._sign: Callable[[bytes], bytes] = lambda tbs: key.sign(tbs, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPrivateKey) and algorithm == "sha256_rsa":
            self._sign = lambda tbs: key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise _NoTemplateError(algorithm)
        # the pieces put back together with pyHanko's own signature must give pyHanko's own DER, and that
        # signature must verify over the signed attributes as they are rebuilt here
        signature = info["signature"].native
        # `bytes_reserved` for pyHanko (hex digits of /Contents; giving it skips pyHanko's trial signature, 2x
        # faster): room for any signature value of this key (a DER ECDSA one varies by a few bytes), plus a margin
        self.reserve = 2 * len(self._assemble(_DUMMY_DIGEST, bytes(len(signature) + 8))) + 64
        if self._assemble(_DUMMY_DIGEST, signature) != made.dump():
            raise SigningError("CMS template does not reproduce pyHanko's SignedData")
        tbs = self.signed_attributes(_DUMMY_DIGEST)
        try:
            if isinstance(key, ec.EllipticCurvePrivateKey):
                key.public_key().verify(signature, tbs, ec.ECDSA(hashes.SHA256()))
            else:
                key.public_key().verify(signature, tbs, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise SigningError("CMS template signs other bytes than pyHanko") from None

    def signed_attributes(self, digest: bytes) -> bytes:
        """The DER the signature covers: the attributes as a SET OF (RFC 5652 §5.4)."""
        return _tlv(0x31, self._attrs_head + digest + self._attrs_tail)

    def _assemble(self, digest: bytes, signature: bytes) -> bytes:
        attrs = _tlv(0xA0, self._attrs_head + digest + self._attrs_tail)  # [0] IMPLICIT in the SignerInfo
        info = _tlv(0x30, self._info_head + attrs + self._info_tail + _tlv(0x04, signature))
        signed_data = _tlv(0x30, self._data_head + _tlv(0x31, info))
        return _tlv(0x30, self._content_type + _tlv(0xA0, signed_data))

    def sign(self, digest: bytes) -> bytes:
        """The DER ContentInfo of a signature over a document whose byte-range SHA-256 is `digest`."""
        if len(digest) != len(_DUMMY_DIGEST):
            raise SigningError("the CMS template signs SHA-256 digests only")
        return self._assemble(digest, self._sign(self.signed_attributes(digest)))


class _DerContentInfo(cms.ContentInfo):
    """A ContentInfo that dumps the DER it was loaded from. asn1crypto takes any header whose last byte is 0x80
    (a long length such as 0x0580) for an indefinite length and re-encodes the whole tree, certificates and
    all (~0.1 s): for one signer's template that hits every signature value of one particular length."""

    _der: bytes = b""

    @classmethod
    def of(cls, der: bytes) -> _DerContentInfo:
        value = cls.load(der)
        value._der = der
        return value

    def dump(self, force: bool = False) -> bytes:
        return self._der if self._der and not force else super().dump(force)


class _TemplateSigner(signers.SimpleSigner):
    """pyHanko's `SimpleSigner`, with PAdES B-B signatures made from a `_CmsTemplate`; anything else (a dry
    run, a timestamp, other attributes or digests) goes pyHanko's own way."""

    def __init__(self, *args: Any, key: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._template: _CmsTemplate | None = None  # built with pyHanko's own `async_sign` below
        self.reserve: int | None = None  # None: pyHanko sizes /Contents with a trial signature
        try:
            self._template = _CmsTemplate(self, key)
            self.reserve = self._template.reserve
        except _NoTemplateError:
            pass

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run: bool = False,
                         use_pades: bool = False, timestamper: Any = None,
                         signed_attr_settings: PdfCMSSignedAttributes | None = None, is_pdf_sig: bool = True,
                         encap_content_info: Any = None) -> cms.ContentInfo:
        settings = signed_attr_settings or PdfCMSSignedAttributes()
        if (self._template is not None and not dry_run and use_pades and timestamper is None and is_pdf_sig
                and encap_content_info is None and digest_algorithm.lower() == "sha256"
                and settings.adobe_revinfo_attr is None and settings.cades_signed_attrs is None):
            return _DerContentInfo.of(self._template.sign(data_digest))
        return await super().async_sign(data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
                                        timestamper=timestamper, signed_attr_settings=signed_attr_settings,
                                        is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)


class PadesSigner:
    """A pyHanko signer built once from a vaxpass `Signer` (key, certificate, chain)."""

    def __init__(self, signer: Signer) -> None:
        key_der = signer.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        self._signer = outside_event_loop(
            _TemplateSigner, signing_cert=_asn1_cert(signer.certificate),
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in signer.chain]),
            key=signer.key)

    def sign(self, pdf: bytes, *, field_name: str = "Signature1", reason: str | None = None,
             location: str | None = None) -> bytes:
        """The PDF with an incremental PAdES B-B signature appended."""
        meta = signers.PdfSignatureMetadata(field_name=field_name, subfilter=SigSeedSubFilter.PADES,
                                            reason=reason, location=location)
        try:
            out = outside_event_loop(signers.sign_pdf, IncrementalPdfFileWriter(io.BytesIO(pdf)), meta,
                                     signer=self._signer, bytes_reserved=self._signer.reserve)
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
