"""The PDF vaccination certificate ("Giấy chứng nhận tiêm chủng COVID-19"): bilingual Vietnamese/English, the
QR code and the human-readable fields, PAdES-signed so any PDF reader can check it.

The `HC1:` text is embedded in the PDF as an attachment (`hc1.txt`), so a verifier reads it exactly, without
scanning the picture. Speed matters (tens of millions of certificates): the page is a template (`pdfpage`)
written once per process — the DejaVu fonts subset to Latin and every Vietnamese letter (`fonts/*-vi.ttf`, see
fonts/SOURCE.md), the labels, title, footer, page tree — and each certificate adds only its field values, its
QR (encoded by zxing-cpp at level Q, one pixel per module, a raw 1-bit image) and its attachment.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import zxingcpp
from pypdf import PdfReader

from vaxpass.errors import SigningError, VerificationError
from vaxpass.signing.pades import PadesSigner
from vaxpass.signing.pdfpage import MM, EmbeddedFont, PdfTemplate, pdf_stream, pdf_text_string
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


_PAGE = (148.0, 210.0)  # A5 portrait, mm
_MARGIN, _CELL_MARGIN, _QR = 10.0, 1.0, 62.0  # mm: page margin, text inset in a cell (as fpdf2), QR side
_TITLE = "GIẤY CHỨNG NHẬN TIÊM CHỦNG COVID-19"
_SUBTITLE = "COVID-19 Vaccination Certificate — EU Digital COVID Certificate"
_FOOTER = ("Quét mã QR bằng ứng dụng kiểm tra EU-DCC; chữ ký số của tài liệu này được kiểm tra trong trình đọc "
           "PDF. / Scan the QR with any EU-DCC verifier; this document's digital signature is checked by any PDF "
           "reader.")
# object numbers: shared by every certificate, then each certificate's own
_CATALOG, _PAGES, _PAGE_OBJ, _REGULAR, _BOLD, _FILESPEC, _STRUCT_ROOT, _STRUCT_DOC, _STRUCT_QR = (
    1, 2, 3, 4, 9, 14, 15, 16, 17)
_CONTENT, _QR_IMAGE, _ATTACHED, _INFO = 18, 19, 20, 21


class _Layout:
    """The certificate page as a template: everything but the field values, the QR and the attachment is
    written once (fonts, labels, title, footer, page tree, structure), at the positions fpdf2 used."""

    def __init__(self) -> None:
        self.regular = EmbeddedFont(str(_FONTS.joinpath("DejaVuSans-vi.ttf")), "VXPDFA+DejaVuSans")
        self.bold = EmbeddedFont(str(_FONTS.joinpath("DejaVuSans-Bold-vi.ttf")), "VXPDFB+DejaVuSans-Bold")
        width, height = _PAGE
        x = (_MARGIN + _CELL_MARGIN) * MM
        head: list[bytes] = []

        def line(font: EmbeddedFont, tag: bytes, size: float, text: str, top: float, h: float, *,
                 center: bool = False) -> bytes:
            """A one-line cell as fpdf2 places it: baseline at top + h/2 + 0.3 font size, from the top (mm)."""
            baseline = (height - (top + h / 2 + 0.3 * size / MM)) * MM
            left = (width * MM - font.width(text, size)) / 2 if center else x
            return b"BT /%s %.2f Tf %.2f %.2f Td %s Tj ET\n" % (tag, size, left, baseline, font.encode(text))

        head.append(line(self.bold, b"F2", 12, _TITLE, _MARGIN, 6, center=True))
        head.append(line(self.regular, b"F1", 9, _SUBTITLE, _MARGIN + 6, 5, center=True))
        qr_top = _MARGIN + 6 + 5 + 3
        head.append(b"/P <</MCID 0>> BDC q %.2f 0 0 %.2f %.2f %.2f cm /I1 Do Q EMC\n"
                    % (_QR * MM, _QR * MM, (width - _QR) / 2 * MM, (height - qr_top - _QR) * MM))
        top = qr_top + _QR + 3
        self._values: list[tuple[str, float]] = []  # (field, baseline) of each value
        for label, attr in _ROWS:
            head.append(line(self.regular, b"F1", 7, label, top, 3.5))
            self._values.append((attr, (height - (top + 3.5 + 2.5 + 0.3 * 9 / MM)) * MM))
            top += 3.5 + 5
        tail = []
        for text in self._wrap(_FOOTER, 6, (width - 2 * _MARGIN - 2 * _CELL_MARGIN) * MM):
            tail.append(line(self.regular, b"F1", 6, text, top, 3))
            top += 3
        self._head, self._tail, self._x = b"".join(head), b"".join(tail), x
        shared = {
            _CATALOG: b"<</Type /Catalog /Pages %d 0 R /Names <</EmbeddedFiles <</Names [(%s) %d 0 R]>>>>"
                      b" /AF [%d 0 R] /MarkInfo <</Marked true>> /StructTreeRoot %d 0 R /PageLayout /OneColumn>>"
                      % (_PAGES, ATTACHMENT.encode(), _FILESPEC, _FILESPEC, _STRUCT_ROOT),
            _PAGES: b"<</Type /Pages /Kids [%d 0 R] /Count 1 /MediaBox [0 0 %.2f %.2f]>>"
                    % (_PAGE_OBJ, width * MM, height * MM),
            _PAGE_OBJ: b"<</Type /Page /Parent %d 0 R /Resources <</Font <</F1 %d 0 R /F2 %d 0 R>>"
                       b" /XObject <</I1 %d 0 R>> /ProcSet [/PDF /Text /ImageB]>> /Contents %d 0 R"
                       b" /StructParents 0>>" % (_PAGES, _REGULAR, _BOLD, _QR_IMAGE, _CONTENT),
            _FILESPEC: b"<</Type /Filespec /F (%s) /UF (%s) /Desc (EU DCC HC1 text) /EF <</F %d 0 R>>>>"
                       % (ATTACHMENT.encode(), ATTACHMENT.encode(), _ATTACHED),
            _STRUCT_ROOT: b"<</Type /StructTreeRoot /K [%d 0 R] /ParentTree <</Nums [0 [%d 0 R]]>>>>"
                          % (_STRUCT_DOC, _STRUCT_QR),
            _STRUCT_DOC: b"<</Type /StructElem /S /Document /P %d 0 R /K [%d 0 R]>>" % (_STRUCT_ROOT, _STRUCT_QR),
            _STRUCT_QR: b"<</Type /StructElem /S /Figure /P %d 0 R /Pg %d 0 R /K [0] /Alt (EU DCC QR)>>"
                        % (_STRUCT_DOC, _PAGE_OBJ),
            **self.regular.objects(_REGULAR), **self.bold.objects(_BOLD)}
        self.template = PdfTemplate(shared, (_CONTENT, _QR_IMAGE, _ATTACHED, _INFO), root=_CATALOG, info=_INFO)

    def _wrap(self, text: str, size: float, room: float) -> list[str]:
        lines, current = [], ""
        for word in text.split(" "):
            candidate = f"{current} {word}" if current else word
            if current and self.regular.width(candidate, size) > room:
                lines.append(current)
                candidate = word
            current = candidate
        return [*lines, current]

    def content(self, fields: CertificateFields) -> bytes:
        values = [b"BT /F2 9.00 Tf %.2f %.2f Td %s Tj ET\n" % (self._x, baseline,
                                                                  self.bold.encode(getattr(fields, attr)))
                  for attr, baseline in self._values]
        return self._head + b"".join(values) + self._tail


@functools.cache
def _layout() -> _Layout:
    return _Layout()


def render_certificate(fields: CertificateFields, hc1: str) -> bytes:
    """The unsigned PDF: A5 portrait, title, QR, the fields, and the HC1 text attached."""
    layout = _layout()
    modules = qr_modules(hc1)
    rows, columns = modules.shape
    title = f"Giấy chứng nhận tiêm chủng COVID-19 {fields.uvci}"
    own = {
        _CONTENT: pdf_stream(b"", layout.content(fields)),
        _QR_IMAGE: pdf_stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
                              b" /BitsPerComponent 1" % (columns, rows), np.packbits(modules, axis=1).tobytes()),
        _ATTACHED: pdf_stream(b"/Type /EmbeddedFile /Subtype /text#2Fplain /Params <</Size %d>>" % len(hc1),
                              hc1.encode("ascii"), compress=False),
        _INFO: b"<</Title %s /Creator (vaxpass) /Producer (vaxpass) /CreationDate (D:%s000000Z)>>"
               % (pdf_text_string(title), date.fromisoformat(fields.issued_at).strftime("%Y%m%d").encode()),
    }
    return layout.template.document(own, hashlib.sha256(hc1.encode("ascii")).digest()[:16])


def qr_modules(hc1: str) -> np.ndarray:
    """The QR of `hc1` at error correction Q with a 2-module quiet zone, one pixel per module: True is white
    (as a 1-bit DeviceGray image wants it)."""
    if not set(hc1) <= QR_ALPHANUMERIC:
        raise SigningError("HC1 text has characters outside the QR alphanumeric set")
    barcode = zxingcpp.create_barcode(hc1, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
    modules = np.asarray(barcode.to_image(scale=1, add_quiet_zones=False)) > 127
    return np.pad(modules, 2, constant_values=True)


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
