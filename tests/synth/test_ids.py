from __future__ import annotations

import re

import numpy as np

from vaxpass.geo import PROVINCE_CODES
from vaxpass.synth.ids import IdAllocator, phones, render_pattern


def test_cccd_unique_across_calls_and_structured() -> None:
    ids = IdAllocator(np.random.default_rng(1))
    hanoi = PROVINCE_CODES.index("001")
    seen: set[str] = set()
    for _ in range(3):  # the same prefix from several chunks
        n = 50_000
        year = np.full(n, 1990)
        sex = np.arange(n) % 2
        out = ids.cccd(np.full(n, hanoi), year, sex)
        seen.update(out)
        assert all(c[:6] in ("001090", "001190") for c in out)
    assert len(seen) == 150_000
    two_thousands = ids.cccd(np.array([hanoi, hanoi]), np.array([2005, 2005]), np.array([0, 1]))
    assert [c[:6] for c in two_thousands] == ["001205", "001305"]


def test_cmnd_and_passports() -> None:
    ids = IdAllocator(np.random.default_rng(2))
    hanoi = PROVINCE_CODES.index("001")
    cm = ids.cmnd(np.array([hanoi, hanoi, PROVINCE_CODES.index("038")]), ["006", "268", "006"])
    assert [c[:2] for c in cm] == ["01", "11", "17"]
    assert all(len(c) == 9 and c.isdigit() for c in cm)
    pp = ids.passports(["KR", "JP", "FR", "US", "KR"])
    assert re.fullmatch(r"M\d{8}", pp[0]) and re.fullmatch(r"T[A-Z]\d{7}", pp[1])
    assert re.fullmatch(r"\d{2}[A-Z]{2}\d{5}", pp[2]) and re.fullmatch(r"\d{9}", pp[3])
    assert pp[0] != pp[4]


def test_phones_and_patterns() -> None:
    for p in phones(np.random.default_rng(3), 1000):
        assert re.fullmatch(r"0[35789]\d{8}", p)
    assert render_pattern("DDLL", 0) == "00AA"
    assert render_pattern("XD", 7) == "X7"
