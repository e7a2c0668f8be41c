"""Columns of records and of registry rows in the form the linker compares: digits, date parts, name codes.

Everything is an numpy array aligned by position; strings are turned into integer codes through one shared
`Vocab`, so that equality of names is an integer comparison on millions of pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from vaxpass.registry.compare import name_keys

ID_NONE, ID_CCCD, ID_CMND = 0, 1, 2
SEX_CODES = {"M": 0, "F": 1}
NAME_KEYS = ("exact", "folded", "canon", "tokens", "family_given", "given", "given_alt")


class Vocab:
    """Integer codes for strings, stable across registry chunks; "" is always code 0.

    Codes are only ever compared within one name key (and a record's `given_alt` with a registry `given`), so
    one Vocab may serve every key: `key` says which one is encoded, for vocabularies kept per key."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {"": 0}

    def encode(self, values: Sequence[str], key: str = "") -> np.ndarray:
        codes = self._codes
        return np.fromiter((codes.setdefault(v, len(codes)) for v in values), dtype=np.int64, count=len(values))

    def strings(self) -> list[str]:
        """The strings in code order (index = code)."""
        return list(self._codes)


@dataclass
class Side:
    """One side of the comparison (dose records, or one chunk of registry rows)."""

    n: int
    digits: np.ndarray  # (n, 12) uint8: the CCCD (registry) or the record's ID (a CMND in the first 9)
    id_int: np.ndarray  # the CCCD (registry) or the record's CCCD/CMND as an integer, -1 when none
    cmnd_int: np.ndarray  # registry: the linked CMND as an integer, -1 when none
    id_kind: np.ndarray  # records: ID_NONE | ID_CCCD | ID_CMND
    cmnd: np.ndarray  # registry: (n, 9) uint8 of the linked CMND
    has_cmnd: np.ndarray
    y: np.ndarray
    m: np.ndarray
    d: np.ndarray
    dob_key: np.ndarray  # yyyymmdd, -1 when missing
    prefix: np.ndarray  # the first six CCCD digits as an int, -1 when none
    sex: np.ndarray  # 0 M, 1 F, -1 missing
    names: dict[str, np.ndarray]  # NAME_KEYS -> codes
    words: np.ndarray
    canon: np.ndarray  # object array of the canonical folded name (for edit distances)


def _digits(values: Sequence[str | None], width: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, width) digit array and a mask of values that are exactly `width` digits."""
    clean = [v if v and len(v) == width and v.isdigit() else "" for v in values]
    raw = np.array(clean, dtype=f"S{width}")
    ok = np.char.str_len(raw) == width if len(raw) else np.zeros(0, dtype=bool)
    arr = raw.view(np.uint8).reshape(len(clean), width) if len(clean) else np.zeros((0, width), dtype=np.uint8)
    return arr, ok


def _dates(values: Sequence[date | str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # dates as ISO text: numpy reads a date object through its Python attributes, fifteen times slower
    days = np.array([v.isoformat() if type(v) is date else v if v else "NaT" for v in values],
                    dtype="datetime64[D]")
    missing = np.isnat(days)
    safe = np.where(missing, np.datetime64("1970-01-01"), days)
    months = safe.astype("datetime64[M]")
    years = safe.astype("datetime64[Y]")
    d = (safe - months).astype(np.int64) + 1
    m = (months - years).astype(np.int64) + 1
    y = years.astype(np.int64) + 1970
    return (np.where(missing, 0, y), np.where(missing, 0, m), np.where(missing, 0, d))


def _names(vocab: Vocab, names: Sequence[str | None]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Name keys computed once per distinct name (names repeat a lot: Nguyễn Thị Lan), then spread out."""
    where, uniques = pd.factorize(np.asarray(["" if n is None else n for n in names], dtype=object))
    keys = [name_keys(n) for n in uniques]
    codes = {k: vocab.encode([getattr(nk, k) for nk in keys], k)[where] for k in NAME_KEYS}
    words = np.fromiter((nk.words for nk in keys), dtype=np.int64, count=len(keys))[where]
    canon = np.array([nk.canon for nk in keys], dtype=object)[where]
    return codes, words, canon


def _side(vocab: Vocab, full_name: Sequence[str | None], dob: Sequence[date | str | None],
          sex: Sequence[str | None]) -> dict[str, object]:
    y, m, d = _dates(dob)
    codes, words, canon = _names(vocab, full_name)
    return {"n": len(full_name), "y": y, "m": m, "d": d, "dob_key": np.where(y > 0, y * 10000 + m * 100 + d, -1),
            "sex": np.array([SEX_CODES.get(s or "", -1) for s in sex], dtype=np.int8), "names": codes,
            "words": words, "canon": canon}


def as_int(digits: np.ndarray, width: int) -> np.ndarray:
    """Digits (ASCII) of the first `width` columns as one int64 (-1 where not all digits)."""
    if not len(digits):
        return np.zeros(0, np.int64)
    sub = digits[:, :width].astype(np.int64) - 48
    ok = ((sub >= 0) & (sub <= 9)).all(axis=1)
    value = (sub * (10 ** np.arange(width - 1, -1, -1))).sum(axis=1)
    return np.where(ok, value, -1)


def _prefix(digits: np.ndarray, ok: np.ndarray) -> np.ndarray:
    weights = 10 ** np.arange(5, -1, -1)
    value = ((digits[:, :6].astype(np.int64) - 48) * weights).sum(axis=1) if len(digits) else np.zeros(0, np.int64)
    return np.where(ok, value, -1)


def prepare_records(vocab: Vocab, *, full_name: Sequence[str | None], dob: Sequence[date | None],
                    sex: Sequence[str | None], national_id: Sequence[str | None]) -> Side:
    """Dose records: the ID is a CCCD (12 digits), an old CMND (9 digits) or neither."""
    cccd, is_cccd = _digits(national_id, 12)
    cmnd, is_cmnd = _digits(national_id, 9)
    digits = cccd.copy()
    digits[is_cmnd, :9] = cmnd[is_cmnd]
    kind = np.where(is_cccd, ID_CCCD, np.where(is_cmnd, ID_CMND, ID_NONE)).astype(np.int8)
    n = len(full_name)
    id_int = np.where(is_cccd, as_int(cccd, 12), np.where(is_cmnd, as_int(cmnd, 9), -1))
    return Side(digits=digits, id_kind=kind, id_int=id_int, cmnd_int=np.full(n, -1, np.int64),
                cmnd=np.zeros((n, 9), dtype=np.uint8), has_cmnd=np.zeros(n, bool),
                prefix=_prefix(cccd, is_cccd), **_side(vocab, full_name, dob, sex))  # type: ignore[arg-type]


def prepare_registry(vocab: Vocab, *, cccd: Sequence[str], cmnd: Sequence[str | None], full_name: Sequence[str],
                     dob: Sequence[date | str], sex: Sequence[str]) -> Side:
    digits, ok = _digits(cccd, 12)
    cm, has = _digits(cmnd, 9)
    n = len(full_name)
    return Side(digits=digits, id_kind=np.full(n, ID_CCCD, dtype=np.int8), id_int=np.where(ok, as_int(digits, 12), -1),
                cmnd_int=np.where(has, as_int(cm, 9), -1), cmnd=cm, has_cmnd=has,
                prefix=_prefix(digits, ok), **_side(vocab, full_name, dob, sex))  # type: ignore[arg-type]
