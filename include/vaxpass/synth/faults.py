"""The typical faults of Vietnam's vaccination data (DESIGN.md §1), their rates, and how each one is typed.

In March 2022, 19 M of 76.6 M vaccinated people had details that did not match the population database. The
default rates below give about a quarter of dose records at least one fault.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache

from vaxpass.errors import ConfigError


@dataclass(frozen=True)
class FaultRates:
    """Share of all dose records that get each fault.

    A fault is only put where it can happen (a day/month swap needs a day ≤ 12, `old_cmnd` a person with a
    CMND); the rate is spread over those records, so the share of all records stays as set when enough are
    eligible. `summary.json` reports what was actually injected.
    """

    name_no_diacritics: float = 0.05
    name_nfd: float = 0.02
    name_typo: float = 0.015
    name_tone_placement: float = 0.003
    name_dropped_middle: float = 0.01
    name_western_order: float = 0.005
    dob_day_month_swap: float = 0.015
    dob_typo: float = 0.005
    old_cmnd: float = 0.03
    id_missing: float = 0.01
    id_wrong_digit: float = 0.01
    duplicate_entry: float = 0.01
    vaccine_name_variant: float = 0.02
    vaccine_unknown: float = 0.002
    dose_order: float = 0.01
    phone_missing: float = 0.02
    sex_wrong: float = 0.003
    bad_row: float = 0.01

    def __post_init__(self) -> None:
        bad = {k: v for k, v in asdict(self).items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ConfigError(f"fault rates must be within [0, 1]: {bad}")

    @classmethod
    def none(cls) -> FaultRates:
        """A clean data set: no faults at all."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def scaled(self, factor: float) -> FaultRates:
        """Every rate times `factor` (capped at 1)."""
        return replace(self, **{k: min(1.0, v * factor) for k, v in asdict(self).items()})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


FAULT_CODES: tuple[str, ...] = tuple(f.name for f in fields(FaultRates))

# How sites mistype product names (left: the canonical name as a clean site types it).
VACCINE_VARIANTS: dict[str, tuple[str, ...]] = {
    "AstraZeneca": ("Astra Zeneca", "astrazeneca", "ASTRAZENECA", "AZ", "Vaxzevria", "Astrazeneca"),
    "Vero Cell": ("Vaccine Vero Cell", "Verocell", "Vero cell", "Sinopharm", "VERO CELL", "Vero-Cell"),
    "Pfizer": ("Comirnaty", "Pfizer-BioNTech", "pfizer", "Pfizer BioNTech", "PFIZER", "Pfizer - BioNTech"),
    "Moderna": ("moderna", "MODERNA", "Moderna (Spikevax)"),
    "Spikevax": ("spikevax", "Spike vax", "SPIKEVAX", "Spikevax (Moderna)"),
    "Abdala": ("abdala", "ABDALA", "Abdala (Cuba)"),
    "Sputnik V": ("Sputnik-V", "Sputnik", "Gam-COVID-Vac", "sputnik v"),
    "Hayat-Vax": ("Hayat Vax", "HayatVax", "Hayat-vax"),
    "Janssen": ("J&J", "Johnson & Johnson", "janssen"),
    "Covaxin": ("covaxin", "COVAXIN", "Covaxin (Bharat)"),
}
UNKNOWN_VACCINES = ("Vắc xin lạ", "ABC", "Không rõ", "Khác", "Vacxin", "x")

# Vietnamese tone marks as combining characters (huyền, sắc, ngã, hỏi, nặng).
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")
_QWERTY = {
    "a": "sqz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "g": "fh", "h": "gj", "i": "uo", "k": "jl",
    "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi",
    "v": "cb", "x": "zc", "y": "tu",
}
# Telex/VNI slips: the mark lost or the wrong one (ư→u, ơ→o, ă→a, ...).
_VN_SLIP = {"ư": "u", "ơ": "o", "ă": "a", "â": "a", "ê": "e", "ô": "o", "đ": "d", "u": "ư", "o": "ô", "a": "â"}


def strip_diacritics(s: str) -> str:
    """ASCII-fold a Vietnamese name. Đ/đ have no Unicode decomposition, so they are mapped explicitly."""
    d = unicodedata.normalize("NFD", s)
    out = "".join(c for c in d if not unicodedata.combining(c)).replace("Đ", "D").replace("đ", "d")
    return unicodedata.normalize("NFC", out)


@lru_cache(maxsize=4096)
def flip_tone_syllable(w: str) -> str:
    """Move the tone mark between old and new placement (Hòa ↔ Hoà, Thủy ↔ Thuỷ); other syllables unchanged.

    Only open syllables ending in oa, oe or uy have two accepted placements; `qu` + y (Quý) does not.
    """
    d = unicodedata.normalize("NFD", w)
    pos = [i for i, c in enumerate(d) if c in _TONES]
    if len(pos) != 1:
        return w
    t = d[pos[0]]
    base = d[: pos[0]] + d[pos[0] + 1:]
    low = base.lower()
    if not low.endswith(("oa", "oe", "uy")) or low.startswith("qu"):
        return w
    if pos[0] == len(base) - 1:  # tone on the first vowel of the pair
        flipped = base + t
    elif pos[0] == len(base):  # tone on the last vowel
        flipped = base[:-1] + t + base[-1]
    else:
        return w
    return unicodedata.normalize("NFC", flipped)


def flip_tone(name: str) -> str:
    return " ".join(flip_tone_syllable(w) for w in name.split(" "))


@lru_cache(maxsize=8192)
def _flippable_word(w: str) -> bool:
    return flip_tone_syllable(w) != w


def tone_flippable(name: str) -> bool:
    return any(_flippable_word(w) for w in name.split(" "))


def typo(name: str, rnd: random.Random) -> str:
    """One keystroke wrong in one word: a letter dropped, doubled, swapped with its neighbour or mistyped."""
    words = name.split(" ")
    wi = len(words) - 1 if rnd.random() < 0.5 or len(words) == 1 else rnd.randrange(len(words) - 1)
    w = words[wi]
    for _ in range(10):
        i = rnd.randrange(len(w))
        op = rnd.random()
        if op < 0.3 and len(w) > 2:
            new = w[:i] + w[i + 1:]
        elif op < 0.5 and i + 1 < len(w) and w[i] != w[i + 1]:
            new = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        elif op < 0.6:
            new = w[:i] + w[i] + w[i:]
        else:
            c = w[i].lower()
            base = unicodedata.normalize("NFD", c)[0]
            repl = _VN_SLIP.get(c) or (rnd.choice(_QWERTY[base]) if base in _QWERTY else None)
            if repl is None:
                continue
            new = w[:i] + (repl.upper() if w[i].isupper() else repl) + w[i + 1:]
        if new != w:
            words[wi] = unicodedata.normalize("NFC", new)
            return " ".join(words)
    return name


def western_order(name: str) -> str:
    """Given names first and family name last, as foreign systems print it (Văn An Nguyễn)."""
    words = name.split(" ")
    return " ".join(words[1:] + words[:1])


def swap_digit(number: str, rnd: random.Random) -> str:
    i = rnd.randrange(len(number))
    d = str((int(number[i]) + rnd.randrange(1, 10)) % 10)
    return number[:i] + d + number[i + 1:]
