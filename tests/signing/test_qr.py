from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from qrcode.constants import ERROR_CORRECT_Q
from qrcode.util import MODE_ALPHA_NUM

from vaxpass.errors import SigningError
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import encode_hc1
from vaxpass.signing.keystore import Signer
from vaxpass.signing.qr import make_qr, write_qr_png
from vaxpass.signing.uvci import make_uvci
from vaxpass.vaccines import lookup


@pytest.fixture()
def hc1(signer: Signer, now: datetime) -> str:
    vaccine = lookup("Moderna")
    assert vaccine is not None
    payload = build_vaccination_payload(full_name="Phạm Thị Hương", dob="2001-01-31", vaccine=vaccine,
                                        dose_number=2, total_doses=2, vaccination_date="2021-11-20",
                                        uvci=make_uvci(b"qr"))
    return encode_hc1(payload, signer, issued_at=now, expires_at=now + timedelta(days=365))


def test_single_alphanumeric_segment_at_level_q(hc1: str) -> None:
    code = make_qr(hc1)
    assert code.error_correction == ERROR_CORRECT_Q
    assert [d.mode for d in code.data_list] == [MODE_ALPHA_NUM]
    assert code.version is not None and code.version <= 20  # ≈ 560 characters fit version 18 at level Q


def test_write_png(hc1: str, tmp_path: Path) -> None:
    path = tmp_path / "out" / "qr.png"
    write_qr_png(hc1, path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] == image.size[1] > 100


def test_rejects_text_outside_the_alphanumeric_set(tmp_path: Path) -> None:
    with pytest.raises(SigningError):
        write_qr_png("HC1:lower case", tmp_path / "x.png")
