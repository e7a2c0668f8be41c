"""`vaxpass verify` on every form of a certificate — HC1 text, QR PNG, signed PDF — and the right reason for
each way one can be invalid: tampered, expired, revoked, wrong key, changed PDF. The PDF also validates with
pyHanko and with poppler's `pdfsig` against the root that `pki export-root` writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import base45
import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import IN_CI
from tests.factories import site
from tests.issuance.test_issue import KEY, ROWS, _confirm, _cycle
from vaxpass.cli import main
from vaxpass.config import settings_from_mapping
from vaxpass.issuance import issue_certificates
from vaxpass.signing.hcert import decode_hc1
from vaxpass.signing.keystore import load_signer
from vaxpass.signing.pades import validate_pdf
from vaxpass.signing.pdfcert import hc1_of
from vaxpass.signing.pki import create_root_ca, issue_document_signer
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A home with its PKI, two issued certificates, and every export of them."""
    tmp = tmp_path_factory.mktemp("verify")
    home = tmp / "home"
    env = {"VAXPASS_HOME": str(home), "VAXPASS_DB_URL": f"sqlite:///{tmp / 'ops.sqlite'}"}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("VAXPASS_KEY_PASSPHRASE", "VAXPASS_PSEUDONYM_KEY", "VAXPASS_DATA_DIR"):
            mp.delenv(name, raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        (home / "data").mkdir(parents=True)
        (home / "data" / "sites.json").write_text(json.dumps([site().to_dict()], ensure_ascii=False))
        assert main(["init"]) == 0
        url = _cycle(tmp, ROWS)
        s = settings_from_mapping(env)
        _confirm(url)
        issue_certificates(url, load_signer(s.dsc_path, s.key_passphrase), cycle_id="cycle-1",
                           issued_at=datetime.now(UTC), uvci_key=KEY, dag_id="d", task_id="t",
                           store_ref="dsc.p12")
        for fmt in ("hc1", "png", "pdf"):
            assert main(["certificates", "export", "--format", fmt, "--out", str(tmp / fmt)]) == 0
        assert main(["trustlist", "export", "--out", str(tmp / "trust.json")]) == 0
        assert main(["pki", "export-root", "--out", str(tmp / "root.pem")]) == 0
        (tmp / "dsc.der").write_bytes(load_signer(s.dsc_path, s.key_passphrase).certificate.public_bytes(Encoding.DER))
    return {"tmp": tmp, "home": home, "url": Path(url.removeprefix("sqlite:///"))}


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", *args])
    return code, capsys.readouterr().out


def _first(issued: dict[str, Path], fmt: str) -> Path:
    return sorted((issued["tmp"] / fmt).iterdir())[0]


def test_every_form_verifies(issued: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    trust = str(issued["tmp"] / "trust.json")
    hc1_file = _first(issued, "hc1")
    for arg, form in ((str(hc1_file), "hc1"), (hc1_file.read_text().strip(), "hc1"),
                      (str(_first(issued, "png")), "image"), (str(_first(issued, "pdf")), "pdf")):
        code, out = _verify(capsys, arg, "--trustlist", trust, "--root", str(issued["tmp"] / "root.pem"))
        assert code == 0 and f"VALID: {form}" in out, out
    code, out = _verify(capsys, str(hc1_file), "--trust-cert", str(issued["tmp"] / "dsc.der"))
    assert code == 0 and "VALID" in out
    pdf = _first(issued, "pdf")
    assert "PDF signature valid" in _verify(capsys, str(pdf), "--trustlist", trust)[1]
    assert hc1_of(pdf.read_bytes()) == (issued["tmp"] / "hc1" / f"{pdf.stem}.txt").read_text().strip()


def test_pdf_is_bilingual_and_validates_with_pyhanko(issued: dict[str, Path]) -> None:
    pdf = _first(issued, "pdf")
    text = "".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert "GIẤY CHỨNG NHẬN TIÊM CHỦNG COVID-19" in text and "Vaccination Certificate" in text
    assert any(name in text for name in ("Nguyễn Văn An", "Trần Thị Đào"))  # Vietnamese glyphs, as text
    root = x509.load_pem_x509_certificate((issued["tmp"] / "root.pem").read_bytes())
    [status] = validate_pdf(pdf.read_bytes(), [root])
    assert status.ok and "PDF certificate signer" in status.signer_subject


def test_printed_qr_scans_back_to_the_attached_hc1(issued: dict[str, Path], tmp_path: Path) -> None:
    """The page as a reader renders it (poppler's pdftoppm, 150 dpi): its QR decodes to the attached HC1."""
    from vaxpass.signing.verify import read_qr

    if shutil.which("pdftoppm") is None:
        if IN_CI:
            pytest.fail("pdftoppm (Debian poppler-utils) is required in CI")
        pytest.skip("pdftoppm not installed")
    pdf = _first(issued, "pdf")
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    assert read_qr((tmp_path / "page.png").read_bytes()) == hc1_of(pdf.read_bytes())


def test_pdfsig_trusts_the_exported_root(issued: dict[str, Path], tmp_path: Path) -> None:
    if shutil.which("pdfsig") is None or shutil.which("certutil") is None:
        if IN_CI:
            pytest.fail("pdfsig and certutil (Debian poppler-utils, libnss3-tools) are required in CI")
        pytest.skip("pdfsig/certutil not installed")
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "vaxpass-root", "-t", "CT,C,C", "-i",
                    str(issued["tmp"] / "root.pem")], check=True)
    pdf = _first(issued, "pdf")
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True).stdout
    assert "Signature is Valid." in out and "Certificate is Trusted." in out, out
    bad = bytearray(pdf.read_bytes())
    bad[len(bad) // 3] ^= 0x01  # inside the signed content
    (tmp_path / "bad.pdf").write_bytes(bytes(bad))
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(tmp_path / "bad.pdf")], capture_output=True,
                         text=True).stdout
    assert "Digest Mismatch" in out or "Signature is Invalid" in out, out


