"""Put the configured faults into a chunk's dose records and note each one in the record's fault list.

Random draws do not depend on the rates (every fault draws its uniform numbers even at rate 0), so the same
seed gives the same persons and doses with or without faults. A fault is only noted when it changed the row.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from datetime import date

import numpy as np

from vaxpass.synth import faults as F
from vaxpass.synth.faults import FAULT_CODES, FaultRates
from vaxpass.synth.population import FOREIGN, PersonChunk
from vaxpass.synth.records import Records, dmy

FIRST_VACCINATION = date(2021, 3, 8)  # Vietnam's first COVID-19 vaccination
DOSE_WORDS = ("một", "hai", "ba", "bốn")
_INVALID_DAY_MONTH = ((31, 2), (30, 2), (31, 4), (31, 6), (31, 9), (31, 11), (32, 1), (0, 5), (15, 13))


def _eligibility(recs: Records, persons: PersonChunk) -> dict[str, np.ndarray]:
    p = recs.person
    n = len(recs)
    everyone = np.ones(n, dtype=bool)
    vn = persons.kind[p] != FOREIGN
    accented = np.array([not s.isascii() for s in persons.full_name], dtype=bool)[p]
    has_middle = np.array([m is not None for m in persons.middle], dtype=bool)[p]
    has_cmnd = np.array([c is not None for c in persons.cmnd], dtype=bool)[p]
    d, m, _ = dmy(persons.dob[p])
    return {
        "name_no_diacritics": accented, "name_nfd": accented, "name_typo": everyone,
        "name_tone_placement": persons.tone_flippable[p], "name_dropped_middle": vn & has_middle,
        "name_western_order": vn, "dob_day_month_swap": (d <= 12) & (d != m), "dob_typo": ~((d == 29) & (m == 2)),
        "old_cmnd": has_cmnd, "id_missing": vn, "id_wrong_digit": vn, "vaccine_name_variant": everyone,
        "vaccine_unknown": everyone, "dose_order": everyone, "phone_missing": everyone, "sex_wrong": everyone,
        "bad_row": everyone,
    }


def _choose(recs: Records, persons: PersonChunk, rng: np.random.Generator, rates: FaultRates) -> dict[str, list[int]]:
    n = len(recs)
    eligible = _eligibility(recs, persons)
    chosen: dict[str, np.ndarray] = {}
    for code in FAULT_CODES:
        if code == "duplicate_entry":  # made when the records were built
            continue
        u = rng.random(n)
        e = eligible[code]
        p = min(1.0, getattr(rates, code) * n / max(1, int(e.sum())))
        chosen[code] = e & (u < p)
    # faults that cannot meaningfully stack: the later one of each pair wins
    chosen["name_nfd"] &= ~chosen["name_no_diacritics"]
    chosen["vaccine_name_variant"] &= ~chosen["vaccine_unknown"]
    chosen["old_cmnd"] &= ~chosen["id_missing"]
    chosen["id_wrong_digit"] &= ~chosen["id_missing"]
    return {c: np.flatnonzero(m).tolist() for c, m in chosen.items()}


def _edit(recs: Records, column: list[str], rows: list[int], code: str, fn: Callable[[int, str], str]) -> None:
    for i in rows:
        new = fn(i, column[i])
        if new != column[i]:
            column[i] = new
            recs.add_fault(i, code)


def inject(recs: Records, persons: PersonChunk, rng: np.random.Generator, rnd: random.Random,
           rates: FaultRates) -> None:
    if not len(recs):
        return
    rows = _choose(recs, persons, rng, rates)
    person = recs.person.tolist()

    def short_name(i: int, _: str) -> str:
        return f"{persons.family[person[i]]} {persons.given[person[i]]}"

    _edit(recs, recs.name, rows["name_dropped_middle"], "name_dropped_middle", short_name)
    _edit(recs, recs.name, rows["name_western_order"], "name_western_order", lambda i, s: F.western_order(s))
    _edit(recs, recs.name, rows["name_tone_placement"], "name_tone_placement", lambda i, s: F.flip_tone(s))
    _edit(recs, recs.name, rows["name_typo"], "name_typo", lambda i, s: F.typo(s, rnd))
    _edit(recs, recs.name, rows["name_no_diacritics"], "name_no_diacritics", lambda i, s: F.strip_diacritics(s))
    _edit(recs, recs.name, rows["name_nfd"], "name_nfd", lambda i, s: unicodedata.normalize("NFD", s))

    _dob_faults(recs, persons, rows["dob_day_month_swap"], rows["dob_typo"], rnd)

    _edit(recs, recs.nid, rows["old_cmnd"], "old_cmnd", lambda i, s: persons.cmnd[person[i]] or s)
    _edit(recs, recs.nid, rows["id_wrong_digit"], "id_wrong_digit", lambda i, s: F.swap_digit(s, rnd) if s else s)
    _edit(recs, recs.nid, rows["id_missing"], "id_missing", lambda i, s: "")

    _edit(recs, recs.vaccine, rows["vaccine_unknown"], "vaccine_unknown",
          lambda i, s: rnd.choice(F.UNKNOWN_VACCINES))
    _edit(recs, recs.vaccine, rows["vaccine_name_variant"], "vaccine_name_variant",
          lambda i, s: rnd.choice(F.VACCINE_VARIANTS[s]))
    _edit(recs, recs.dose, rows["dose_order"], "dose_order", lambda i, s: str(int(s) - 1) if int(s) > 1 else "2")
    _edit(recs, recs.phone, rows["phone_missing"], "phone_missing", lambda i, s: "")
    _edit(recs, recs.sex, rows["sex_wrong"], "sex_wrong", lambda i, s: "Nữ" if s == "Nam" else "Nam")
    for i in rows["bad_row"]:
        _bad_row(recs, i, rnd)


def _dob_faults(recs: Records, persons: PersonChunk, swap: list[int], typo: list[int], rnd: random.Random) -> None:
    d, m, y = (a.tolist() for a in dmy(persons.dob))
    person = recs.person.tolist()
    swapped, typoed = set(swap), set(typo)
    for i in sorted(swapped | typoed):
        p = person[i]
        day, month, year = d[p], m[p], y[p]
        if i in typoed:
            year += rnd.choice((-1, 1))
            recs.add_fault(i, "dob_typo")
        if i in swapped:
            day, month = month, day
            recs.add_fault(i, "dob_day_month_swap")
        recs.dob[i] = f"{day:02d}/{month:02d}/{year}"


def _bad_row(recs: Records, i: int, rnd: random.Random) -> None:
    """A row that quality validation must quarantine: impossible date, dose as a word, date out of range, blank."""
    kind = rnd.randrange(6)
    if kind in (0, 1):
        column = recs.vdate if kind == 0 else recs.dob
        dd, mm = rnd.choice(_INVALID_DAY_MONTH)
        column[i] = f"{dd:02d}/{mm:02d}/{column[i][-4:]}"
    elif kind == 2:
        recs.dose[i] = DOSE_WORDS[min(int(recs.dose_number[i]), 4) - 1]
    elif kind == 3:  # in the future: a decade off
        recs.vdate[i] = recs.vdate[i][:-4] + str(int(recs.vdate[i][-4:]) + 10)
    elif kind == 4:  # before the national roll-out began
        recs.vdate[i] = recs.vdate[i][:-4] + str(FIRST_VACCINATION.year - 1)
    else:
        column = rnd.choice((recs.name, recs.dob, recs.vdate, recs.vaccine, recs.dose))
        column[i] = ""
    recs.add_fault(i, "bad_row")
