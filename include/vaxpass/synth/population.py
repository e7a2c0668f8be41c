"""Synthetic persons, one chunk at a time: residents in the registry, residents missing from it, foreigners.

Everything is drawn vectorised from one numpy generator per chunk; strings are built once per person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from vaxpass.geo import DISTRICTS, PROVINCE_CODES
from vaxpass.synth import names
from vaxpass.synth.faults import tone_flippable
from vaxpass.synth.geo import SitePlan
from vaxpass.synth.ids import HANOI, IdAllocator, phones

REGISTRY, UNREGISTERED, FOREIGN = 0, 1, 2
P_FEMALE = 0.507
P_BORN_IN_HANOI = 0.75
P_CMND = 0.30  # share of persons born before 1990 whose old CMND is linked in the registry
TWIN_SHARE = 0.001  # persons given another person's full name and date of birth on purpose

# Age at the start of the campaign (Hanoi population aged 12+, 5-year bands, roughly the 2019 census).
AGE_BANDS = np.array([(12, 15), (15, 20), (20, 25), (25, 30), (30, 35), (35, 40), (40, 45), (45, 50), (50, 55),
                      (55, 60), (60, 65), (65, 70), (70, 75), (75, 80), (80, 85), (85, 90), (90, 94)], dtype=float)
AGE_WEIGHTS = np.array([4.5, 6.5, 7.3, 8.9, 9.5, 8.5, 7.3, 6.5, 5.8, 5.3, 4.5, 3.2, 2.0, 1.3, 1.0, 0.6, 0.3])
# Where Hanoi residents born elsewhere were registered at birth: mostly the Red River delta and the north.
OTHER_PROVINCE_WEIGHT = {"036": 8, "034": 8, "038": 8, "040": 7, "030": 6, "033": 6, "027": 5, "035": 5, "025": 5,
                         "026": 5, "037": 4, "024": 4, "031": 4, "042": 4, "019": 3, "017": 3, "022": 3, "008": 2,
                         "015": 2, "020": 2, "014": 2, "044": 2, "079": 2, "010": 1, "002": 1, "004": 1, "006": 1,
                         "011": 1, "012": 1, "045": 1, "046": 1, "048": 1}
_PW = np.array([0.0 if c == "001" else OTHER_PROVINCE_WEIGHT.get(c, 0.3) for c in PROVINCE_CODES])
OTHER_PROVINCE_P = _PW / _PW.sum()


@dataclass
class PersonChunk:
    """Per-person columns of one chunk; index i is the same person in every column."""

    kind: np.ndarray
    sex: np.ndarray  # 0 male, 1 female
    dob: np.ndarray  # datetime64[D]
    district_pos: np.ndarray  # index into SitePlan.districts
    registry_id: np.ndarray  # 0 when not in the registry
    province: np.ndarray  # index into PROVINCE_CODES (-1 for foreigners)
    full_name: list[str]
    family: list[str | None]
    middle: list[str | None]
    given: list[str | None]
    cccd: list[str]  # "" for foreigners
    cmnd: list[str | None]
    phone: list[str]
    nationality: list[str]
    passport: list[str]
    person_key: list[str]
    tone_flippable: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


def _dob(rng: np.random.Generator, n: int, start: date, bands: np.ndarray, weights: np.ndarray) -> np.ndarray:
    band = rng.choice(len(bands), size=n, p=weights / weights.sum())
    age = bands[band, 0] + rng.random(n) * (bands[band, 1] - bands[band, 0])
    days = np.floor(age * 365.2425).astype(np.int64) + 1
    return np.datetime64(start, "D") - days.astype("timedelta64[D]")


def year_of(d: np.ndarray) -> np.ndarray:
    return d.astype("datetime64[Y]").astype(np.int64) + 1970


def make_persons(rng: np.random.Generator, ids: IdAllocator, plan: SitePlan, *, n_registry: int,
                 n_unregistered: int, n_foreign: int, first_registry_id: int, first_unregistered: int,
                 start: date) -> PersonChunk:
    nv = n_registry + n_unregistered
    sex = (rng.random(nv) < P_FEMALE).astype(np.int64)
    dob = _dob(rng, nv, start, AGE_BANDS, AGE_WEIGHTS)
    idx = names.sample_vn(rng, sex)
    # Namesakes: the same full name and date of birth for different people (cf. 7,701 pairs in 1 M records).
    k = max(2, round(nv * TWIN_SHARE)) if nv >= 8 else 0
    if k:
        pick = rng.choice(nv, size=2 * k, replace=False)
        src, dst = pick[:k], pick[k:]
        sex[dst], dob[dst] = sex[src], dob[src]
        for arr in (idx.family, idx.middle1, idx.middle2, idx.given):
            arr[dst] = arr[src]
    family, middle, given = names.vn_parts(idx, sex)
    full = names.full_names(family, middle, given)
    province = np.where(rng.random(nv) < P_BORN_IN_HANOI, HANOI,
                        rng.choice(len(PROVINCE_CODES), size=nv, p=OTHER_PROVINCE_P))
    district_pos = rng.choice(len(plan.districts), size=nv, p=plan.district_p)
    year = year_of(dob)
    cccd = ids.cccd(province, year, sex)
    has_cmnd = np.flatnonzero((year < 1990) & (rng.random(nv) < P_CMND) & (np.arange(nv) < n_registry))
    cmnd: list[str | None] = [None] * nv
    district_codes = [DISTRICTS[plan.districts[p]].code for p in district_pos[has_cmnd].tolist()]
    for i, c in zip(has_cmnd.tolist(), ids.cmnd(province[has_cmnd], district_codes), strict=True):
        cmnd[i] = c
    keys = cccd[:n_registry] + [f"X-{first_unregistered + i}" for i in range(n_unregistered)]

    fsex = (rng.random(n_foreign) < 0.45).astype(np.int64)
    fdob = _dob(rng, n_foreign, start, AGE_BANDS[3:13], AGE_WEIGHTS[3:13])
    nats, fnames = names.sample_foreign(rng, fsex)
    passports = ids.passports(nats)
    n = nv + n_foreign
    all_names = full + fnames
    return PersonChunk(
        kind=np.repeat(np.array([REGISTRY, UNREGISTERED, FOREIGN]), [n_registry, n_unregistered, n_foreign]),
        sex=np.concatenate([sex, fsex]),
        dob=np.concatenate([dob, fdob]),
        district_pos=np.concatenate([district_pos, rng.choice(len(plan.districts), size=n_foreign,
                                                              p=plan.district_p)]),
        registry_id=np.concatenate([np.arange(first_registry_id, first_registry_id + n_registry),
                                    np.zeros(n - n_registry, dtype=np.int64)]),
        province=np.concatenate([province, np.full(n_foreign, -1)]),
        full_name=all_names,
        family=[*family, *([None] * n_foreign)],
        middle=[*middle, *([None] * n_foreign)],
        given=[*given, *([None] * n_foreign)],
        cccd=cccd + [""] * n_foreign,
        cmnd=cmnd + [None] * n_foreign,
        phone=phones(rng, n),
        nationality=["VN"] * nv + nats,
        passport=[""] * nv + passports,
        person_key=keys + [f"P-{c}-{p}" for c, p in zip(nats, passports, strict=True)],
        tone_flippable=np.concatenate([names.vn_tone_flippable(idx, sex),
                                       np.array([tone_flippable(s) for s in fnames], dtype=bool)]),
    )