def _forge(hc1: str) -> str:
    """The same certificate with another name in the payload and the original signature."""
    decoded = decode_hc1(hc1)
    claims = cbor2.loads(decoded.payload_bytes)
    claims[-260][1]["nam"]["fn"] = "Lê"
    message = cbor2.dumps(cbor2.CBORTag(18, [decoded.protected, {}, cbor2.dumps(claims), decoded.signature]))
    return "HC1:" + base45.b45encode(zlib.compress(message, 9)).decode()


def test_each_invalid_certificate_gets_its_reason(issued: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    trust = str(issued["tmp"] / "trust.json")
    hc1_file = _first(issued, "hc1")
    hc1 = hc1_file.read_text().strip()
    expires = decode_hc1(hc1).expires_at
    cases = {
        "bad-signature": [_forge(hc1), "--trustlist", trust],
        "expired": [str(hc1_file), "--trustlist", trust, "--at", (expires + timedelta(days=1)).isoformat()],
        "not-yet-valid": [str(hc1_file), "--trustlist", trust, "--at", "2020-01-01T00:00:00Z"],
    }
    other = tmp_path / "other"
    other.mkdir()
    create_root_ca(other, b"pw", now=datetime.now(UTC) - timedelta(days=1))
    wrong = load_signer(issue_document_signer(other, b"pw", other / "dsc.p12", now=datetime.now(UTC)), b"pw")
    (tmp_path / "wrong.der").write_bytes(wrong.certificate.public_bytes(Encoding.DER))
    cases["unknown-kid"] = [str(hc1_file), "--trust-cert", str(tmp_path / "wrong.der")]
    # revoked: the store marks it, the exported list carries its hash
    uvci = decode_hc1(hc1).payload["v"][0]["ci"]
    url = f"sqlite:///{issued['url']}"
    with session_scope(url) as session:
        session.scalars(select(Certificate).filter_by(uvci=uvci)).one().status = "revoked"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAXPASS_DB_URL", url)
        assert main(["revocation", "export", "--out", str(tmp_path / "revoked.json")]) == 0
    try:
        cases["revoked"] = [str(hc1_file), "--trustlist", trust, "--revocations", str(tmp_path / "revoked.json")]
        # a PDF whose signed bytes changed
        bad = bytearray(_first(issued, "pdf").read_bytes())
        bad[len(bad) // 3] ^= 0x01
        (tmp_path / "bad.pdf").write_bytes(bytes(bad))
        cases["pdf-signature-invalid"] = [str(tmp_path / "bad.pdf"), "--trustlist", trust]
        other_root = tmp_path / "other-root.pem"
        shutil.copy(other / "root.pem", other_root)
        cases["pdf-untrusted"] = [str(_first(issued, "pdf")), "--trustlist", trust, "--root", str(other_root)]
        (tmp_path / "blank.png").write_bytes((issued["tmp"] / "png").iterdir().__next__().read_bytes()[:60])
        cases["unreadable"] = [str(tmp_path / "blank.png"), "--trustlist", trust]
        for reason, args in cases.items():
            code, out = _verify(capsys, *args)
            assert code == 1 and f"INVALID: {reason}" in out, (reason, out)
        # still valid without the revocation list
        assert _verify(capsys, str(hc1_file), "--trustlist", trust)[0] == 0
    finally:
        with session_scope(url) as session:
            session.scalars(select(Certificate).filter_by(uvci=uvci)).one().status = "current"
    assert main(["verify", str(hc1_file)]) == 2  # neither a trust list nor a certificate
