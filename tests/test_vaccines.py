from __future__ import annotations

import json
from pathlib import Path

import pytest

from vaxpass import vaccines
from vaxpass.vaccines import Vaccine, all_vaccines, local_names, lookup

VALUESETS = Path(vaccines.__file__).parent / "signing" / "spec" / "valuesets"


def _active_codes(name: str) -> set[str]:
    values = json.loads((VALUESETS / f"{name}.json").read_text(encoding="utf-8"))["valueSetValues"]
    return {code for code, entry in values.items() if entry["active"]}


@pytest.mark.parametrize(
    ("typed", "mp", "ma"),
    [
        ("AstraZeneca", "EU/1/21/1529", "ORG-100001699"),
        ("Astra Zeneca", "EU/1/21/1529", "ORG-100001699"),
        ("astra-zeneca", "EU/1/21/1529", "ORG-100001699"),
        ("Vaxzevria", "EU/1/21/1529", "ORG-100001699"),
        ("AZ", "EU/1/21/1529", "ORG-100001699"),
        ("Pfizer", "EU/1/20/1528", "ORG-100030215"),
        ("Comirnaty", "EU/1/20/1528", "ORG-100030215"),
        ("PFIZER-BIONTECH", "EU/1/20/1528", "ORG-100030215"),
        ("Moderna", "EU/1/20/1507", "ORG-100031184"),
        ("spikevax", "EU/1/20/1507", "ORG-100031184"),
        ("Vero Cell", "BBIBP-CorV", "ORG-100020693"),
        ("VEROCELL", "BBIBP-CorV", "ORG-100020693"),
        ("Sinopharm", "BBIBP-CorV", "ORG-100020693"),
        ("BIBP", "BBIBP-CorV", "ORG-100020693"),
        ("Sinovac", "CoronaVac", "Sinovac-Biotech"),
        ("CoronaVac", "CoronaVac", "Sinovac-Biotech"),
        ("Janssen", "EU/1/20/1525", "ORG-100001417"),
        ("J&J", "EU/1/20/1525", "ORG-100001417"),
        ("Johnson", "EU/1/20/1525", "ORG-100001417"),
        ("Sputnik V", "Sputnik-V", "Gamaleya-Research-Institute"),
        ("Gam-COVID-Vac", "Sputnik-V", "Gamaleya-Research-Institute"),
        ("Abdala", "Abdala", "CIGB"),
        ("Hayat-Vax", "Hayat-Vax", "ORG-100023050"),
        ("Covaxin", "Covaxin", "Bharat-Biotech"),
        ("Novavax", "EU/1/21/1618", "ORG-100032020"),
        ("Nuvaxovid", "EU/1/21/1618", "ORG-100032020"),
        ("  pfizer  ", "EU/1/20/1528", "ORG-100030215"),
    ],
)
def test_lookup_local_spellings(typed: str, mp: str, ma: str) -> None:
    vaccine = lookup(typed)
    assert vaccine is not None
    assert (vaccine.mp, vaccine.ma) == (mp, ma)


@pytest.mark.parametrize("typed", ["", "   ", "Nanocovax", "Sputnik", "Covishield", "vắc xin", "Pfizer2"])
def test_unknown_names_are_not_guessed(typed: str) -> None:
    assert lookup(typed) is None


def test_lookup_is_diacritic_and_normalisation_insensitive() -> None:
    nfd = "Ve\u0301ro Cell"  # a stray combining accent typed on a Vietnamese keyboard
    assert lookup(nfd) == lookup("Vero Cell")
    assert lookup("Sinôvac") == lookup("Sinovac")


def test_series_lengths() -> None:
    assert lookup("Janssen") == Vaccine("janssen", "Janssen (Jcovden)", "EU/1/20/1525", "ORG-100001417",
                                        "29061000087103", 1)
    assert lookup("Abdala") is not None and lookup("Abdala").series_doses == 3  # type: ignore[union-attr]
    assert all(v.series_doses >= 1 for v in all_vaccines())


def test_every_catalogued_code_is_an_active_value_set_code() -> None:
    sets = ("vaccine-medicinal-product", "vaccine-mah-manf", "vaccine-prophylaxis")
    mp, ma, vp = (_active_codes(name) for name in sets)
    for vaccine in all_vaccines():
        assert vaccine.mp in mp, vaccine.key
        assert vaccine.ma in ma, vaccine.key
        assert vaccine.vp in vp, vaccine.key


def test_local_names_round_trip() -> None:
    names = local_names()
    assert len(names) == len(all_vaccines()) == len({v.key for v in all_vaccines()})
    assert [lookup(n) for n in names] == all_vaccines()


@pytest.mark.parametrize(("typed", "key"), [
    ("Vaccine Vero Cell", "sinopharm"),
    ("Vắc xin AstraZeneca", "astrazeneca"),
    ("Moderna (Spikevax)", "moderna"),
    ("Abdala (Cuba)", "abdala"),
    ("Pfizer (Moderna)", None),
    ("ABC (Pfizer)", None),
    ("Vắc xin lạ", None),
])
def test_prefixes_and_brackets(typed: str, key: str | None) -> None:
    found = lookup(typed)
    assert (found.key if found else None) == key
