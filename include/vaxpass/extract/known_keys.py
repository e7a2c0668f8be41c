"""Which of a site's source keys may already be in the ops store, without asking the store for every row.

Looking each chunk's keys up in the store costs more than writing them, and on a site's first extraction
(or any bulk load) almost every answer is "not there". So: when the site had no raw records when extraction
began, only keys this extraction has already written can be known, and those are kept as sorted blocks of
64-bit hashes (8 bytes a row, merged like a log-structured tree). A key whose hash is present — written
earlier in this extraction, or a hash collision — is looked up in the store as before; a false positive costs
a lookup, never a wrong answer. A site with earlier rows has every key looked up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vaxpass.store.models import RawRecord


class KnownKeys:
    def __init__(self, session: Session, site_code: str) -> None:
        self.site_had_rows = session.execute(
            select(RawRecord.id).where(RawRecord.site_code == site_code).limit(1)).first() is not None
        self._blocks: list[np.ndarray] = []

    @staticmethod
    def _hashes(keys: Sequence[str]) -> np.ndarray:
        return np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))

    def maybe_known(self, keys: Sequence[str]) -> list[str]:
        """The keys that may be in the store (to look up there); the others certainly are not."""
        if self.site_had_rows:
            return list(keys)
        if not self._blocks or not keys:
            return []
        wanted = self._hashes(keys)
        hit = np.zeros(len(keys), dtype=bool)
        for block in self._blocks:
            pos = np.searchsorted(block, wanted)
            pos[pos == len(block)] = len(block) - 1
            hit |= block[pos] == wanted
        return [k for k, h in zip(keys, hit.tolist(), strict=True) if h]

    def add(self, keys: Sequence[str]) -> None:
        """Keys being written now (a delivery that then rolls back only leaves false positives)."""
        if self.site_had_rows or not keys:
            return
        self._blocks.append(np.sort(self._hashes(keys)))
        while len(self._blocks) > 1 and len(self._blocks[-2]) <= 2 * len(self._blocks[-1]):
            top = self._blocks.pop()
            self._blocks[-1] = np.sort(np.concatenate((self._blocks[-1], top)), kind="stable")
