"""The confirmation list as a PDF ("Danh sách xác nhận tiêm chủng"), bilingual, Vietnamese glyphs embedded.

Each row carries the first hex digits of its record's Merkle leaf hash, and the footer the Merkle root and
the number of leaves, so a printed page can be tied back to the signed root and each record's inclusion proof.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from pypdf import PdfReader

FONTS = resources.files("vaxpass.signing").joinpath("fonts")


@dataclass(frozen=True)
class ConfirmedDose:
    """One dose as the site confirms it: who, what, when — the content its Merkle leaf commits to."""

    record_id: int
    source_key: str
    full_name: str
    dob: str
    national_id: str
    vaccine: str
    dose_number: int
    vaccination_date: str
    lot: str
    content_hash: str

    def leaf(self) -> bytes:
        """Canonical bytes of the record (sorted-key JSON): what the Merkle leaf hashes."""
        return json.dumps(self.__dict__, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ConfirmationHeader:
    site_code: str
    site_name: str
    district_name: str
    head_of_facility: str
    cycle_id: str
    run_date: date


_COLUMNS = (("#", 10), ("Họ và tên / Name", 55), ("Ngày sinh / DOB", 28), ("CCCD / ID", 30),
            ("Vắc xin / Vaccine", 32), ("Mũi / Dose", 17), ("Ngày tiêm / Date", 30), ("Lá Merkle / Leaf", 0))


_ROOT_KEY, _LEAVES_KEY = "merkle-root:", "merkle-leaves:"


def root_of(pdf: bytes) -> tuple[bytes, int]:
    """The Merkle root and leaf count a confirmation PDF states (read from its metadata; check the signature
    first with `vaxpass.signing.pades.validate_pdf`)."""
    metadata = PdfReader(io.BytesIO(pdf)).metadata
    keywords = str(metadata.get("/Keywords", "")) if metadata is not None else ""
    words = dict(w.split(":", 1) for w in keywords.split() if ":" in w)
    try:
        return bytes.fromhex(words[_ROOT_KEY[:-1]]), int(words[_LEAVES_KEY[:-1]])
    except (KeyError, ValueError):
        raise ValueError("not a vaxpass confirmation: no Merkle root in its metadata") from None


def _pdf() -> FPDF:
    pdf = FPDF(orientation="L", format="A4")
    pdf.add_font("DejaVu", "", str(FONTS.joinpath("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(FONTS.joinpath("DejaVuSans-Bold.ttf")))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_creator("vaxpass")
    return pdf


def render_confirmation(header: ConfirmationHeader, doses: Sequence[ConfirmedDose], merkle_root: bytes) -> bytes:
    """The unsigned PDF; `merkle_root` is the RFC 9162 root over `[d.leaf() for d in doses]` in this order."""
    pdf = _pdf()
    # machine-readable copy of what the footer prints, for `root_of` (the signature covers the metadata too)
    pdf.set_keywords(f"{_ROOT_KEY}{merkle_root.hex()} {_LEAVES_KEY}{len(doses)}")
    pdf.set_title(f"Danh sách xác nhận tiêm chủng {header.site_code} {header.cycle_id}")
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 8, "DANH SÁCH XÁC NHẬN TIÊM CHỦNG / VACCINATION CONFIRMATION LIST",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="C")
    pdf.set_font("DejaVu", "", 10)
    for line in (f"Cơ sở tiêm chủng / Site: {header.site_name} ({header.site_code}), {header.district_name}",
                 f"Thủ trưởng cơ sở / Head of facility: {header.head_of_facility}",
                 f"Chu kỳ / Cycle: {header.cycle_id} — {header.run_date:%d/%m/%Y} — {len(doses)} mũi tiêm / doses"):
        pdf.cell(0, 6, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 8)
    width = pdf.epw
    fixed = sum(w for _, w in _COLUMNS)
    widths = [w or width - fixed for _, w in _COLUMNS]
    for (title, _), w in zip(_COLUMNS, widths, strict=True):
        pdf.cell(w, 6, title, border=1)
    pdf.ln()
    pdf.set_font("DejaVu", "", 8)
    for i, dose in enumerate(doses, start=1):
        leaf = hashlib.sha256(b"\x00" + dose.leaf()).hexdigest()[:16]
        cells = (str(i), dose.full_name, dose.dob, dose.national_id, dose.vaccine, str(dose.dose_number),
                 dose.vaccination_date, leaf)
        for text, w in zip(cells, widths, strict=True):
            pdf.cell(w, 5, text, border=1)
        pdf.ln()
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 9)
    pdf.multi_cell(0, 5, f"Gốc Merkle / Merkle root (RFC 9162, SHA-256, {len(doses)} leaves): {merkle_root.hex()}",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(0, 5, "Thủ trưởng cơ sở ký số xác nhận danh sách trên / The head of facility digitally signs "
                         "this list (PAdES).", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
