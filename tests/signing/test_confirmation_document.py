"""The confirmation PDF: Vietnamese text survives (embedded font), the Merkle root is printed, it signs."""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zlib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pypdf import PdfReader

from vaxpass.confirmation.document import (
    ConfirmationHeader,
    ConfirmedDose,
    DoseColumns,
    render_confirmation,
    root_of,
)
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


ODD_NAMES = ["Nguyễn Văn An", unicodedata.normalize("NFD", "Trần Thị Đào"), "Tôn Nữ Hoàng Phương Nguyễn Thị Thanh Xuân Đặng",
             "\u0301Lê Hòa", "Lê \"Hoàng\" Hòa\\", "", "王小明 😀", "Ａｂｃ", "x" * 60]


@pytest.mark.parametrize(("names", "digest"), [
    (ODD_NAMES, "36744af65d70884dfe6d4d02006d898e17942cbc58fccf0eb65c7154990359c8"),
    ([*ODD_NAMES[:7], "Line\nBreak", *ODD_NAMES[7:]],  # a newline in a name: that column goes cell by cell
     "0a165974e3a9c7ab503ede431dba5146fce2e52e082ee500540c468b9e81aa7d")])
def test_page_contents_are_those_of_the_cell_by_cell_layout(names: list[str], digest: str) -> None:
    """The table is laid out a column at a time; its pages must stay byte for byte those the cell-by-cell layout
    wrote (digests pinned from it): decomposed and odd names, glyphs the font lacks, squeezed names, IDs and
    vaccines, empty cells, repeating dates."""
    vaccines = ["Vero Cell", "Comirnaty", "COVID-19 Vaccine AstraZeneca (ChAdOx1-S recombinant) long", "", "Spikevax"]
    doses = [ConfirmedDose(i, f"k{i}", names[i % len(names)],
                           f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}" if i % 13 else "",
                           ["001190000002", "B1234567", "", "0011900000020011900000020011900000020"][i % 4],
                           vaccines[i % len(vaccines)], i % 4, f"2021-09-0{1 + i % 9}", f"LOT{i % 3}", f"{i:064x}")
             for i in range(1, 131)]
    tree = MerkleTree.build([d.leaf() for d in doses])
    pdf = render_confirmation(HEADER, doses, tree.root, tree.levels[0])
    assert pdf == render_confirmation(HEADER, DoseColumns.of(doses), tree.root)
    streams = re.findall(rb"/Filter /FlateDecode /Length \d+>>\nstream\n(.*?)\nendstream", pdf, re.S)
    pages = [page for page in map(zlib.decompress, streams) if page.startswith(b"/DeviceGray")]
    assert len(pages) == 4 and hashlib.sha256(b"".join(pages)).hexdigest() == digest


def test_leaves_of_columns_are_each_dose_leaf() -> None:
    """`DoseColumns.leaves` writes the JSON itself; it must be `json.dumps`'s for any text (quotes, controls,
    separators JSON leaves alone, astral characters) and for values that are not plain strings or ints."""
    odd = ["", "a\"b\\c", "\x00\x1f\t\n\r\x7f", "\u2028\u2029", "😀 Đặng", unicodedata.normalize("NFD", "Đào")]
    doses = [ConfirmedDose(i, odd[i % 6], odd[(i + 1) % 6], odd[(i + 2) % 6], odd[(i + 3) % 6], odd[(i + 4) % 6],
                           i % 5, odd[(i + 5) % 6], odd[i % 6], "f" * 64) for i in range(12)]
    odd_kinds = [*doses, ConfirmedDose(12, "k", "n", "", "", "", True, "", "", "h")]  # a bool: JSON true
    for batch in (doses, odd_kinds):
        columns = DoseColumns.of(batch)
        assert columns.leaves() == [d.leaf() for d in batch]
        assert [columns[i] for i in range(len(columns))] == batch
    assert DoseColumns.of([]).leaves() == []
