"""The confirmation PDF: Vietnamese text survives (embedded font), the Merkle root is printed, it signs."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pypdf import PdfReader

from vaxpass.confirmation.document import ConfirmationHeader, ConfirmedDose, render_confirmation, root_of
from vaxpass.signing.keystore import load_signer
from vaxpass.signing.merkle import MerkleTree, verify_inclusion
from vaxpass.signing.pades import PadesSigner, validate_pdf
from vaxpass.signing.pki import create_root_ca, issue_facility_head, load_root

NOW = datetime(2026, 11, 27, tzinfo=UTC)
HEADER = ConfirmationHeader("HN-001-01", "Trạm Y tế phường Phúc Xá", "Ba Đình", "Ngô Minh Tâm", "cycle-1",
                            date(2026, 11, 27))
DOSES = [ConfirmedDose(i, str(i), "Đặng Thị Đào", "1990-03-07", "001190000002", "Vero Cell", 2, "2021-09-01",
                       "LOT1", f"{i:064x}") for i in range(1, 41)]


def test_pdf_carries_the_text_and_the_root(tmp_path: Path) -> None:
    tree = MerkleTree.build([d.leaf() for d in DOSES])
    pdf = render_confirmation(HEADER, DOSES, tree.root)
    (tmp_path / "c.pdf").write_bytes(pdf)
    text = "".join(page.extract_text() for page in PdfReader(tmp_path / "c.pdf").pages)
    assert "DANH SÁCH XÁC NHẬN TIÊM CHỦNG" in text and "Đặng Thị Đào" in text
    assert tree.root.hex() in text.replace("\n", "")
    assert verify_inclusion(DOSES[7].leaf(), 7, len(DOSES), tree.proof(7), tree.root)


def test_confirmation_is_signed_by_the_head_of_facility(tmp_path: Path) -> None:
    create_root_ca(tmp_path, b"pw", now=NOW)
    issue_facility_head(tmp_path, b"pw", tmp_path / "head.p12", now=NOW, person_name="Ngô Minh Tâm",
                        site_code="HN-001-01", site_name="Trạm Y tế phường Phúc Xá", district_name="Ba Đình")
    pdf = render_confirmation(HEADER, DOSES, MerkleTree.build([d.leaf() for d in DOSES]).root)
    signed = PadesSigner(load_signer(tmp_path / "head.p12", b"pw")).sign(pdf, reason="Xác nhận tiêm chủng")
    [status] = validate_pdf(signed, [load_root(tmp_path, b"pw").certificate])
    assert status.ok and "HN-001-01" in status.signer_subject


def test_leaf_changes_with_any_field() -> None:
    base = DOSES[0]
    changed = ConfirmedDose(**{**base.__dict__, "dose_number": 3})
    assert base.leaf() != changed.leaf()
    with pytest.raises(ValueError):
        MerkleTree.build([])


def test_long_list_spans_pages_with_every_row_and_the_root_last(tmp_path: Path) -> None:
    """Written without fpdf2: every row lands on some page, rows do not run over the page break, a name too
    wide for its column is kept whole (squeezed), and the root closes the last page."""
    long_name = "Tôn Nữ Hoàng Phương Nguyễn Thị Thanh Xuân Đặng"
    doses = [ConfirmedDose(i, str(i), long_name if i == 77 else f"Người {i}", "1990-03-07", "001190000002",
                           "Vero Cell", 1, "2021-09-01", "LOT1", f"{i:064x}") for i in range(1, 201)]
    tree = MerkleTree.build([d.leaf() for d in doses])
    pdf = render_confirmation(HEADER, doses, tree.root, tree.levels[0])
    assert pdf == render_confirmation(HEADER, doses, tree.root)  # leaf hashes given or computed: same file
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) > 4
    text = "\n".join(pages)
    assert all(f"Người {i}\n" in text or f"Người {i} " in text for i in range(1, 201) if i != 77)
    assert long_name in text
    assert tree.root.hex() in pages[-1].replace("\n", "") and tree.root.hex() not in pages[0].replace("\n", "")
    assert root_of(pdf) == (tree.root, 200)
    assert tree.levels[0][199].hex()[:16] in pages[-1]


def test_signed_list_is_valid_for_pdfsig(tmp_path: Path) -> None:
    """The hand-written list signs like any PDF: poppler's pdfsig (an independent reader) finds it valid and
    trusted, and a changed byte in a page's content is a digest mismatch."""
    import shutil
    import subprocess

    from tests.conftest import IN_CI

    if shutil.which("pdfsig") is None or shutil.which("certutil") is None:
        if IN_CI:
            pytest.fail("pdfsig and certutil (Debian poppler-utils, libnss3-tools) are required in CI")
        pytest.skip("pdfsig/certutil not installed")
    create_root_ca(tmp_path, b"pw", now=NOW)
    issue_facility_head(tmp_path, b"pw", tmp_path / "head.p12", now=NOW, person_name="Ngô Minh Tâm",
                        site_code="HN-001-01", site_name="Trạm Y tế phường Phúc Xá", district_name="Ba Đình")
    pdf = render_confirmation(HEADER, DOSES, MerkleTree.build([d.leaf() for d in DOSES]).root)
    signed = PadesSigner(load_signer(tmp_path / "head.p12", b"pw")).sign(pdf, reason="Xác nhận tiêm chủng")
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    (tmp_path / "root.pem").write_bytes(load_root(tmp_path, b"pw").certificate.public_bytes(Encoding.PEM))
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "root", "-t", "CT,C,C", "-i",
                    str(tmp_path / "root.pem")], check=True)
    (tmp_path / "ok.pdf").write_bytes(signed)
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(tmp_path / "ok.pdf")], capture_output=True,
                         text=True).stdout
    assert "Signature is Valid." in out and "Certificate is Trusted." in out, out
    bad = bytearray(signed)
    bad[signed.index(b"stream\n", signed.index(b"/Type /Page ")) + 20] ^= 0x01
    (tmp_path / "bad.pdf").write_bytes(bytes(bad))
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(tmp_path / "bad.pdf")], capture_output=True,
                         text=True).stdout
    assert "Digest Mismatch" in out or "Signature is Invalid" in out, out
