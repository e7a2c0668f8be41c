"""The project's own small CA (embedded mode): a root, document signer certificates (DSC) for the QR, and
facility-head certificates for signing PDF confirmations.

In production these come from the Department of Information and Communications' CA and live on a PKCS#11
token; here every key is EC P-256 in an encrypted PKCS#12 file. All validity dates derive from `now`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from vaxpass.errors import SigningError
from vaxpass.signing.keystore import (
    PrivateKey,
    Signer,
    kid_of,
    load_signer,
    require_passphrase,
    save_pkcs12,
    utc,
    write_private,
)

__all__ = [
    "EKU_DCC_RECOVERY", "EKU_DCC_TEST", "EKU_DCC_VACCINATION", "ROOT_P12", "ROOT_PEM", "Signer",
    "create_root_ca", "document_signer_certificate", "ensure_document_signer", "ensure_root_ca", "issue_document_signer",
    "ensure_facility_head", "ensure_pdf_signer", "facility_key_path", "issue_facility_head", "kid_of",
    "load_root", "load_signer", "rotate_document_signer",
]

# Extended key usages of DCC signer certificates (hcert spec): which certificate types a DSC may sign.
EKU_DCC_TEST = ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.1")
EKU_DCC_VACCINATION = ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.2")
EKU_DCC_RECOVERY = ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.3")

ROOT_P12 = "root.p12"
ROOT_PEM = "root.pem"


def _name(*pairs: tuple[ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs if value])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             not_before: datetime, not_after: datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, digital_signature: bool = False, content_commitment: bool = False,
               cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=content_commitment, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
        encipher_only=False, decipher_only=False,
    )


def create_root_ca(out_dir: Path, passphrase: bytes, *, now: datetime, common_name: str = "vaxpass Root CA",
                   country: str = "VN", days: int = 3650) -> Path:
    """Create `root.p12` (key + certificate) and `root.pem` in `out_dir`; never overwrites a root."""
    require_passphrase(passphrase)
    start = utc(now)
    p12, pem = out_dir / ROOT_P12, out_dir / ROOT_PEM
    if p12.exists() or pem.exists():
        raise SigningError(f"a root CA already exists in {out_dir}; refusing to overwrite it")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name((NameOID.COUNTRY_NAME, country), (NameOID.ORGANIZATION_NAME, "vaxpass"),
                    (NameOID.COMMON_NAME, common_name))
    cert = (
        _builder(subject, subject, key.public_key(), start, start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    save_pkcs12(p12, "vaxpass-root", key, cert, (), passphrase)
    write_private(pem, cert.public_bytes(serialization.Encoding.PEM))
    return p12


def ensure_root_ca(out_dir: Path, passphrase: bytes, *, now: datetime, common_name: str = "vaxpass Root CA",
                   country: str = "VN", days: int = 3650) -> Path:
    """The existing root (checked to open with `passphrase` and be valid at `now`), or a new one."""
    p12 = out_dir / ROOT_P12
    if not p12.exists():
        return create_root_ca(out_dir, passphrase, now=now, common_name=common_name, country=country,
                              days=days)
    root = load_signer(p12, passphrase)
    _require_valid(root.certificate, utc(now), "root CA")
    pem = out_dir / ROOT_PEM
    if not pem.exists():
        write_private(pem, root.certificate.public_bytes(serialization.Encoding.PEM))
    return p12


def load_root(ca_dir: Path, passphrase: bytes) -> Signer:
    """The root CA's key and certificate."""
    return load_signer(ca_dir / ROOT_P12, passphrase)


