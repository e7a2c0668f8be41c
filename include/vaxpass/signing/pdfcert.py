"""The PDF vaccination certificate ("Giấy chứng nhận tiêm chủng COVID-19"): bilingual Vietnamese/English, the
QR code and the human-readable fields, PAdES-signed so any PDF reader can check it.

The `HC1:` text is embedded in the PDF as an attachment (`hc1.txt`), so a verifier reads it exactly, without
scanning the picture. Speed matters (tens of millions of certificates): the QR is encoded by zxing-cpp (C++,
level Q, about 10x faster than the pure-Python encoder) and placed as a 1-pixel-per-module image, and the fonts
are DejaVu subsets holding Latin and every Vietnamese letter (`fonts/*-vi.ttf`, made with fontTools'
`pyftsubset`, see fonts/SOURCE.md), which fpdf2 parses ten times faster than the full fonts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import zxingcpp
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont
from PIL import Image
from pypdf import PdfReader

from vaxpass.errors import SigningError, VerificationError
from vaxpass.signing.pades import PadesSigner
from vaxpass.signing.qr import QR_ALPHANUMERIC
from vaxpass.vaccines import all_vaccines

ATTACHMENT = "hc1.txt"
_FONTS = __import__("importlib.resources").resources.files("vaxpass.signing").joinpath("fonts")


@dataclass(frozen=True)
class CertificateFields:
    """What the certificate shows, read from the signed DCC payload (so the PDF can never say something else)."""

    full_name: str
    transliterated: str
    dob: str
    vaccine: str
    dose: str
    vaccination_date: str
    country: str
    issuer: str
    uvci: str
    issued_at: str
    expires_at: str

    @classmethod
    def from_payload(cls, payload: dict[str, Any], *, issued_at: datetime, expires_at: datetime) -> CertificateFields:
        nam, v = payload["nam"], payload["v"][0]
        names = {vac.mp: vac.display for vac in all_vaccines()}
        return cls(
            full_name=" ".join(p for p in (nam.get("fn"), nam.get("gn")) if p),
            transliterated=" ".join(p for p in (nam.get("fnt"), nam.get("gnt")) if p).replace("<", " "),
            dob=payload["dob"], vaccine=names.get(v["mp"], v["mp"]), dose=f"{v['dn']}/{v['sd']}",
            vaccination_date=v["dt"], country=v["co"], issuer=v["is"], uvci=v["ci"],
            issued_at=f"{issued_at:%Y-%m-%d}", expires_at=f"{expires_at:%Y-%m-%d}")


_ROWS = (("Họ và tên / Name", "full_name"), ("Tên phiên âm / Transliterated name", "transliterated"),
         ("Ngày sinh / Date of birth", "dob"), ("Vắc xin / Vaccine", "vaccine"),
         ("Mũi tiêm / Dose", "dose"), ("Ngày tiêm / Date of vaccination", "vaccination_date"),
         ("Quốc gia tiêm / Country of vaccination", "country"), ("Cơ quan cấp / Issuer", "issuer"),
         ("Mã định danh / Certificate id (UVCI)", "uvci"), ("Ngày cấp / Issued", "issued_at"),
         ("Hiệu lực đến / Valid until", "expires_at"))


def render_certificate(fields: CertificateFields, hc1: str) -> bytes:
    """The unsigned PDF: A5 portrait, title, QR, the fields, and the HC1 text attached."""
    pdf = FPDF(orientation="P", format=(148, 210))  # A5 in mm (the "A5" name warns since fpdf2 2.8.5)
    pdf.add_font("DejaVu", "", str(_FONTS.joinpath("DejaVuSans-vi.ttf")))
    pdf.add_font("DejaVu", "B", str(_FONTS.joinpath("DejaVuSans-Bold-vi.ttf")))
    for font in pdf.fonts.values():
        if isinstance(font, TTFFont):
            # The bundled fonts' glyph bounding boxes are exact already (fontTools wrote them); recomputing them
            # when fpdf2 saves the subset decodes and re-encodes every kept glyph: about half of rendering.
            font.ttfont.recalcBBoxes = False
    pdf.set_auto_page_break(auto=False)
    pdf.set_creator("vaxpass")
    pdf.set_title(f"Giấy chứng nhận tiêm chủng COVID-19 {fields.uvci}")
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(0, 6, "GIẤY CHỨNG NHẬN TIÊM CHỦNG COVID-19", new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="C")
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(0, 5, "COVID-19 Vaccination Certificate — EU Digital COVID Certificate", new_x=XPos.LMARGIN,
             new_y=YPos.NEXT, align="C")
    pdf.image(qr_image(hc1), x=(pdf.w - 62) / 2, y=pdf.get_y() + 3, w=62, h=62, alt_text="EU DCC QR")
    pdf.set_y(pdf.get_y() + 3 + 62 + 3)
    for label, attr in _ROWS:
        pdf.set_font("DejaVu", "", 7)
        pdf.cell(0, 3.5, label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(0, 5, getattr(fields, attr), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", 6)
    pdf.multi_cell(0, 3, "Quét mã QR bằng ứng dụng kiểm tra EU-DCC; chữ ký số của tài liệu này được kiểm tra trong "
                         "trình đọc PDF. / Scan the QR with any EU-DCC verifier; this document's digital signature "
                         "is checked by any PDF reader.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.embed_file(bytes=hc1.encode("ascii"), basename=ATTACHMENT, mime_type="text/plain",
                   desc="EU DCC HC1 text")
    return bytes(pdf.output())


def qr_image(hc1: str) -> Image.Image:
    """The QR of `hc1` at error correction Q with a 2-module quiet zone, one pixel per module (1-bit)."""
    if not set(hc1) <= QR_ALPHANUMERIC:
        raise SigningError("HC1 text has characters outside the QR alphanumeric set")
    barcode = zxingcpp.create_barcode(hc1, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    modules = Image.fromarray(np.asarray(image)).convert("1")
    framed = Image.new("1", (modules.width + 4, modules.height + 4), 1)
    framed.paste(modules, (2, 2))
    return framed


class PdfCertificateSigner:
    """Renders and PAdES-signs PDF certificates with one signer (key parsed once)."""

    def __init__(self, pades: PadesSigner) -> None:
        self._pades = pades

    def make(self, payload: dict[str, Any], hc1: str, *, issued_at: datetime, expires_at: datetime) -> bytes:
        fields = CertificateFields.from_payload(payload, issued_at=issued_at, expires_at=expires_at)
        return self._pades.sign(render_certificate(fields, hc1), field_name="Signature1",
                                reason="Giấy chứng nhận tiêm chủng / Vaccination certificate", location="Việt Nam")


def hc1_of(pdf: bytes) -> str:
    """The HC1 text attached to a vaxpass PDF certificate (VerificationError `no-hc1` if there is none)."""
    try:
        attachments = PdfReader(io.BytesIO(pdf)).attachments
    except Exception as exc:  # pypdf raises many types on damaged files
        raise VerificationError("bad-pdf", type(exc).__name__) from None
    data = attachments.get(ATTACHMENT)
    if not data:
        raise VerificationError("no-hc1", "the PDF carries no hc1.txt attachment")
    return data[0].decode("ascii").strip()
