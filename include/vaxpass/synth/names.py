"""Vietnamese (and a few foreign) names for synthetic persons, sampled vectorised.

Vietnamese order is family name, middle name(s), given name (Nguyễn Thị Thu Hà). Family names follow their real
frequency (Nguyễn ≈ 38 %); middle and given names depend on sex and follow a Zipf-like popularity. Both tone
placements of names such as Hòa/Hoà appear, as they do in real registers.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from vaxpass.synth.faults import tone_flippable

NONE = -1  # index meaning "no middle name"
P_NO_MIDDLE = 0.05
P_TWO_MIDDLE = 0.08
TOP_MIDDLE_SHARE = (0.33, 0.42)  # Văn among men's, Thị among women's middle names
_COMMON_MIDDLE = ("Văn", "Thị")  # never the second of two middle names


def _zipf(n: int, s: float = 0.9, shift: float = 4.0) -> np.ndarray:
    w = 1.0 / (np.arange(n) + shift) ** s
    return w / w.sum()


def _nfc(words: list[str]) -> np.ndarray:
    for w in words:
        if unicodedata.normalize("NFC", w) != w:
            raise ValueError(f"name list entry is not NFC: {w!r}")
    return np.array(words, dtype=object)


@dataclass(frozen=True)
class ForeignNames:
    """Name parts of one nationality; `family_first` for East Asian order (Kim Min-jun)."""

    code: str
    weight: float
    family_first: bool
    family: np.ndarray
    given: tuple[np.ndarray, np.ndarray]  # by sex: male, female


@dataclass(frozen=True)
class Lexicon:
    family: np.ndarray
    family_p: np.ndarray
    middle: tuple[np.ndarray, np.ndarray]  # by sex 0 = male, 1 = female
    middle_p: tuple[np.ndarray, np.ndarray]
    middle2_p: tuple[np.ndarray, np.ndarray]  # second middle name: never Văn/Thị
    given: tuple[np.ndarray, np.ndarray]
    given_p: tuple[np.ndarray, np.ndarray]
    foreign: tuple[ForeignNames, ...]


@cache
def lexicon() -> Lexicon:
    raw = json.loads(resources.files("vaxpass.synth").joinpath("data/names.json").read_text(encoding="utf-8"))
    family = _nfc([f for f, _ in raw["family"]])
    fw = np.array([w for _, w in raw["family"]], dtype=float)
    middle = (_nfc(raw["middle_male"]), _nfc(raw["middle_female"]))
    given = (_nfc(raw["given_male"]), _nfc(raw["given_female"]))
    middle_p = []
    for names, top in zip(middle, TOP_MIDDLE_SHARE, strict=True):
        p = _zipf(len(names), s=1.3, shift=1.5)
        p[0] = 0.0
        p *= (1.0 - top) / p.sum()
        p[0] = top
        middle_p.append(p)
    middle2_p = []
    for names, p in zip(middle, middle_p, strict=True):
        q = p * np.array([n not in _COMMON_MIDDLE for n in names])
        middle2_p.append(q / q.sum())
    foreign = tuple(
        ForeignNames(code, float(f["weight"]), bool(f["family_first"]), _nfc(f["family"]),
                     (_nfc(f["given_male"]), _nfc(f["given_female"])))
        for code, f in raw["foreign"].items()
    )
    return Lexicon(
        family=family, family_p=fw / fw.sum(),
        middle=middle, middle_p=(middle_p[0], middle_p[1]), middle2_p=(middle2_p[0], middle2_p[1]),
        given=given, given_p=(_zipf(len(given[0])), _zipf(len(given[1]))), foreign=foreign,
    )


@dataclass
class VnNameIdx:
    """Sampled name parts as indices into the lexicon (per person; `NONE` for a missing middle name)."""

    family: np.ndarray
    middle1: np.ndarray
    middle2: np.ndarray
    given: np.ndarray


def sample_vn(rng: np.random.Generator, sex: np.ndarray) -> VnNameIdx:
    """Name indices for persons of the given sexes (0 = male, 1 = female)."""
    lx = lexicon()
    n = len(sex)
    fam = rng.choice(len(lx.family), size=n, p=lx.family_p)
    m1 = np.full(n, NONE, dtype=np.int64)
    m2 = np.full(n, NONE, dtype=np.int64)
    giv = np.empty(n, dtype=np.int64)
    u = rng.random(n)
    for s in (0, 1):
        sel = sex == s
        k = int(sel.sum())
        m1[sel] = rng.choice(len(lx.middle[s]), size=k, p=lx.middle_p[s])
        second = rng.choice(len(lx.middle[s]), size=k, p=lx.middle2_p[s])
        m2[sel] = np.where(u[sel] < P_TWO_MIDDLE, second, NONE)
        giv[sel] = rng.choice(len(lx.given[s]), size=k, p=lx.given_p[s])
    m1[u > 1.0 - P_NO_MIDDLE] = NONE
    m2[(m1 == m2) | (m1 == NONE)] = NONE
    return VnNameIdx(fam, m1, m2, giv)


def _pick(by_sex: tuple[np.ndarray, np.ndarray], sex: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.empty(len(idx), dtype=object)
    for s in (0, 1):
        sel = sex == s
        out[sel] = np.append(by_sex[s], "")[idx[sel]]  # NONE (-1) picks the appended ""
    return out


def vn_parts(idx: VnNameIdx, sex: np.ndarray) -> tuple[list[str], list[str | None], list[str]]:
    """Family names, middle names (None when there is none) and given names as strings."""
    lx = lexicon()
    family: list[str] = lx.family[idx.family].tolist()
    m1 = _pick(lx.middle, sex, idx.middle1).tolist()
    m2 = _pick(lx.middle, sex, idx.middle2).tolist()
    given: list[str] = _pick(lx.given, sex, idx.given).tolist()
    middle: list[str | None] = [(a + " " + b if b else a) or None for a, b in zip(m1, m2, strict=True)]
    return family, middle, given


def vn_tone_flippable(idx: VnNameIdx, sex: np.ndarray) -> np.ndarray:
    """Whether a name has a syllable with two accepted tone placements (Hòa/Hoà)."""
    lx = lexicon()

    def flags(words: np.ndarray) -> np.ndarray:
        return np.append(np.array([tone_flippable(w) for w in words.tolist()], dtype=bool), False)

    out = flags(lx.family)[idx.family]
    for s in (0, 1):
        sel = sex == s
        mid, giv = flags(lx.middle[s]), flags(lx.given[s])
        out[sel] |= mid[idx.middle1[sel]] | mid[idx.middle2[sel]] | giv[idx.given[sel]]
    return out


def full_names(family: list[str], middle: list[str | None], given: list[str]) -> list[str]:
    return [f"{f} {m} {g}" if m else f"{f} {g}" for f, m, g in zip(family, middle, given, strict=True)]


def sample_foreign(rng: np.random.Generator, sex: np.ndarray) -> tuple[list[str], list[str]]:
    """Nationality codes and full names (as a site would type them from the passport)."""
    lx = lexicon()
    w = np.array([f.weight for f in lx.foreign])
    which = rng.choice(len(lx.foreign), size=len(sex), p=w / w.sum())
    u_fam = rng.random(len(sex))
    u_giv = rng.random(len(sex))
    nats: list[str] = []
    names: list[str] = []
    for k, s, a, b in zip(which.tolist(), sex.tolist(), u_fam.tolist(), u_giv.tolist(), strict=True):
        f = lx.foreign[k]
        fam = f.family[int(a * len(f.family))]
        giv = f.given[s][int(b * len(f.given[s]))]
        nats.append(f.code)
        names.append(f"{fam} {giv}" if f.family_first else f"{giv} {fam}")
    return nats, names
