"""Buckets of a stage's work, so that N Celery workers share one cycle.

Dose records are bucketed by id (`id % count`), persons by the last hex digit of their pseudonymous id, so
every record and every person belongs to exactly one bucket: two buckets never touch the same person's
certificate, and a rerun of one bucket redoes only its own share. Buckets are balanced whatever the sizes of
sites and districts (an urban district has ten times the doses of a rural one).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import InstrumentedAttribute

HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Partition:
    """Bucket `index` of `count` (count divides 16, so person buckets stay equal in size)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count not in (1, 2, 4, 8, 16) or not 0 <= self.index < self.count:
            raise ValueError(f"partition {self.index}/{self.count}: count must be 1, 2, 4, 8 or 16 and "
                             "0 <= index < count")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def of_records(self, record_id: InstrumentedAttribute[int]) -> ColumnElement[bool]:
        return (record_id % self.count) == self.index

    @property
    def person_digits(self) -> list[str]:
        return [c for c in HEX if int(c, 16) % self.count == self.index]

    def of_persons(self, person_id: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]
                   ) -> ColumnElement[bool]:
        """Persons whose pseudonymous id (`p` + hex) ends in one of this bucket's digits (portable SQL)."""
        return func.substr(person_id, func.length(person_id), 1).in_(self.person_digits)

    def holds_person(self, person_id: str) -> bool:
        return person_id[-1] in self.person_digits
