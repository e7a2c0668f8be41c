"""PAdES signing of PDFs with a facility-head key from the project's CA, validated as a PDF reader would."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fpdf import FPDF

from vaxpass.signing.keystore import load_signer
from vaxpass.signing.pades import PadesSigner, validate_pdf
from vaxpass.signing.pki import create_root_ca, issue_facility_head, load_root

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def _pdf() -> bytes:
    doc = FPDF()
    doc.set_compression(False)  # so a test can find and change a byte of the text
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text="Danh sach xac nhan tiem chung")
    return bytes(doc.output())


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ca")
    create_root_ca(d, b"pw", now=NOW)
    issue_facility_head(d, b"pw", d / "head.p12", now=NOW, person_name="Ngô Minh Tâm", site_code="HN-001-01",
                        site_name="Trạm Y tế phường Phúc Xá", district_name="Ba Đình")
    return d


def test_signed_pdf_validates_against_the_root(ca: Path) -> None:
    signer = load_signer(ca / "head.p12", b"pw")
    signed = PadesSigner(signer).sign(_pdf(), reason="Xác nhận tiêm chủng", location="Hà Nội")
    [status] = validate_pdf(signed, [load_root(ca, b"pw").certificate])
    assert status.ok and "Ngô Minh Tâm" in status.signer_subject


def test_changed_byte_and_unknown_root_are_detected(ca: Path, tmp_path: Path) -> None:
    signed = bytearray(PadesSigner(load_signer(ca / "head.p12", b"pw")).sign(_pdf()))
    other = tmp_path / "other"
    other.mkdir()
    create_root_ca(other, b"pw", now=NOW, common_name="Another Root CA")
    [untrusted] = validate_pdf(bytes(signed), [load_root(other, b"pw").certificate])
    assert untrusted.intact and not untrusted.trusted
    at = bytes(signed).index(b"Danh sach") + 1
    signed[at] ^= 0x01
    [tampered] = validate_pdf(bytes(signed), [load_root(ca, b"pw").certificate])
    assert not tampered.intact and not tampered.ok


def test_poppler_pdfsig_reports_a_valid_signature(ca: Path, tmp_path: Path) -> None:
    """An independent PDF reader (poppler's pdfsig) checks the signature; a changed byte is a digest mismatch."""
    import shutil
    import subprocess

    from tests.conftest import IN_CI

    if shutil.which("pdfsig") is None:
        if IN_CI:
            pytest.fail("pdfsig (Debian poppler-utils) is required in CI; `make venv` installs it")
        pytest.skip("pdfsig not installed")
    signed = PadesSigner(load_signer(ca / "head.p12", b"pw")).sign(_pdf())
    (tmp_path / "ok.pdf").write_bytes(signed)
    out = subprocess.run(["pdfsig", str(tmp_path / "ok.pdf")], capture_output=True, text=True).stdout
    assert "Signature is Valid." in out
    bad = bytearray(signed)
    bad[bytes(signed).index(b"Danh sach") + 1] ^= 0x01
    (tmp_path / "bad.pdf").write_bytes(bytes(bad))
    out = subprocess.run(["pdfsig", str(tmp_path / "bad.pdf")], capture_output=True, text=True).stdout
    assert "Digest Mismatch" in out


def test_signing_and_validating_work_inside_a_running_event_loop(ca: Path) -> None:
    """pyHanko runs its own event loop; called from a thread that already runs one (an async caller, a
    Playwright session in the same test process) it must still sign and validate."""
    import asyncio

    signer = PadesSigner(load_signer(ca / "head.p12", b"pw"))
    root = load_root(ca, b"pw").certificate

    async def inside() -> list:
        return validate_pdf(signer.sign(_pdf()), [root])

    [status] = asyncio.run(inside())
    assert status.ok


def test_each_signature_is_pades_b_b_over_its_own_document(ca: Path) -> None:
    """The signatures come from a CMS template built once per signer: each still carries the PAdES B-B signed
    attributes (content type, message digest, signing-certificate-v2; no signing time), the digest of its own
    document, and a fresh signature value."""
    from asn1crypto import cms
    from pyhanko.pdf_utils.reader import PdfFileReader

    signer = PadesSigner(load_signer(ca / "head.p12", b"pw"))
    root = load_root(ca, b"pw").certificate
    first, second = signer.sign(_pdf()), signer.sign(_pdf().replace(b"Danh sach", b"Danh SACH"))
    infos = []
    for signed in (first, second):
        [embedded] = PdfFileReader(io.BytesIO(signed)).embedded_signatures
        info = embedded.signer_info
        assert [a["type"].native for a in info["signed_attrs"]] == [
            "content_type", "message_digest", "signing_certificate_v2"]
        assert isinstance(embedded.signed_data, cms.SignedData)
        assert "Ngô Minh Tâm" in embedded.signer_cert.subject.human_friendly
        [status] = validate_pdf(signed, [root])
        assert status.ok
        infos.append(info)
        # /Contents is sized from the template: the CMS fills it but for a few dozen bytes (8 kB were reserved)
        gap = embedded.byte_range[2] - embedded.byte_range[1] - 2
        assert 2 * len(embedded.signed_data.dump()) < gap <= 2 * len(embedded.signed_data.dump()) + 200
    digests = [i["signed_attrs"][1]["values"][0].native for i in infos]
    assert digests[0] != digests[1]
    assert infos[0]["signature"].native != infos[1]["signature"].native


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_other_key_types_sign_and_validate(kind: str) -> None:
    """An RSA key signs through the template too; a key it does not handle (Ed25519) goes pyHanko's own way."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.x509.oid import NameOID

    from vaxpass.signing.keystore import Signer

    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test {kind} signer")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256() if kind == "rsa" else None))
    signer = PadesSigner(Signer(key=key, certificate=cert, chain=(cert,)))
    assert (signer._signer._template is not None) == (kind == "rsa")
    [status] = validate_pdf(signer.sign(_pdf()), [cert])
    assert status.intact and status.valid
