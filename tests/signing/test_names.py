from __future__ import annotations

import re
import unicodedata

import pytest

from vaxpass.signing.names import icao_transliterate, split_vietnamese_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Nguyễn Văn An", "NGUYEN<VAN<AN"),
        ("Đặng Thị Đào", "DANG<THI<DAO"),
        ("đỗ đức đạt", "DO<DUC<DAT"),
        ("Hoà", "HOA"),
        ("Hòa", "HOA"),
        ("Thuỷ", "THUY"),
        ("Thủy", "THUY"),
        ("Trần  Thị-Ngọc   Ánh", "TRAN<THI<NGOC<ANH"),
        ("Lê Hữu Phước", "LE<HUU<PHUOC"),
        ("d'Červenková Panklová", "DCERVENKOVA<PANKLOVA"),
        (" - ", ""),
        ("", ""),
    ],
)
def test_icao_transliterate(name: str, expected: str) -> None:
    assert icao_transliterate(name) == expected


@pytest.mark.parametrize("name", ["Nguyễn Văn An", "Đặng Thị Đào", "Hoàng Thị Thuỷ", "Phạm Ngọc Ánh"])
def test_nfd_input_gives_the_nfc_result(name: str) -> None:
    nfd = unicodedata.normalize("NFD", name)
    assert nfd != name
    assert icao_transliterate(nfd) == icao_transliterate(name)


def test_result_fits_the_schema() -> None:
    result = icao_transliterate("Nguyễn " * 30)
    assert re.fullmatch(r"[A-Z<]*", result)
    assert len(result) <= 80 and not result.endswith("<")


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Nguyễn Văn An", ("Nguyễn", "Văn An")),
        ("  Trần   Thị  Bích Ngọc ", ("Trần", "Thị Bích Ngọc")),
        ("Lý", ("Lý", "")),
        ("", ("", "")),
    ],
)
def test_split_vietnamese_name(full: str, expected: tuple[str, str]) -> None:
    assert split_vietnamese_name(full) == expected


def test_split_returns_nfc() -> None:
    family, given = split_vietnamese_name(unicodedata.normalize("NFD", "Nguyễn Văn An"))
    assert (family, given) == ("Nguyễn", "Văn An")
