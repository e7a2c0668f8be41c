"""Writing one delivery's rows into the ops store, a chunk at a time, in the caller's transaction.

Every row is kept as a raw record (its cells as received, renamed by the column map, as JSON) and a dose
record. A row seen before (same source key and content hash) is skipped; a row whose content changed becomes
a new version of its dose record and supersedes the previous one; a row the reader or the mapping found faulty
is kept quarantined with its reason code and row number.

The content hash is the SHA-256 of the row's cells (as the source names them) in canonical JSON: keys sorted,
no spaces, UTF-8 (`msgspec`'s sorted encoding, identical to `json.dumps(sort_keys=True, ensure_ascii=False,
separators=(",", ":"))`). A chunk is handled column by column and written in bulk (see `bulk`); the store is
asked about a chunk's keys only when they may be there (see `known_keys`).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from vaxpass.extract.bulk import insert_columns, lookup_known, reserve_ids
from vaxpass.extract.known_keys import KnownKeys
from vaxpass.extract.mapping import BoundColumns
from vaxpass.extract.normalise import SOURCE_KEY_WIDTH, normalise_columns, overflowing
from vaxpass.extract.source import SourceRow
from vaxpass.store.models import DoseRecord, RawRecord

CHUNK_ROWS = 5000
CHUNK_CHARS = 1 << 20  # a million characters of cells: about 10 MB of strings, dicts and JSON a chunk
RAW: Table = RawRecord.__table__  # type: ignore[assignment]
DOSE: Table = DoseRecord.__table__  # type: ignore[assignment]
FIELDS = ("full_name", "dob", "sex", "national_id", "phone", "vaccine_raw", "vaccine_mp", "dose_number",
          "vaccination_date", "lot", "nationality", "passport_no")
_IN = 900  # keys per IN (...) statement: within every backend's parameter limit
_encode = msgspec.json.Encoder(order="sorted").encode

_IN_FLIGHT = 2  # chunks prepared ahead of the writer: bounds memory to about three chunks
Reporter = Callable[[int, str], None]  # (row, reason) of a quarantined row


class _Prepared(NamedTuple):
    """A chunk made ready for the store, column by column (each list in the rows' order)."""

    source_rows: list[int]
    keys: list[str]
    hashes: list[str]
    problems: list[str | None]
    raw_docs: list[str]
    fields: dict[str, list[Any]]

    def subset(self, keep: list[int]) -> _Prepared:
        def pick(values: list[Any]) -> list[Any]:
            return [values[i] for i in keep]
        return _Prepared(pick(self.source_rows), pick(self.keys), pick(self.hashes), pick(self.problems),
                         pick(self.raw_docs), {f: pick(v) for f, v in self.fields.items()})


def canonical_json(cells: dict[str, str]) -> bytes:
    """The canonical JSON of a row's cells, the input of its content hash."""
    return _encode(cells)


def _chunks(rows: Iterable[SourceRow], size: int, budget: int = CHUNK_CHARS) -> Iterator[list[SourceRow]]:
    """Chunks of at most `size` rows and about `budget` characters of cells (wide rows make smaller chunks, so
    a chunk's memory stays bounded whatever the rows hold)."""
    chunk: list[SourceRow] = []
    chars = 0
    for row in rows:
        chunk.append(row)
        chars += row.chars if row.chars >= 0 else sum(map(len, row.cells.values()))
        if len(chunk) >= size or chars >= budget:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


class RowWriter:
    def __init__(self, session: Session, *, cycle_id: str, site_code: str, landed_id: int, tag: str,
                 bound: BoundColumns, report: Reporter, known: KnownKeys | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        self.session, self.cycle_id, self.site_code, self.landed_id = session, cycle_id, site_code, landed_id
        self.tag = tag  # names rows without a usable key: `~<tag>:<row>` (tag: the delivery's hash prefix)
        self.bound, self.report, self.chunk_rows = bound, report, chunk_rows
        self.known = known if known is not None else KnownKeys(session, site_code)
        self.rows = self.new = self.quarantined = 0
        self._renamed: dict[tuple[str, ...], list[str]] = {}

    def write(self, rows: Iterable[SourceRow]) -> None:
        if self.session.connection().dialect.name != "postgresql":
            for chunk in _chunks(rows, self.chunk_rows):
                self.rows += len(chunk)
                self._store(self._prepare(chunk))
            return
        # PostgreSQL: prepare each chunk (hashes, keys, normalised fields) here while a writer thread stores
        # the one before; the server's COPY runs without the GIL, so on two cores it overlaps the parsing.
        # (Not for SQLite: its executemany takes the GIL back for every row, and the two threads convoy.)
        # Only the writer touches the session, chunk after chunk, so a chunk's lookups see the earlier ones.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vaxpass-writer") as pool:
            pending: deque[Future[None]] = deque()
            try:
                for chunk in _chunks(rows, self.chunk_rows):
                    self.rows += len(chunk)
                    prepared = self._prepare(chunk)
                    while len(pending) >= _IN_FLIGHT:
                        pending.popleft().result()
                    pending.append(pool.submit(self._store, prepared))
                while pending:
                    pending.popleft().result()
            finally:  # a failed read or write: let the writer finish before the caller rolls back
                for future in pending:
                    future.cancel()
                wait(pending)

    def _bad_key(self, row: SourceRow, key: str) -> tuple[str, str | None]:
        """A row without a usable key is named `~<tag>:<row>` and quarantined."""
        name = f"~{self.tag}:{row.row}"
        if not key:
            return name, "missing_source_key"
        if len(key) > SOURCE_KEY_WIDTH:
            return name, "value_too_long"
        return name, row.problem or "control_characters"

    def _raw(self, cells: dict[str, str]) -> dict[str, str]:
        """The cells renamed by the column map (rows of one delivery share their columns: rename them once)."""
        names = tuple(cells)
        renamed = self._renamed.get(names)
        if renamed is None:
            renamed = self._renamed[names] = [self.bound.rename.get(k, k) for k in names]
        return dict(zip(renamed, cells.values(), strict=True))

    def _fresh(self, keys: list[str], hashes: list[str]) -> tuple[list[int], dict[str, int]]:
        """Positions of the rows not stored before (nor earlier in the chunk), and the latest stored version
        of the chunk's keys that have one."""
        seen, latest = lookup_known(self.session, self.site_code, self.known.maybe_known(list(set(keys))), _IN)
        self.known.add(keys)
        pairs = list(zip(keys, hashes, strict=True))
        if not seen and len(set(pairs)) == len(pairs):
            return list(range(len(pairs))), latest
        fresh = []
        for i, pair in enumerate(pairs):
            if pair in seen:
                continue  # this exact row was extracted before (or repeats within the delivery)
            seen.add(pair)
            fresh.append(i)
        return fresh, latest

    def _prepare(self, chunk: list[SourceRow]) -> _Prepared:
        docs = [_encode(row.cells) for row in chunk]
        hashes = [hashlib.sha256(doc).hexdigest() for doc in docs]
        column = self.bound.key_column
        keys = [(row.cells.get(column) or "").strip() for row in chunk]
        problems = [row.problem for row in chunk]
        for i, key in enumerate(keys):
            if not key or len(key) > SOURCE_KEY_WIDTH or "\x00" in key:
                keys[i], problems[i] = self._bad_key(chunk[i], key)
        if self.bound.identity:
            raws = [row.cells for row in chunk]
            raw_docs = [doc.decode() for doc in docs]
        else:
            raws = [self._raw(row.cells) for row in chunk]
            raw_docs = [_encode(raw).decode() for raw in raws]
        fields = normalise_columns(raws)
        for i in overflowing(fields):
            problems[i] = problems[i] or "value_too_long"
        return _Prepared([row.row for row in chunk], keys, hashes, problems, raw_docs, fields)

    def _store(self, p: _Prepared) -> None:
        fresh, latest = self._fresh(p.keys, p.hashes)
        if not fresh:
            return
        if len(fresh) < len(p.keys):
            p = p.subset(fresh)
        n = len(p.keys)
        keys, problems = p.keys, p.problems
        raw_ids = reserve_ids(self.session, RAW, n)
        insert_columns(self.session, RAW, {
            "id": raw_ids, "landed_file_id": [self.landed_id] * n, "site_code": [self.site_code] * n,
            "source_row": p.source_rows, "source_key": keys, "content_hash": p.hashes, "raw": p.raw_docs})
        versions = self._versions(keys, latest)
        statuses: list[str] = ["new"] * n
        for i, problem in enumerate(problems):
            if problem:
                self.report(p.source_rows[i], problem)
                statuses[i] = "quarantined"
                self.quarantined += 1
        if len(set(keys)) != n:  # the same key changed within this chunk: the later row wins
            last = {key: i for i, key in enumerate(keys)}
            statuses = [s if last[key] == i else "superseded" for i, (key, s) in enumerate(zip(keys, statuses,
                                                                                             strict=True))]
        insert_columns(self.session, DOSE, {
            "raw_record_id": raw_ids, "cycle_id": [self.cycle_id] * n, "site_code": [self.site_code] * n,
            "source_key": keys, "version": versions, "status": statuses, "status_reason": problems,
            **{f: p.fields[f] for f in FIELDS}})
        self.new += n

    def _versions(self, keys: list[str], latest: dict[str, int]) -> list[int]:
        """Each row's version; earlier versions of changed keys are marked superseded in the store."""
        if not latest and len(set(keys)) == len(keys):
            return [1] * len(keys)
        superseded = [k for k in dict.fromkeys(keys) if k in latest]
        for i in range(0, len(superseded), _IN):
            self.session.execute(update(DoseRecord).where(
                DoseRecord.site_code == self.site_code, DoseRecord.source_key.in_(superseded[i:i + _IN]),
                DoseRecord.status != "superseded").values(status="superseded"))
        versions = []
        for key in keys:
            version = latest[key] = latest.get(key, 0) + 1
            versions.append(version)
        return versions
