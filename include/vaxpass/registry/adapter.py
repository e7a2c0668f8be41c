"""The population registry (CSDLQG về dân cư), read through a narrow interface.

Only what matching needs is read. `SqlRegistry` reads the synthetic registry database (SQLite by default,
PostgreSQL in production); a national API client would implement the same protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from sqlalchemy import bindparam, text

from vaxpass.store.db import engine_for


@dataclass(frozen=True)
class RegistryEntry:
    """A registry person as matching sees them."""

    registry_id: int
    cccd: str
    cmnd: str | None
    full_name: str
    dob: date
    sex: str
    district_code: str


class PopulationRegistry(Protocol):
    def by_cccd(self, numbers: Iterable[str]) -> dict[str, RegistryEntry]: ...

    def by_cmnd(self, numbers: Iterable[str]) -> dict[str, RegistryEntry]: ...

    def by_registry_id(self, ids: Iterable[int]) -> dict[int, RegistryEntry]: ...


class SqlRegistry:
    """The registry as a `persons` table in a database reachable by SQLAlchemy URL."""

    _COLUMNS = "registry_id, cccd, cmnd, full_name, dob, sex, district_code"

    def __init__(self, url: str) -> None:
        self._engine = engine_for(url)

    def _fetch(self, column: str, values: Sequence[object]) -> list[RegistryEntry]:
        out: list[RegistryEntry] = []
        query = text(f"SELECT {self._COLUMNS} FROM persons WHERE {column} IN :vals").bindparams(
            bindparam("vals", expanding=True))
        with self._engine.connect() as conn:
            for i in range(0, len(values), 900):
                for row in conn.execute(query, {"vals": list(values[i:i + 900])}):
                    dob = row.dob if isinstance(row.dob, date) else date.fromisoformat(row.dob)
                    out.append(RegistryEntry(int(row.registry_id), row.cccd, row.cmnd, row.full_name, dob,
                                             row.sex, row.district_code))
        return out

    def by_cccd(self, numbers: Iterable[str]) -> dict[str, RegistryEntry]:
        return {e.cccd: e for e in self._fetch("cccd", sorted(set(numbers)))}

    def by_cmnd(self, numbers: Iterable[str]) -> dict[str, RegistryEntry]:
        return {e.cmnd: e for e in self._fetch("cmnd", sorted(set(numbers))) if e.cmnd}

    def by_registry_id(self, ids: Iterable[int]) -> dict[int, RegistryEntry]:
        return {e.registry_id: e for e in self._fetch("registry_id", sorted(set(ids)))}
