"""Where synthetic people live and get vaccinated: Hanoi districts weighted by population, and sites in them.

A site is a district health centre (Trung tâm Y tế), a ward or commune health station (Trạm Y tế), a district
general hospital, or a mobile vaccination point. A small data set uses a few districts only, so a demo shows a
handful of districts with several sites each rather than thirty districts with one site.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from vaxpass.domain import SiteConfig
from vaxpass.geo import DISTRICTS, District
from vaxpass.synth import names
from vaxpass.synth.sources import site_source

MAX_SITES = 600
PERSONS_PER_SITE = 2000
P_SAME_DISTRICT_SWITCH = 0.8  # a dose at another site stays in the district this often
P_SPIKEVAX = 0.3  # share of sites that type Moderna's brand name "Spikevax"


def default_site_count(persons: int) -> int:
    return min(MAX_SITES, max(3, persons // PERSONS_PER_SITE))


@cache
def _district_data() -> dict[str, Any]:
    text = resources.files("vaxpass.synth").joinpath("data/wards.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def district_population() -> np.ndarray:
    """Approximate population (thousands) of each district, aligned with `DISTRICTS`."""
    return np.array([_district_data()[d.code]["population"] for d in DISTRICTS], dtype=float)


@cache
def _shared_ward_names() -> frozenset[str]:
    """Ward names that exist in more than one district (phường Quang Trung: Đống Đa, Hà Đông, Sơn Tây)."""
    seen: Counter[str] = Counter(w for d in DISTRICTS for w in _district_data()[d.code]["wards"])
    return frozenset(w for w, n in seen.items() if n > 1)


def _facility_names(d: District, rng: np.random.Generator, count: int) -> list[str]:
    wards = list(_district_data()[d.code]["wards"])
    wards = [wards[i] for i in rng.permutation(len(wards))]
    shared = _shared_ward_names()
    stations = [f"Trạm Y tế {w}" + (f", {d.title}" if w in shared else "") for w in wards]
    out = [f"Trung tâm Y tế {d.title}", *stations[:1], f"Bệnh viện Đa khoa {d.name}", *stations[1:]]
    out += [f"Điểm tiêm lưu động số {k} {d.title}" for k in range(1, max(0, count - len(out)) + 1)]
    return out[:count]


@dataclass(frozen=True)
class SitePlan:
    """The sites, and how residents are spread over the districts that have sites."""

    sites: list[SiteConfig]
    site_district: np.ndarray  # index into DISTRICTS, per site
    districts: np.ndarray  # indices into DISTRICTS of the districts with sites
    district_p: np.ndarray  # probability that a resident lives in each of `districts`
    site_table: np.ndarray  # [district position, slot] -> site index (padded)
    site_count: np.ndarray  # sites per district position
    spikevax: np.ndarray  # per site: types Moderna as "Spikevax"

    def home_sites(self, rng: np.random.Generator, district_pos: np.ndarray) -> np.ndarray:
        """A site in each resident's own district."""
        slot = (rng.random(len(district_pos)) * self.site_count[district_pos]).astype(np.int64)
        return self.site_table[district_pos, slot]

    def other_sites(self, rng: np.random.Generator, district_pos: np.ndarray, home: np.ndarray) -> np.ndarray:
        """Another site: usually in the same district, otherwise anywhere (the home site only if it is alone)."""
        n_sites = len(self.sites)
        u1, u2, u3 = rng.random(len(home)), rng.random(len(home)), rng.random(len(home))
        cnt = self.site_count[district_pos]
        home_slot = np.argmax(self.site_table[district_pos] == home[:, None], axis=1)
        same = self.site_table[district_pos, (home_slot + 1 + (u1 * (cnt - 1)).astype(np.int64)) % cnt]
        anywhere = (home + 1 + (u2 * (n_sites - 1)).astype(np.int64)) % n_sites
        return np.where((cnt > 1) & (u3 < P_SAME_DISTRICT_SWITCH), same, anywhere)


def plan_sites(n_sites: int, rng: np.random.Generator) -> SitePlan:
    if n_sites < 1:
        raise ValueError("at least one site is needed")
    pop = district_population()
    k = min(len(DISTRICTS), n_sites, max(2, math.ceil(n_sites / 5)))
    chosen = np.sort(rng.choice(len(DISTRICTS), size=k, replace=False, p=pop / pop.sum()))
    share = pop[chosen] / pop[chosen].sum()
    counts = np.ones(k, dtype=np.int64)
    extra = share * (n_sites - k)
    counts += np.floor(extra).astype(np.int64)
    rest = n_sites - int(counts.sum())
    counts[np.argsort(-(extra - np.floor(extra)), kind="stable")[:rest]] += 1

    heads_sex = rng.integers(0, 2, size=n_sites)
    heads = names.full_names(*names.vn_parts(names.sample_vn(rng, heads_sex), heads_sex))
    sites: list[SiteConfig] = []
    site_district: list[int] = []
    table = np.zeros((k, int(counts.max())), dtype=np.int64)
    for pos, (di, cnt) in enumerate(zip(chosen.tolist(), counts.tolist(), strict=True)):
        d = DISTRICTS[di]
        for j, fname in enumerate(_facility_names(d, rng, cnt), start=1):
            code = f"HN-{d.code}-{j:02d}"
            table[pos, j - 1] = len(sites)
            sites.append(SiteConfig(code=code, name=fname, district_code=d.code, district_name=d.name,
                                    head_of_facility=heads[len(sites)],
                                    source=site_source(len(sites), code)))
            site_district.append(di)
    return SitePlan(sites=sites, site_district=np.array(site_district), districts=chosen, district_p=share,
                    site_table=table, site_count=counts, spikevax=rng.random(n_sites) < P_SPIKEVAX)
