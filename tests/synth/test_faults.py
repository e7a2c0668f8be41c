from __future__ import annotations

import random
import unicodedata

import pytest

from vaxpass.errors import ConfigError
from vaxpass.synth.faults import (
    FAULT_CODES,
    FaultRates,
    flip_tone,
    strip_diacritics,
    swap_digit,
    tone_flippable,
    typo,
    western_order,
)


@pytest.mark.parametrize("name, folded", [
    ("Đặng Thị Thu Hương", "Dang Thi Thu Huong"),
    ("Nguyễn Văn Đức", "Nguyen Van Duc"),
    ("Ngô Thị Thủy", "Ngo Thi Thuy"),
    ("Lefèvre Hélène", "Lefevre Helene"),
])
def test_strip_diacritics_maps_d_bar_explicitly(name: str, folded: str) -> None:
    assert strip_diacritics(name) == folded


@pytest.mark.parametrize("name, flipped", [
    ("Nguyễn Thị Hòa", "Nguyễn Thị Hoà"),
    ("Lê Thuỷ", "Lê Thủy"),
    ("Trần Thúy", "Trần Thuý"),
    ("Phạm Quý", "Phạm Quý"),  # qu + y: one placement only
    ("Hoàng Toàn", "Hoàng Toàn"),  # closed syllables: one placement only
])
def test_flip_tone(name: str, flipped: str) -> None:
    assert flip_tone(name) == flipped
    assert unicodedata.is_normalized("NFC", flip_tone(name))
    assert tone_flippable(name) == (name != flipped)
    assert flip_tone(flip_tone(name)) == name


def test_typo_changes_one_word_by_one_edit() -> None:
    rnd = random.Random(1)
    for name in ["Nguyễn Văn An", "Trần Thị Thu Hà", "Lê Minh", "Kim Min-jun"]:
        for _ in range(50):
            t = typo(name, rnd)
            assert t != name
            assert unicodedata.is_normalized("NFC", t)
            diff = [(a, b) for a, b in zip(name.split(" "), t.split(" "), strict=True) if a != b]
            assert len(diff) == 1
            a, b = diff[0]
            assert abs(len(a) - len(b)) <= 1


def test_western_order_and_swap_digit() -> None:
    assert western_order("Nguyễn Văn An") == "Văn An Nguyễn"
    rnd = random.Random(2)
    for _ in range(100):
        s = swap_digit("001090123456", rnd)
        assert len(s) == 12 and s.isdigit()
        assert sum(a != b for a, b in zip(s, "001090123456", strict=True)) == 1


def test_fault_rates() -> None:
    assert all(v == 0 for v in FaultRates.none().as_dict().values())
    default = FaultRates()
    assert tuple(default.as_dict()) == FAULT_CODES
    assert 0.2 <= sum(default.as_dict().values()) <= 0.3
    assert FaultRates().scaled(2).name_no_diacritics == pytest.approx(0.1)
    assert FaultRates().scaled(100).name_no_diacritics == 1.0
    with pytest.raises(ConfigError):
        FaultRates(bad_row=1.5)
