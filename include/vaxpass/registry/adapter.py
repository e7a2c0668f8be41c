"""The population registry (CSDLQG về dân cư), read through a narrow interface.

Only what matching needs is read: registry id, CCCD, linked old CMND, full name, date of birth, sex (and the
district, for the person's row once matched). `SqlRegistry` reads the synthetic registry database (SQLite by
default, PostgreSQL in production); a national API client would implement the same protocol: look-ups by
identity number, and a candidate search by blocking keys (it may answer with more persons than asked for).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol, runtime_checkable

from sqlalchemy import bindparam, text

from vaxpass.registry.cache import PreparedRegistry, cached
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


@dataclass(frozen=True)
class RegistryRows:
    """A chunk of registry persons, column-wise (only the fields the linker compares)."""

    registry_id: list[int]
    cccd: list[str]
    cmnd: list[str | None]
    full_name: list[str]
    dob: list[str]  # YYYY-MM-DD
    sex: list[str]


@dataclass(frozen=True)
class BlockingQuery:
    """Who the linker may compare a batch with: persons with one of these CCCDs, linked CMNDs, dates of birth
    (YYYY-MM-DD, with the swapped and year-off variants) or CCCD prefixes (first six digits)."""

    cccd: frozenset[str] = frozenset()
    cmnd: frozenset[str] = frozenset()
    dob: frozenset[str] = frozenset()
    cccd_prefix: frozenset[str] = frozenset()

    def size(self) -> int:
        return len(self.cccd) + len(self.cmnd) + len(self.dob) + len(self.cccd_prefix)


class PopulationRegistry(Protocol):
    def by_cccd(self, numbers: Iterable[str]) -> dict[str, RegistryEntry]: ...

    def by_cmnd(self, numbers: Iterable[str]) -> dict[str, RegistryEntry]: ...

    def by_registry_id(self, ids: Iterable[int]) -> dict[int, RegistryEntry]: ...

    def candidates(self, query: BlockingQuery, *, chunk_size: int) -> Iterator[RegistryRows]:
        """Every person agreeing with the query on at least one key, in chunks; may include others."""
        ...


@runtime_checkable
class PreparedSource(Protocol):
    """A registry that can hand over the whole registry prepared (cached) for a query that would scan it."""

    def prepared(self, query: BlockingQuery, *, chunk_size: int) -> PreparedRegistry | None: ...


class SqlRegistry:
    """The registry as a `persons` table in a database reachable by SQLAlchemy URL.

    With a `cache_dir` (a private folder of the data folder), a batch large enough to scan the whole registry
    reads it prepared from the cache (`prepared`), so only the first task of a registry version prepares it."""

    _COLUMNS = "registry_id, cccd, cmnd, full_name, dob, sex, district_code"
    _MATCH_COLUMNS = "registry_id, cccd, cmnd, full_name, dob, sex"
    # Above this many keys a filtered query is no cheaper than reading the table once.
    SCAN_ABOVE = 4000
    # A content checksum computed in the database, per dialect (SQLite: the file's identity and modification).
    _CHECKSUM = {
        "postgresql": "SELECT count(*), coalesce(max(registry_id), 0), coalesce(sum(hashtextextended(concat_ws("
                      "'|', registry_id, cccd, cmnd, full_name, dob, sex), 0)), 0) FROM persons",
        "mysql": "SELECT count(*), coalesce(max(registry_id), 0), coalesce(sum(crc32(concat_ws("
                 "'|', registry_id, cccd, coalesce(cmnd, ''), full_name, dob, sex))), 0) FROM persons",
    }
    _CHECKSUM["mariadb"] = _CHECKSUM["mysql"]

    def __init__(self, url: str, *, cache_dir: Path | None = None) -> None:
        self._engine = engine_for(url)
        self._cache_dir = cache_dir

    def fingerprint(self) -> str | None:
        """What changes whenever the registry's persons may have changed; None when it cannot be told."""
        url = self._engine.url
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                return None
            path = Path(url.database).resolve()
            facts: list[object] = [path]
            for part in (path, Path(f"{path}-wal")):
                try:
                    st = part.stat()
                except FileNotFoundError:
                    continue
                if st.st_size:  # an empty WAL comes and goes with readers' connections
                    facts += [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]
            return "sqlite:" + hashlib.sha256(repr(facts).encode()).hexdigest()
        sql = self._CHECKSUM.get(url.get_backend_name())
        if sql is None:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(text(sql)).one()
        safe = url.render_as_string(hide_password=True)
        return "sql:" + hashlib.sha256(repr((safe, *row)).encode()).hexdigest()

    def prepared(self, query: BlockingQuery, *, chunk_size: int) -> PreparedRegistry | None:
        """The whole registry, prepared, when the query would scan it and a cache is configured; else None."""
        if self._cache_dir is None or query.size() <= self.SCAN_ABOVE:
            return None
        fingerprint = self.fingerprint()
        if fingerprint is None:
            return None
        return cached(self._cache_dir, fingerprint, self._scan(chunk_size))

    def _fetch(self, column: str, values: Sequence[object]) -> list[RegistryEntry]:
        out: list[RegistryEntry] = []
        query = text(f"SELECT {self._COLUMNS} FROM persons WHERE {column} IN :vals").bindparams(
            bindparam("vals", expanding=True))
        with self._engine.connect() as conn:
            for i in range(0, len(values), 900):  # all rows of a part at once, as plain tuples (a match's
                # persons are tens of thousands: Row by Row and attribute by attribute cost more than the read)
                rows = conn.execute(query, {"vals": list(values[i:i + 900])}).tuples().all()
                out += [RegistryEntry(int(rid), cccd, cmnd, name, dob if isinstance(dob, date) else
                                      date.fromisoformat(dob), sex, district)
                        for rid, cccd, cmnd, name, dob, sex, district in rows]  # in _COLUMNS order
        return out

    def by_cccd(self, numbers: Iterable[str]) -> dict[str, RegistryEntry]:
        return {e.cccd: e for e in self._fetch("cccd", sorted(set(numbers)))}

    def by_cmnd(self, numbers: Iterable[str]) -> dict[str, RegistryEntry]:
        return {e.cmnd: e for e in self._fetch("cmnd", sorted(set(numbers))) if e.cmnd}

    def by_registry_id(self, ids: Iterable[int]) -> dict[int, RegistryEntry]:
        return {e.registry_id: e for e in self._fetch("registry_id", sorted(set(ids)))}

    def candidates(self, query: BlockingQuery, *, chunk_size: int = 250_000) -> Iterator[RegistryRows]:
        """A filtered read for a small batch; one streamed pass over the table for a large one."""
        if query.size() > self.SCAN_ABOVE:
            yield from self._scan(chunk_size)
            return
        seen: set[int] = set()
        found: list[Sequence[object]] = []
        with self._engine.connect() as conn:
            for column, values in (("cccd", query.cccd), ("cmnd", query.cmnd), ("dob", query.dob),
                                   ("substr(cccd, 1, 6)", query.cccd_prefix)):
                ordered = sorted(values)
                sql = text(f"SELECT {self._MATCH_COLUMNS} FROM persons WHERE {column} IN :vals").bindparams(
                    bindparam("vals", expanding=True))
                for i in range(0, len(ordered), 900):
                    for row in conn.execute(sql, {"vals": ordered[i:i + 900]}):
                        if row[0] not in seen:
                            seen.add(row[0])
                            found.append(tuple(row))
        yield _columns(list(zip(*found, strict=True)) if found else [[]] * 6)

    def _scan(self, chunk_size: int) -> Iterator[RegistryRows]:
        sql = text(f"SELECT {self._MATCH_COLUMNS} FROM persons ORDER BY registry_id")
        if self._engine.dialect.name == "sqlite":  # the DBAPI cursor directly: twice as fast as Result rows
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(str(sql))
                while part := cursor.fetchmany(chunk_size):
                    yield _columns(list(zip(*part, strict=True)))
            finally:
                raw.close()
            return
        with self._engine.connect().execution_options(stream_results=True, yield_per=chunk_size) as conn:
            result = conn.execute(sql)
            for part in result.partitions(chunk_size):
                yield _columns(list(zip(*part, strict=True)))


def _columns(cols: list[Sequence[object]]) -> RegistryRows:
    rid, cccd, cmnd, name, dob, sex = cols
    return RegistryRows(registry_id=[int(v) for v in rid],  # type: ignore[call-overload]
                        cccd=list(cccd), cmnd=list(cmnd), full_name=list(name),  # type: ignore[arg-type]
                        dob=[v.isoformat() if isinstance(v, date) else str(v) for v in dob],
                        sex=list(sex))  # type: ignore[arg-type]