def _require_valid(cert: x509.Certificate, at: datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= at < cert.not_valid_after_utc:
        raise SigningError(f"the {what} certificate is not valid at {at.isoformat()}")


def _issue_leaf(ca_dir: Path, passphrase: bytes, out_path: Path, *, now: datetime,
                subject: list[tuple[ObjectIdentifier, str]], days: int, key_usage: x509.KeyUsage,
                eku: x509.ExtendedKeyUsage | None, out_passphrase: bytes | None, friendly_name: str) -> Path:
    """Issue an end-entity key and certificate signed by the root and save them as PKCS#12."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert, root = _leaf_certificate(ca_dir, passphrase, key.public_key(), now=now, subject=subject, days=days,
                                   key_usage=key_usage, eku=eku)
    save_pkcs12(out_path, friendly_name, key, cert, (root,), out_passphrase or passphrase)
    return out_path


def _leaf_certificate(ca_dir: Path, passphrase: bytes, public_key: ec.EllipticCurvePublicKey, *, now: datetime,
                      subject: list[tuple[ObjectIdentifier, str]], days: int, key_usage: x509.KeyUsage,
                      eku: x509.ExtendedKeyUsage | None) -> tuple[x509.Certificate, x509.Certificate]:
    """(certificate, root) for `public_key`, signed by the root (country C taken from the root); its validity
    never outlasts the root's."""
    start = utc(now)
    root = load_root(ca_dir, passphrase)
    _require_valid(root.certificate, start, "root CA")
    countries = root.certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    country = str(countries[0].value) if countries else "VN"
    end = min(start + timedelta(days=days), root.certificate.not_valid_after_utc)
    builder = (
        _builder(_name((NameOID.COUNTRY_NAME, country), *subject), root.certificate.subject, public_key,
                 start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(_ec_public(root.key)),
                       critical=False)
    )
    if eku is not None:
        builder = builder.add_extension(eku, critical=False)
    return builder.sign(root.key, hashes.SHA256()), root.certificate


def document_signer_certificate(ca_dir: Path, passphrase: bytes, public_key: ec.EllipticCurvePublicKey, *,
                                now: datetime, common_name: str = "vaxpass DSC",
                                days: int = 730) -> tuple[x509.Certificate, x509.Certificate]:
    """A DSC certificate for a key held elsewhere (a PKCS#11 token's): (certificate, root)."""
    subject = [(NameOID.ORGANIZATION_NAME, "vaxpass"), (NameOID.COMMON_NAME, common_name)]
    return _leaf_certificate(ca_dir, passphrase, public_key, now=now, subject=subject, days=days,
                             key_usage=_key_usage(digital_signature=True),
                             eku=x509.ExtendedKeyUsage([EKU_DCC_VACCINATION]))


def _ec_public(key: PrivateKey) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningError("the root CA key must be an EC key")
    return key.public_key()


def issue_document_signer(ca_dir: Path, passphrase: bytes, out_path: Path, *, now: datetime,
                          common_name: str = "vaxpass DSC", days: int = 730,
                          out_passphrase: bytes | None = None) -> Path:
    """A document signer certificate (DSC) for vaccination DCCs: EC P-256, EKU vaccination,
    digitalSignature."""
    subject = [(NameOID.ORGANIZATION_NAME, "vaxpass"), (NameOID.COMMON_NAME, common_name)]
    return _issue_leaf(
        ca_dir, passphrase, out_path, now=now, subject=subject, days=days,
        key_usage=_key_usage(digital_signature=True), eku=x509.ExtendedKeyUsage([EKU_DCC_VACCINATION]),
        out_passphrase=out_passphrase, friendly_name="vaxpass-dsc",
    )


def ensure_document_signer(ca_dir: Path, passphrase: bytes, out_path: Path, *, now: datetime,
                           common_name: str = "vaxpass DSC", days: int = 730,
                           out_passphrase: bytes | None = None,
                           min_remaining: timedelta = timedelta(0)) -> Path:
    """The existing DSC if it is valid at `now` for at least `min_remaining` more and was issued by the
    current root; otherwise a new one. A replaced key store is kept as `<name>.<kid>.retired.p12` (its
    certificate must stay in the trust list while certificates it signed are unexpired)."""
    if not out_path.exists():
        return issue_document_signer(ca_dir, passphrase, out_path, now=now, common_name=common_name,
                                     days=days, out_passphrase=out_passphrase)
    current = load_signer(out_path, out_passphrase or passphrase)
    root = load_root(ca_dir, passphrase).certificate
    at = utc(now)
    try:
        current.certificate.verify_directly_issued_by(root)
        issued_by_root = True
    except (ValueError, TypeError, InvalidSignature):
        issued_by_root = False
    cert = current.certificate
    if issued_by_root and cert.not_valid_before_utc <= at and at + min_remaining < cert.not_valid_after_utc:
        return out_path
    if at + min_remaining >= root.not_valid_after_utc:
        raise SigningError("the root CA expires within the required signer validity; renew the root first")
    _replace_document_signer(ca_dir, passphrase, out_path, current, now=now, common_name=common_name, days=days,
                             out_passphrase=out_passphrase)
    return out_path


def _replace_document_signer(ca_dir: Path, passphrase: bytes, out_path: Path, current: Signer, *,
                             now: datetime, common_name: str, days: int, out_passphrase: bytes | None) -> None:
    # issue first, so a failure leaves the current key store in place
    fresh = issue_document_signer(ca_dir, passphrase, out_path.with_name(f".{out_path.name}.new"), now=now,
                                  common_name=common_name, days=days, out_passphrase=out_passphrase)
    out_path.replace(retired_path(out_path, current.kid))
    fresh.replace(out_path)


def retired_path(out_path: Path, kid: bytes) -> Path:
    """Where a replaced key store is kept: `<name>.<kid hex>.retired.p12` beside the current one."""
    return out_path.with_name(f"{out_path.stem}.{kid.hex()}.retired{out_path.suffix}")


def rotate_document_signer(ca_dir: Path, passphrase: bytes, out_path: Path, *, now: datetime,
                           common_name: str = "vaxpass DSC", days: int = 730,
                           out_passphrase: bytes | None = None) -> tuple[Signer, Signer]:
    """Replace the current DSC by a new one whatever its validity; returns (old, new). The old key store is
    kept as retired: its certificate stays in the trust list so the certificates it signed keep verifying."""
    current = load_signer(out_path, out_passphrase or passphrase)
    _replace_document_signer(ca_dir, passphrase, out_path, current, now=now, common_name=common_name, days=days,
                             out_passphrase=out_passphrase)
    return current, load_signer(out_path, out_passphrase or passphrase)


def issue_facility_head(ca_dir: Path, passphrase: bytes, out_path: Path, *, now: datetime, person_name: str,
                        site_code: str, site_name: str, district_name: str, days: int = 730,
                        out_passphrase: bytes | None = None) -> Path:
    """A personal certificate for the head of a vaccination site (thủ trưởng cơ sở), who signs the
    site's confirmation PDF: digitalSignature + nonRepudiation; CN=person, O=site, OU=site code,
    L=district."""
    subject = [
        (NameOID.LOCALITY_NAME, district_name), (NameOID.ORGANIZATION_NAME, site_name),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, site_code), (NameOID.COMMON_NAME, person_name),
    ]
    return _issue_leaf(
        ca_dir, passphrase, out_path, now=now, subject=subject, days=days,
        key_usage=_key_usage(digital_signature=True, content_commitment=True), eku=None,
        out_passphrase=out_passphrase, friendly_name="vaxpass-facility-head",
    )


