from __future__ import annotations

import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vaxpass.errors import SigningError
from vaxpass.signing.keystore import Signer, kid_of, load_signer
from vaxpass.signing.pki import (
    EKU_DCC_VACCINATION,
    create_root_ca,
    ensure_document_signer,
    ensure_root_ca,
    issue_document_signer,
    issue_facility_head,
    load_root,
)


def test_root_files_and_extensions(ca_dir: Path, now: datetime, passphrase: bytes) -> None:
    root = load_root(ca_dir, passphrase)
    pem = x509.load_pem_x509_certificate((ca_dir / "root.pem").read_bytes())
    assert pem == root.certificate
    assert root.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.certificate.not_valid_before_utc == now
    assert stat.S_IMODE((ca_dir / "root.p12").stat().st_mode) == 0o600


def test_root_is_never_overwritten(ca_dir: Path, now: datetime, passphrase: bytes) -> None:
    before = (ca_dir / "root.p12").read_bytes()
    with pytest.raises(SigningError):
        create_root_ca(ca_dir, passphrase, now=now)
    assert ensure_root_ca(ca_dir, passphrase, now=now) == ca_dir / "root.p12"
    assert (ca_dir / "root.p12").read_bytes() == before


def test_wrong_passphrase_and_missing_file(ca_dir: Path, now: datetime, passphrase: bytes) -> None:
    with pytest.raises(SigningError) as info:
        load_signer(ca_dir / "root.p12", b"wrong-passphrase")
    assert "wrong-passphrase" not in str(info.value)
    with pytest.raises(SigningError):
        load_signer(ca_dir / "absent.p12", passphrase)
    with pytest.raises(SigningError):
        ensure_root_ca(ca_dir, b"wrong-passphrase", now=now)


def test_refuses_empty_passphrase_and_naive_time(tmp_path: Path, now: datetime, passphrase: bytes) -> None:
    with pytest.raises(SigningError):
        create_root_ca(tmp_path, b"", now=now)
    with pytest.raises(SigningError):
        create_root_ca(tmp_path, passphrase, now=now.replace(tzinfo=None))


def test_document_signer(signer: Signer, ca_dir: Path, now: datetime, passphrase: bytes) -> None:
    cert = signer.certificate
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey) and isinstance(signer.key.curve, ec.SECP256R1)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [EKU_DCC_VACCINATION]
    assert EKU_DCC_VACCINATION.dotted_string == "1.3.6.1.4.1.1847.2021.1.2"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "VN"
    root = load_root(ca_dir, passphrase).certificate
    cert.verify_directly_issued_by(root)
    assert signer.chain == (root,)
    assert signer.kid == kid_of(cert) and len(signer.kid) == 8
    assert cert.not_valid_after_utc == now + timedelta(days=730)


def test_document_signer_never_outlives_the_root(
    ca_dir: Path, tmp_path: Path, now: datetime, passphrase: bytes
) -> None:
    path = issue_document_signer(ca_dir, passphrase, tmp_path / "long.p12", now=now, days=10_000)
    root = load_root(ca_dir, passphrase).certificate
    assert load_signer(path, passphrase).certificate.not_valid_after_utc == root.not_valid_after_utc


def test_ensure_document_signer_keeps_a_valid_one_and_replaces_an_expired_one(
    ca_dir: Path, tmp_path: Path, now: datetime, passphrase: bytes
) -> None:
    path = tmp_path / "dsc.p12"
    first = load_signer(ensure_document_signer(ca_dir, passphrase, path, now=now, days=30), passphrase)
    next_day = now + timedelta(days=1)
    again = load_signer(ensure_document_signer(ca_dir, passphrase, path, now=next_day), passphrase)
    assert again.certificate == first.certificate
    later = now + timedelta(days=31)
    renewed = load_signer(ensure_document_signer(ca_dir, passphrase, path, now=later), passphrase)
    assert renewed.certificate != first.certificate
    assert (tmp_path / f"dsc.{first.kid.hex()}.retired.p12").exists()
    # asking for a year of remaining validity renews a signer that would expire sooner
    short = load_signer(ensure_document_signer(ca_dir, passphrase, path, now=later,
                                               min_remaining=timedelta(days=800)), passphrase)
    assert short.certificate != renewed.certificate


def test_leaf_refused_when_root_not_valid(
    ca_dir: Path, tmp_path: Path, now: datetime, passphrase: bytes
) -> None:
    with pytest.raises(SigningError):
        issue_document_signer(ca_dir, passphrase, tmp_path / "x.p12", now=now - timedelta(days=1))
    with pytest.raises(SigningError):
        issue_document_signer(ca_dir, passphrase, tmp_path / "x.p12", now=now + timedelta(days=3651))


def test_facility_head_certificate(ca_dir: Path, tmp_path: Path, now: datetime, passphrase: bytes) -> None:
    path = issue_facility_head(ca_dir, passphrase, tmp_path / "head.p12", now=now,
                               person_name="Trần Thị Bích", site_code="HN-BD-001",
                               site_name="Trạm Y tế phường Điện Biên", district_name="Ba Đình")
    head = load_signer(path, passphrase)
    subject = head.certificate.subject

    def attr(oid: x509.ObjectIdentifier) -> str:
        return str(subject.get_attributes_for_oid(oid)[0].value)

    assert attr(NameOID.COMMON_NAME) == "Trần Thị Bích"
    assert attr(NameOID.ORGANIZATION_NAME) == "Trạm Y tế phường Điện Biên"
    assert attr(NameOID.ORGANIZATIONAL_UNIT_NAME) == "HN-BD-001"
    assert attr(NameOID.LOCALITY_NAME) == "Ba Đình"
    assert attr(NameOID.COUNTRY_NAME) == "VN"
    usage = head.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment


def test_ensure_document_signer_refuses_when_the_root_ends_too_soon(
    ca_dir: Path, tmp_path: Path, now: datetime, passphrase: bytes
) -> None:
    path = ensure_document_signer(ca_dir, passphrase, tmp_path / "dsc.p12", now=now)
    before = path.read_bytes()
    with pytest.raises(SigningError):
        ensure_document_signer(ca_dir, passphrase, path, now=now, min_remaining=timedelta(days=4000))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dsc.p12"]
