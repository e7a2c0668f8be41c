"""QR codes for `HC1:` text: one alphanumeric-mode segment, error correction Q (hcert spec).

Base45's alphabet is exactly the QR alphanumeric set, so the whole text fits alphanumeric mode (5.5 bits per
character instead of 8 in byte mode). The mode is set explicitly rather than left to qrcode's optimiser, which
would also pick alphanumeric but may split long digit runs into extra numeric segments.
"""

from __future__ import annotations

from pathlib import Path

import qrcode
from qrcode.constants import ERROR_CORRECT_Q
from qrcode.util import MODE_ALPHA_NUM, QRData

from vaxpass.errors import SigningError

QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def make_qr(hc1: str, *, box_size: int = 4, border: int = 4) -> qrcode.QRCode:
    """The QR code object for `hc1` (for PNG output or for drawing into a PDF)."""
    if not set(hc1) <= QR_ALPHANUMERIC:
        raise SigningError("HC1 text has characters outside the QR alphanumeric set")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, box_size=box_size, border=border)
    code.add_data(QRData(hc1.encode("ascii"), mode=MODE_ALPHA_NUM))
    code.make(fit=True)
    return code


def write_qr_png(hc1: str, path: Path) -> None:
    """Write `hc1` as a PNG QR code at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    make_qr(hc1).make_image().save(str(path))
