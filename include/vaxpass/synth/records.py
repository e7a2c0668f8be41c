"""Dose records as a site exports them: the clean fields of each dose, then the faults, then row order and ids."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import TypeVar

import numpy as np

from vaxpass.synth.doses import MODERNA, PRODUCTS, DoseChunk
from vaxpass.synth.faults import FAULT_CODES, FaultRates
from vaxpass.synth.geo import SitePlan
from vaxpass.synth.population import FOREIGN, REGISTRY, PersonChunk

SEX_WORDS = np.array(["Nam", "Nữ"], dtype=object)
_DIGITS = np.array([str(i) for i in range(10)], dtype=object)
_FAULT_ORDER = {c: i for i, c in enumerate(FAULT_CODES)}


def dmy(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Day, month and year of datetime64[D] values."""
    months = days.astype("datetime64[M]")
    years = days.astype("datetime64[Y]")
    d = (days - months).astype(np.int64) + 1
    m = (months - years).astype(np.int64) + 1
    return d, m, years.astype(np.int64) + 1970


_DATE_TABLE_START = np.datetime64("1900-01-01", "D")
_DATE_TABLE_DAYS = 200 * 366


@cache
def _date_table() -> np.ndarray:
    d, m, y = dmy(_DATE_TABLE_START + np.arange(_DATE_TABLE_DAYS).astype("timedelta64[D]"))
    return np.array([f"{a:02d}/{b:02d}/{c}" for a, b, c in zip(d.tolist(), m.tolist(), y.tolist(), strict=True)],
                    dtype=object)


def format_dates(days: np.ndarray) -> list[str]:
    """dd/mm/yyyy, as Vietnamese sites write dates (years 1900–2099)."""
    out: list[str] = _date_table()[(days - _DATE_TABLE_START).astype(np.int64)].tolist()
    return out


T = TypeVar("T")


def gather(seq: Sequence[T], idx: np.ndarray) -> list[T]:
    """`[seq[i] for i in idx]`, at C speed."""
    if len(idx) == 0:
        return []
    if len(idx) == 1:
        return [seq[int(idx[0])]]
    return list(itemgetter(*idx.tolist())(seq))


@dataclass
class Records:
    """The dose records of one chunk, column-wise; `faults` maps a record to the fault codes put in it."""

    person: np.ndarray
    dose_number: np.ndarray
    day: np.ndarray
    product: np.ndarray
    site: np.ndarray
    name: list[str]
    dob: list[str]
    sex: list[str]
    nid: list[str]
    phone: list[str]
    vaccine: list[str]
    dose: list[str]
    vdate: list[str]
    lot: list[str]
    nationality: list[str]
    passport: list[str]
    faults: dict[int, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.person)

    def add_fault(self, i: int, code: str) -> None:
        self.faults.setdefault(i, []).append(code)


def clean_records(rng: np.random.Generator, persons: PersonChunk, doses: DoseChunk, plan: SitePlan,
                  lots: list[list[str]], rates: FaultRates) -> Records:
    """The records as they should have been typed, plus the duplicate entries (same dose entered twice)."""
    n0 = len(doses)
    p_dup = min(1.0, rates.duplicate_entry / max(1e-9, 1.0 - rates.duplicate_entry))
    src = np.concatenate([np.arange(n0), np.flatnonzero(rng.random(n0) < p_dup)])
    person = doses.person[src]
    product = doses.product[src]
    site = doses.site[src]
    day = doses.day[src]
    labels = np.array(PRODUCTS, dtype=object)
    vaccine = np.where((product == MODERNA) & plan.spikevax[site], "Spikevax", labels[product]).tolist()
    recs = Records(
        person=person, dose_number=doses.dose_number[src], day=day, product=product, site=site,
        name=gather(persons.full_name, person),
        dob=format_dates(persons.dob[person]),
        sex=SEX_WORDS[persons.sex[person]].tolist(),
        nid=gather(persons.cccd, person),
        phone=gather(persons.phone, person),
        vaccine=vaccine,
        dose=_DIGITS[doses.dose_number[src]].tolist(),
        vdate=format_dates(day),
        lot=[lots[p][k] for p, k in zip(product.tolist(), doses.lot[src].tolist(), strict=True)],
        nationality=gather(persons.nationality, person),
        passport=gather(persons.passport, person),
    )
    for i in range(n0, len(src)):
        recs.add_fault(i, "duplicate_entry")
    return recs


CsvRow = tuple[str, ...]


def emit(recs: Records, persons: PersonChunk, plan: SitePlan, used: np.ndarray,
         ) -> tuple[dict[int, list[CsvRow]], list[CsvRow]]:
    """Rows per site in each site's export order (by date), with site-assigned row ids, and ground truth.

    `used` counts the row ids each site has handed out so far and is advanced.
    """
    order = np.lexsort((np.arange(len(recs)), recs.day, recs.site))
    site_sorted = recs.site[order]
    n_per_site = np.bincount(site_sorted, minlength=len(used))
    first = np.concatenate([[0], np.cumsum(n_per_site)[:-1]])
    serial = used[site_sorted] + np.arange(len(order)) - first[site_sorted] + 1
    used += n_per_site
    codes = np.array([s.code for s in plan.sites], dtype=object)[site_sorted].tolist()
    keys = [f"{c}-{k:07d}" for c, k in zip(codes, serial.tolist(), strict=True)]
    rows = list(zip(keys, *(gather(col, order) for col in (
        recs.name, recs.dob, recs.sex, recs.nid, recs.phone, recs.vaccine, recs.dose, recs.vdate, recs.lot,
        recs.nationality, recs.passport)), strict=True))
    bounds = np.concatenate([[0], np.cumsum(n_per_site)]).tolist()
    by_site = {s: rows[bounds[s]:bounds[s + 1]] for s in range(len(used)) if n_per_site[s]}

    p = recs.person[order]
    kind = persons.kind[p]
    rid = persons.registry_id[p]
    fault_str = [""] * len(recs)
    for i, fl in recs.faults.items():
        fault_str[i] = ";".join(sorted(fl, key=_FAULT_ORDER.__getitem__))
    truth = list(zip(
        codes, keys, gather(persons.person_key, p), [str(r) if r else "" for r in rid.tolist()],
        _DIGITS[(kind == REGISTRY).astype(np.int64)].tolist(), _DIGITS[(kind == FOREIGN).astype(np.int64)].tolist(),
        _DIGITS[recs.dose_number[order]].tolist(), gather(fault_str, order), strict=True))
    return by_site, truth


def fault_rng(rng: np.random.Generator) -> random.Random:
    """A stdlib generator for the per-record string edits, seeded from the chunk's numpy generator."""
    return random.Random(int(rng.integers(0, 2**63)))
