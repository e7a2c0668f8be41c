"""The PDF certificate page, written from a template: every Vietnamese letter is a real glyph of the embedded
font and extracts as itself, the page is the same bytes for the same certificate, and poppler renders it."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import IN_CI
from vaxpass.signing.pdfcert import ATTACHMENT, CertificateFields, _layout, hc1_of, render_certificate

# every Vietnamese letter with a diacritic: 12 vowels x 6 tones (less the 6 plain ASCII ones), and Đ; both cases
_LOWER = sorted({unicodedata.normalize("NFC", base + tone) for base in "aăâeêioôơuưy"
                 for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")} - set("aeiouy") | {"đ"})
VIETNAMESE = "".join(_LOWER) + "".join(c.upper() for c in _LOWER)
HC1 = "HC1:NCFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N IOP-IA%NFQGRJPC%OQHIZC4.OI1RM8ZA.A5:S9MKN4NN3F85QNCY0O%0"


def _fields(**changes: str) -> CertificateFields:
    base = CertificateFields(
        full_name="Đặng Thị Ánh Nguyệt", transliterated="DANG THI ANH NGUYET", dob="1990-04-30",
        vaccine="Comirnaty", dose="2/2", vaccination_date="2021-09-01", country="VN",
        issuer="Ministry of Health of Viet Nam", uvci="URN:UVCI:01:VN:ABCDEFGH12345678#Q", issued_at="2022-05-10",
        expires_at="2023-05-10")
    return dataclasses.replace(base, **changes)


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_every_vietnamese_letter_is_a_glyph_and_extracts_as_itself() -> None:
    assert len(VIETNAMESE) == 134  # 67 letters with diacritics, in both cases
    layout = _layout()
    for font in (layout.regular, layout.bold):
        assert b"0000" not in font.encode(VIETNAMESE)  # no letter falls back to .notdef
    pdf = render_certificate(_fields(full_name=VIETNAMESE), HC1)
    text = _text(pdf)
    assert VIETNAMESE in text and "GIẤY CHỨNG NHẬN TIÊM CHỦNG COVID-19" in text
    assert hc1_of(pdf) == HC1 and ATTACHMENT in PdfReader(io.BytesIO(pdf)).attachments


def test_decomposed_names_render_as_composed_and_unknown_characters_as_a_box() -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Thủy")
    assert render_certificate(_fields(full_name=nfd), HC1) == render_certificate(
        _fields(full_name="Nguyễn Thị Thủy"), HC1)
    layout = _layout()
    assert layout.bold.encode("A山") == layout.bold.encode("A")[:-1] + b"0000>"


def test_same_certificate_same_bytes_and_each_certificate_its_own() -> None:
    assert render_certificate(_fields(), HC1) == render_certificate(_fields(), HC1)
    other = render_certificate(_fields(uvci="URN:UVCI:01:VN:ZZZZZZZZ12345678#A"), HC1)
    assert other != render_certificate(_fields(), HC1) and "URN:UVCI:01:VN:ZZZZZZZZ12345678#A" in _text(other)


def test_poppler_reads_the_fonts_and_the_text(tmp_path: Path) -> None:
    """poppler (pdffonts, pdftotext) finds both fonts embedded with a Unicode map, and the Vietnamese text."""
    if shutil.which("pdffonts") is None or shutil.which("pdftotext") is None:
        if IN_CI:
            pytest.fail("pdffonts and pdftotext (Debian poppler-utils) are required in CI")
        pytest.skip("poppler-utils not installed")
    (tmp_path / "c.pdf").write_bytes(render_certificate(_fields(), HC1))
    fonts = subprocess.run(["pdffonts", str(tmp_path / "c.pdf")], capture_output=True, text=True, check=True)
    rows = [line.split() for line in fonts.stdout.splitlines()[2:]]
    assert len(rows) == 2 and all(r[-5:-2] == ["yes", "yes", "yes"] for r in rows), fonts.stdout
    text = subprocess.run(["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Đặng Thị Ánh Nguyệt" in text and "Hiệu lực đến / Valid until" in text
