"""Identity numbers: CCCD, old CMND, passports and mobile phone numbers.

CCCD is `PPP G YY NNNNNN` (province of birth registration, century+sex digit, birth year, serial); serials are
unique within each `PPP G YY` prefix. The old CMND has 9 digits: a 2-digit area code of the issuing police
(Hà Nội 01, the former Hà Tây 11, ...) and a serial. Serials are a counter passed through an affine bijection
(counter × A + B mod M), so they are unique, look scattered, and do not depend on chunk boundaries.
"""

from __future__ import annotations

import math

import numpy as np

from vaxpass.geo import PROVINCE_CODES

MULT = 611_953  # coprime with 2, 5 and 13: a bijection modulo every M used here
HANOI = PROVINCE_CODES.index("001")
# Former Hà Tây province (merged into Hà Nội in 2008): its residents' CMNDs start with 11.
HA_TAY_DISTRICTS = frozenset({"268", "269", "271", "272", "273", "274", "275", "276", "277", "278", "279", "280",
                              "281", "282"})
# CMND area codes for the provinces most Hà Nội residents come from; others use "19" (approximate).
CMND_AREA = {"001": "01", "079": "02", "031": "03", "019": "09", "022": "10", "024": "12", "027": "12",
             "025": "13", "026": "13", "030": "14", "033": "14", "034": "15", "035": "16", "036": "16",
             "037": "16", "038": "17", "040": "18", "042": "18"}
CMND_AREAS: tuple[str, ...] = tuple(sorted(set(CMND_AREA.values()) | {"11", "19"}))

# Passport number shapes: D digit, L letter, anything else literal.
PASSPORT_TEMPLATES = {"US": "5DDDDDDDD", "GB": "1DDDDDDDD", "KR": "MDDDDDDDD", "JP": "TLDDDDDDD",
                      "FR": "DDLLDDDDD", "CN": "EDDDDDDDD", "AU": "PLDDDDDDD", "DE": "CDDDDDDDD"}

# Vietnamese mobile prefixes (10-digit numbering since 2018), weighted roughly by market share.
PHONE_PREFIXES = ("032", "033", "034", "035", "036", "037", "038", "039", "086", "096", "097", "098",
                  "081", "082", "083", "084", "085", "088", "091", "094",
                  "070", "076", "077", "078", "079", "089", "090", "093",
                  "056", "058", "092", "059", "099")
_PHONE_W = np.array([4.0] * 12 + [3.0] * 8 + [3.0] * 8 + [1.0] * 3 + [0.3] * 2)
PHONE_P = _PHONE_W / _PHONE_W.sum()


def _ranks(keys: np.ndarray) -> np.ndarray:
    """Rank of each element among the elements with the same key, in input order."""
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    n = len(ks)
    starts = np.r_[0, np.flatnonzero(np.diff(ks)) + 1] if n else np.zeros(0, dtype=np.int64)
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n) - starts[group]
    return ranks


class _Serials:
    """Unique serials in [0, modulus) for each of `n_keys` keys, handed out across calls."""

    def __init__(self, rng: np.random.Generator, n_keys: int, modulus: int) -> None:
        if math.gcd(MULT, modulus) != 1:
            raise ValueError(f"multiplier not coprime with {modulus}")
        self.modulus = modulus
        self.offset = rng.integers(0, modulus, size=n_keys)
        self.used = np.zeros(n_keys, dtype=np.int64)

    def take(self, keys: np.ndarray) -> np.ndarray:
        seq = self.used[keys] + _ranks(keys)
        if len(seq) and int(seq.max()) >= self.modulus:
            raise ValueError("identity number space exhausted for one prefix")
        self.used += np.bincount(keys, minlength=len(self.used))
        return (seq * MULT + self.offset[keys]) % self.modulus


def _century_sex_digit(year: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """CCCD digit G: 1900s male 0 / female 1, 2000s male 2 / female 3 (sex 0 = male, 1 = female)."""
    return np.where(year >= 2000, 2, 0) + sex


class IdAllocator:
    """Hands out unique CCCD, CMND and passport numbers across all chunks of one generation run."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._cccd = _Serials(rng, len(PROVINCE_CODES) * 400, 10**6)
        self._cmnd = _Serials(rng, len(CMND_AREAS), 10**7)
        self._passport = {nat: _Serials(rng, 1, _space(t)) for nat, t in PASSPORT_TEMPLATES.items()}

    def cccd(self, province: np.ndarray, year: np.ndarray, sex: np.ndarray) -> list[str]:
        """CCCD numbers for persons with these province indices (into PROVINCE_CODES), birth years, sexes."""
        g = _century_sex_digit(year, sex)
        yy = year % 100
        serial = self._cccd.take(province * 400 + g * 100 + yy)
        return [f"{PROVINCE_CODES[p]}{d}{y:02d}{s:06d}"
                for p, d, y, s in zip(province.tolist(), g.tolist(), yy.tolist(), serial.tolist(), strict=True)]

    def cmnd(self, province: np.ndarray, district_codes: list[str]) -> list[str]:
        """9-digit CMND numbers: area code by province of birth (Hà Tây by district of residence)."""
        areas = [
            "11" if p == HANOI and d in HA_TAY_DISTRICTS else CMND_AREA.get(PROVINCE_CODES[p], "19")
            for p, d in zip(province.tolist(), district_codes, strict=True)
        ]
        keys = np.array([CMND_AREAS.index(a) for a in areas], dtype=np.int64)
        serial = self._cmnd.take(keys)
        return [f"{a}{s:07d}" for a, s in zip(areas, serial.tolist(), strict=True)]

    def passports(self, nationalities: list[str]) -> list[str]:
        """Passport numbers shaped like each country's, unique per nationality."""
        out = [""] * len(nationalities)
        for nat, serials in self._passport.items():
            rows = [i for i, n in enumerate(nationalities) if n == nat]
            for i, s in zip(rows, serials.take(np.zeros(len(rows), dtype=np.int64)).tolist(), strict=True):
                out[i] = render_pattern(PASSPORT_TEMPLATES[nat], s)
        return out


def _space(template: str) -> int:
    return math.prod(10 if c == "D" else 26 if c == "L" else 1 for c in template)


def render_pattern(template: str, value: int) -> str:
    """`value` written into a shape: D a decimal digit, L a letter A-Z, anything else as is."""
    chars: list[str] = []
    for c in reversed(template):
        if c == "D":
            value, r = divmod(value, 10)
            chars.append(str(r))
        elif c == "L":
            value, r = divmod(value, 26)
            chars.append(chr(65 + r))
        else:
            chars.append(c)
    return "".join(reversed(chars))


def phones(rng: np.random.Generator, n: int) -> list[str]:
    """10-digit Vietnamese mobile numbers (03x, 05x, 07x, 08x, 09x)."""
    pfx = rng.choice(len(PHONE_PREFIXES), size=n, p=PHONE_P)
    num = rng.integers(0, 10**7, size=n)
    return [f"{PHONE_PREFIXES[p]}{x:07d}" for p, x in zip(pfx.tolist(), num.tolist(), strict=True)]
