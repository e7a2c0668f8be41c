"""Vietnamese names for the DCC: family/given split, and the ICAO 9303 transliteration (`fnt`, `gnt`).

One shared transliteration keeps the same person's certificates matching across re-issues.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_NAME_LENGTH = 80  # schema maxLength of fn/fnt/gn/gnt

# Letters that do not decompose under NFD, so stripping combining marks would keep them. Đ/đ is the one that
# matters for Vietnamese ("Đặng" must become DANG, not a dropped letter); the rest follow ICAO 9303 Part 3.
_NO_DECOMPOSITION = str.maketrans({
    "Đ": "D", "đ": "D", "Ð": "D", "ð": "D", "Ł": "L", "ł": "L", "Ø": "OE", "ø": "OE", "Æ": "AE", "æ": "AE",
    "Œ": "OE", "œ": "OE", "ß": "SS", "Þ": "TH", "þ": "TH", "ı": "I",
})
_FILLER_RUN = re.compile(r"<+")
_NOT_ICAO = re.compile(r"[^A-Z<]")


@lru_cache(maxsize=65536)  # name parts repeat a lot (Nguyễn is ~38 % of family names); str in, str out
def icao_transliterate(name: str) -> str:
    """ICAO 9303 machine-readable form of a name: "Nguyễn Văn An" -> "NGUYEN<VAN<AN".

    NFC first so NFC and NFD inputs give the same result; then decompose, drop the marks, upper-case; spaces
    and hyphens become the filler `<`; anything else outside A-Z (apostrophes, digits, dots) is dropped.
    """
    text = unicodedata.normalize("NFC", name).translate(_NO_DECOMPOSITION)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).upper()
    text = re.sub(r"[\s\-]+", "<", text)
    text = _NOT_ICAO.sub("", text)
    text = _FILLER_RUN.sub("<", text).strip("<")
    return text[:MAX_NAME_LENGTH].rstrip("<")


def split_vietnamese_name(full_name: str) -> tuple[str, str]:
    """Split a full name written family name first (họ, tên đệm, tên) into (family, middle + given names).

    "Nguyễn Văn An" -> ("Nguyễn", "Văn An"); a single token is a family name only. Two-word family names
    (e.g. "Tôn Nữ") cannot be told apart from a middle name by rule and are split after the first word.
    """
    tokens = unicodedata.normalize("NFC", full_name).split()
    if not tokens:
        return "", ""
    return tokens[0], " ".join(tokens[1:])
