"""How names are made comparable: NFC, folding, regional surname spellings, and the keys the matcher compares.

Vietnamese names are family name first, given name last, middle name(s) between. The faults seen in the
national roll-out: no diacritics, NFD instead of NFC, old vs new tone placement (Hoà/Hòa, Thuỷ/Thủy), Đ typed as
D, the middle name dropped, Western order (given names first), regional spellings of one surname (Hoàng/Huỳnh,
Vũ/Võ) and typing slips.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from vaxpass.text import fold_name

# Regional spellings of one surname (folded), mapped to one representative.
SURNAME_CLASSES: dict[str, str] = {"huynh": "hoang", "vo": "vu"}
# Common family names (folded): a record whose last word is one of them and whose first is not was probably
# written in Western order.
FAMILY_NAMES = frozenset({
    "nguyen", "tran", "le", "pham", "hoang", "huynh", "phan", "vu", "vo", "dang", "bui", "do", "ho", "ngo", "duong",
    "ly", "dao", "dinh", "lam", "mai", "trinh", "truong", "ha", "cao", "luu", "luong", "ta", "chu", "kieu", "quach",
    "trieu", "doan", "vuong", "thai", "la", "to", "tang", "tong", "khuat", "nghiem", "lai", "kim", "au",
})


def nfc_key(name: str) -> str:
    """NFC, casefolded, spaces collapsed: equal only when typed the same way."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


@dataclass(frozen=True)
class NameKeys:
    """The forms of one name that comparisons and blocking use (all folded except `exact`)."""

    exact: str
    folded: str
    canon: str  # folded, family name mapped to its surname class
    tokens: str  # canon words sorted, every surname mapped: equal for any word order
    family_given: str  # family + given (canon): equal when only middle names were dropped
    given: str
    given_alt: str  # the given name if the record was in Western order ("" when it does not look so)
    words: int


@lru_cache(maxsize=1 << 16)
def name_keys(name: str) -> NameKeys:
    exact = nfc_key(name)
    words = fold_name(name).split()
    if not words:
        return NameKeys(exact, "", "", "", "", "", "", 0)
    canon_words = [SURNAME_CLASSES.get(words[0], words[0]), *words[1:]]
    canon = " ".join(canon_words)
    tokens = " ".join(sorted(SURNAME_CLASSES.get(w, w) for w in words))
    family_given = f"{canon_words[0]} {canon_words[-1]}" if len(words) > 1 else canon
    western = len(words) > 1 and words[-1] in FAMILY_NAMES and words[0] not in FAMILY_NAMES
    return NameKeys(exact, " ".join(words), canon, tokens, family_given, words[-1],
                    words[-2] if western else "", len(words))
