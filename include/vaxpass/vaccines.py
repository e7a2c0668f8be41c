"""The COVID-19 vaccines Vietnam used, with their EU DCC codes, and the local names sites type for them.

Sites write the vaccine name (tên vắc xin) as free text: "AstraZeneca", "Astra Zeneca", "AZ", "Vero Cell"...
`lookup` maps those spellings to one catalogue entry whose codes come from the EU value sets
(`signing/spec/valuesets/`): `mp` vaccine-medicinal-product, `ma` vaccine-mah-manf, `vp` vaccine-prophylaxis.
Only active (non-deprecated) codes are used. An unknown name is never guessed: `lookup` returns None and the
record goes to review.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from vaxpass.text import fold_name

# SNOMED CT codes of the vaccine-prophylaxis value set (J07BX03 is deprecated and not used).
_MRNA = "1119349007"
_INACTIVATED = "1157024006"
_VIRAL_VECTOR = "29061000087103"
_RECOMBINANT_SPIKE = "1162643001"


@dataclass(frozen=True)
class Vaccine:
    """One vaccine product as the EU DCC encodes it; `series_doses` is the primary series (sd) length."""

    key: str
    display: str
    mp: str
    ma: str
    vp: str
    series_doses: int


_CATALOGUE: tuple[tuple[Vaccine, tuple[str, ...]], ...] = (
    # (vaccine, local spellings); the first spelling is the canonical one used by synthetic data.
    (Vaccine("astrazeneca", "AstraZeneca (Vaxzevria)", "EU/1/21/1529", "ORG-100001699", _VIRAL_VECTOR, 2),
     ("AstraZeneca", "Astra Zeneca", "Vaxzevria", "AZ", "AZD1222", "ChAdOx1")),
    (Vaccine("pfizer", "Pfizer-BioNTech (Comirnaty)", "EU/1/20/1528", "ORG-100030215", _MRNA, 2),
     ("Pfizer", "Comirnaty", "Pfizer-BioNTech", "Pfizer BioNTech", "BioNTech")),
    (Vaccine("moderna", "Moderna (Spikevax)", "EU/1/20/1507", "ORG-100031184", _MRNA, 2),
     ("Moderna", "Spikevax")),
    # "Vero Cell" is Sinopharm's BBIBP-CorV; the Inactivated-SARS-CoV-2-Vero-Cell code is deprecated.
    (Vaccine("sinopharm", "Sinopharm (Vero Cell, BBIBP-CorV)", "BBIBP-CorV", "ORG-100020693", _INACTIVATED,
             2),
     ("Vero Cell", "Verocell", "Sinopharm", "BIBP", "BBIBP-CorV", "Sinopharm Vero Cell")),
    (Vaccine("sinovac", "Sinovac (CoronaVac)", "CoronaVac", "Sinovac-Biotech", _INACTIVATED, 2),
     ("Sinovac", "CoronaVac")),
    (Vaccine("janssen", "Janssen (Jcovden)", "EU/1/20/1525", "ORG-100001417", _VIRAL_VECTOR, 1),
     ("Janssen", "J&J", "Johnson", "Johnson & Johnson", "Jcovden")),
    (Vaccine("sputnik-v", "Sputnik V (Gam-COVID-Vac)", "Sputnik-V", "Gamaleya-Research-Institute",
             _VIRAL_VECTOR, 2),
     ("Sputnik V", "Gam-COVID-Vac")),
    (Vaccine("abdala", "Abdala", "Abdala", "CIGB", _RECOMBINANT_SPIKE, 3),
     ("Abdala", "CIGB-66")),
    # Hayat-Vax is filled in the UAE by Gulf Pharmaceutical Industries (Julphar).
    (Vaccine("hayat-vax", "Hayat-Vax", "Hayat-Vax", "ORG-100023050", _INACTIVATED, 2),
     ("Hayat-Vax", "Hayat Vax")),
    (Vaccine("covaxin", "Covaxin", "Covaxin", "Bharat-Biotech", _INACTIVATED, 2),
     ("Covaxin",)),
    (Vaccine("novavax", "Novavax (Nuvaxovid)", "EU/1/21/1618", "ORG-100032020", _RECOMBINANT_SPIKE, 2),
     ("Novavax", "Nuvaxovid")),
)

def _fold(name: str) -> str:
    """The compare key: folded (no diacritics, Đ→D, case-folded), letters and digits only ("A-Z" -> "az")."""
    return "".join(c for c in fold_name(name) if c.isalnum())


_BY_FOLDED: dict[str, Vaccine] = {}
for _vaccine, _names in _CATALOGUE:
    for _name in (*_names, _vaccine.key, _vaccine.mp):
        _folded = _fold(_name)
        if _BY_FOLDED.setdefault(_folded, _vaccine) is not _vaccine:
            raise RuntimeError(f"vaccine spelling {_name!r} is ambiguous")


# Words sites put before the product name ("Vắc xin Vero Cell", "Vaccine AstraZeneca").
_PREFIX = re.compile(r"^\s*(v[aắ]c[\s-]?xin|vaccine?|vacxin)\s+", re.IGNORECASE)
_BRACKETED = re.compile(r"\(([^)]*)\)")


def lookup(name: str) -> Vaccine | None:
    """The catalogue entry for a site's vaccine name, or None when the name is not known (never a guess).

    A leading "Vắc xin"/"Vaccine" is ignored; a bracketed part may repeat the product ("Moderna (Spikevax)") or
    add something unknown ("Abdala (Cuba)"), but never name another product ("Pfizer (Moderna)" is unknown).
    """
    folded = _fold(name)
    if not folded:
        return None
    if folded in _BY_FOLDED:
        return _BY_FOLDED[folded]
    text = _PREFIX.sub("", unicodedata.normalize("NFC", name))
    main = _BY_FOLDED.get(_fold(_BRACKETED.sub(" ", text)))
    others = {_BY_FOLDED.get(_fold(p)) for p in _BRACKETED.findall(text)} - {None, main}
    return main if main is not None and not others else None


def all_vaccines() -> list[Vaccine]:
    """Every catalogued vaccine, in a stable order."""
    return [vaccine for vaccine, _ in _CATALOGUE]


def local_names() -> list[str]:
    """One canonical local spelling per vaccine (as a site would type it), in the order of `all_vaccines`."""
    return [names[0] for _, names in _CATALOGUE]
