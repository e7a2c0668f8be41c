"""Who is vaccinated, with what, when and where: dose schedules for one chunk of persons.

Primary series use one product (two doses; Abdala three, Janssen one), at least 28 days apart (AstraZeneca 8–12 weeks, as
Vietnam scheduled it); boosters come 3 months later and are mostly mRNA; a fourth dose 4 months after that. Doses
falling after the end date are simply not given yet. About one person in five gets a later dose at another
site, usually in the same district.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from vaxpass.synth.geo import SitePlan
from vaxpass.synth.ids import render_pattern
from vaxpass.synth.population import REGISTRY, PersonChunk

PRODUCTS = ("AstraZeneca", "Vero Cell", "Pfizer", "Moderna", "Abdala", "Sputnik V", "Hayat-Vax", "Janssen", "Covaxin")
AZ, VERO, PFIZER, MODERNA, JANSSEN = 0, 1, 2, 3, 7
PRIMARY_P = np.array([0.33, 0.30, 0.22, 0.08, 0.03, 0.015, 0.015, 0.005, 0.005])
PRIMARY_DOSES = np.array([2, 2, 2, 2, 3, 2, 2, 1, 2])  # Abdala: three doses; Janssen: one
# days between the two primary doses: minimum and a uniform extra (AstraZeneca 8–12 weeks)
PRIMARY_GAP_MIN = np.array([56, 28, 28, 28, 28, 28, 28, 0, 28])
PRIMARY_GAP_EXTRA = np.array([28, 7, 14, 14, 7, 7, 7, 0, 7])
BOOSTER_GAP = ((90, 45.0), (120, 40.0))  # (minimum days, mean extra days) for the 1st and 2nd booster
DOSES_P = np.array([0.06, 0.34, 0.45, 0.15])  # intended number of doses 1..4, before the end date cuts it
P_SWITCH_SITE = 0.2
LOTS_PER_PRODUCT = 12
LOT_TEMPLATES = ("ABVDDDD", "20210DBDDDD", "FLDDDD", "DDDDDDD", "DDBDDDD", "IDDDDDD", "DDDDDDDD", "XDDDDDD",
                 "ECDDDD")


@dataclass
class DoseChunk:
    """One row per dose given: whose (index into the PersonChunk), which dose, when, what, where."""

    person: np.ndarray
    dose_number: np.ndarray
    day: np.ndarray  # datetime64[D]
    product: np.ndarray  # index into PRODUCTS
    lot: np.ndarray  # index into the run's lot table, per product
    site: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


def make_lots(rng: np.random.Generator) -> list[list[str]]:
    return [[render_pattern(t, int(v)) for v in rng.integers(0, 10**7, size=LOTS_PER_PRODUCT)] for t in LOT_TEMPLATES]


def _booster_product(rng: np.random.Generator, primary: np.ndarray) -> np.ndarray:
    mrna = (primary == PFIZER) | (primary == MODERNA)
    u = rng.random(len(primary))
    after_mrna = np.where(u < 0.55, PFIZER, np.where(u < 0.95, MODERNA, AZ))
    after_other = np.where(u < 0.5, PFIZER, np.where(u < 0.8, MODERNA, AZ))
    return np.where(mrna, after_mrna, after_other)


def make_doses(rng: np.random.Generator, persons: PersonChunk, plan: SitePlan, *, vaccinated_share: float,
               start: date, end: date) -> DoseChunk:
    n = len(persons)
    vacc = np.flatnonzero((persons.kind != REGISTRY) | (rng.random(n) < vaccinated_share))
    v = len(vacc)
    span = (end - start).days
    offset = np.floor(rng.gamma(1.6, max(span, 1) / 9.0, size=v)).astype(np.int64)
    offset = np.where(offset > span, rng.integers(0, span + 1, size=v), offset)
    primary = rng.choice(len(PRODUCTS), size=v, p=PRIMARY_P / PRIMARY_P.sum())
    plen = PRIMARY_DOSES[primary]
    boost1 = _booster_product(rng, primary)
    boost2 = np.where(rng.random(v) < 0.55, PFIZER, MODERNA)

    # Dose k (0-based) is primary while k < plen, else booster k - plen; the gap before dose k follows its role.
    primary_gap = PRIMARY_GAP_MIN[primary] + (rng.random(v) * (PRIMARY_GAP_EXTRA[primary] + 1)).astype(np.int64)
    b1 = BOOSTER_GAP[0][0] + np.floor(rng.exponential(BOOSTER_GAP[0][1], size=v)).astype(np.int64)
    b2 = BOOSTER_GAP[1][0] + np.floor(rng.exponential(BOOSTER_GAP[1][1], size=v)).astype(np.int64)
    k = np.arange(1, 4)[None, :]
    role = k - plen[:, None]  # < 0 primary, 0 first booster, 1 second booster, 2 a later one
    gaps = np.select([role < 0, role == 0, role == 1], [primary_gap[:, None], b1[:, None], b2[:, None]],
                     b2[:, None] + 30)
    days = offset[:, None] + np.concatenate([np.zeros((v, 1), dtype=np.int64), np.cumsum(gaps, axis=1)], axis=1)
    role = np.arange(4)[None, :] - plen[:, None]
    products = np.select([role < 0, role == 0], [primary[:, None], boost1[:, None]], boost2[:, None])
    target = rng.choice(4, size=v, p=DOSES_P) + 1
    valid = (np.arange(4)[None, :] < target[:, None]) & (days <= span)
    n_valid = valid.sum(axis=1)

    home = plan.home_sites(rng, persons.district_pos[vacc])
    other = plan.other_sites(rng, persons.district_pos[vacc], home)
    switch_at = np.where((n_valid >= 2) & (rng.random(v) < P_SWITCH_SITE),
                         1 + (rng.random(v) * (n_valid - 1)).astype(np.int64), 4)
    sites = np.where(np.arange(4)[None, :] >= switch_at[:, None], other[:, None], home[:, None])

    row, col = np.nonzero(valid)
    return DoseChunk(
        person=vacc[row],
        dose_number=col + 1,
        day=np.datetime64(start, "D") + days[row, col].astype("timedelta64[D]"),
        product=products[row, col],
        lot=rng.integers(0, LOTS_PER_PRODUCT, size=len(row)),
        site=sites[row, col],
    )