_SITE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def facility_key_path(pki_dir: Path, site_code: str) -> Path:
    """The key store of a site's head of facility: `<pki>/facility/<site code>.p12`."""
    if not _SITE_CODE.match(site_code):
        raise SigningError(f"site code {site_code!r} cannot name a key store")
    return pki_dir / "facility" / f"{site_code}.p12"


def ensure_facility_head(ca_dir: Path, passphrase: bytes, out_path: Path, *, now: datetime, person_name: str,
                         site_code: str, site_name: str, district_name: str, days: int = 730) -> tuple[Path, bool]:
    """The site head's existing key store if it names the same person and is valid at `now`, else a new one
    (the old one kept as `.<kid>.retired.p12`); returns (path, whether one was issued)."""
    if out_path.exists():
        current = load_signer(out_path, passphrase)
        names = current.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        valid = current.certificate.not_valid_before_utc <= utc(now) < current.certificate.not_valid_after_utc
        if valid and names and names[0].value == person_name:
            return out_path, False
        out_path.replace(retired_path(out_path, current.kid))
    issue_facility_head(ca_dir, passphrase, out_path, now=now, person_name=person_name, site_code=site_code,
                        site_name=site_name, district_name=district_name, days=days)
    return out_path, True


def ensure_pdf_signer(ca_dir: Path, passphrase: bytes, out_path: Path, *, now: datetime,
                      common_name: str = "vaxpass PDF certificate signer", days: int = 730) -> Path:
    """The signer of PDF certificates (PAdES): digitalSignature + nonRepudiation and no extended key usage, so
    PDF readers (NSS in poppler, Acrobat) accept it for document signing. Kept apart from the DSC, whose EKU
    restricts it to DCCs."""
    if out_path.exists():
        current = load_signer(out_path, passphrase)
        if current.certificate.not_valid_before_utc <= utc(now) < current.certificate.not_valid_after_utc:
            return out_path
        out_path.replace(retired_path(out_path, current.kid))
    subject = [(NameOID.ORGANIZATION_NAME, "vaxpass"), (NameOID.COMMON_NAME, common_name)]
    return _issue_leaf(ca_dir, passphrase, out_path, now=now, subject=subject, days=days,
                       key_usage=_key_usage(digital_signature=True, content_commitment=True), eku=None,
                       out_passphrase=None, friendly_name="vaxpass-pdf-signer")
