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
from collections.abc import Callable, Iterable, Iterator

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

Reporter = Callable[[int, str], None]  # (row, reason) of a quarantined row


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
        chars += sum(map(len, row.cells.values()))
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
        for chunk in _chunks(rows, self.chunk_rows):
            self.rows += len(chunk)
            self._write_chunk(chunk)

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

    def _write_chunk(self, chunk: list[SourceRow]) -> None:
        docs = [_encode(row.cells) for row in chunk]
        hashes = [hashlib.sha256(doc).hexdigest() for doc in docs]
        column = self.bound.key_column
        keys = [(row.cells.get(column) or "").strip() for row in chunk]
        problems_all = [row.problem for row in chunk]
        for i, key in enumerate(keys):
            if not key or len(key) > SOURCE_KEY_WIDTH or "\x00" in key:
                keys[i], problems_all[i] = self._bad_key(chunk[i], key)
        fresh, latest = self._fresh(keys, hashes)
        if not fresh:
            return
        rows = [chunk[i] for i in fresh]
        keys = [keys[i] for i in fresh]
        problems = [problems_all[i] for i in fresh]
        if self.bound.identity:
            raws = [row.cells for row in rows]
            raw_docs = [docs[i].decode() for i in fresh]
        else:
            raws = [self._raw(row.cells) for row in rows]
            raw_docs = [_encode(raw).decode() for raw in raws]
        raw_ids = reserve_ids(self.session, RAW, len(rows))
        n = len(rows)
        insert_columns(self.session, RAW, {
            "id": raw_ids, "landed_file_id": [self.landed_id] * n, "site_code": [self.site_code] * n,
            "source_row": [row.row for row in rows], "source_key": keys, "content_hash": [hashes[i] for i in fresh],
            "raw": raw_docs})
        versions = self._versions(keys, latest)
        fields = normalise_columns(raws)
        for i in overflowing(fields):
            problems[i] = problems[i] or "value_too_long"
        statuses: list[str] = ["new"] * len(rows)
        for i, problem in enumerate(problems):
            if problem:
                self.report(rows[i].row, problem)
                statuses[i] = "quarantined"
                self.quarantined += 1
        if len(set(keys)) != len(keys):  # the same key changed within this chunk: the later row wins
            last = {key: i for i, key in enumerate(keys)}
            statuses = [s if last[key] == i else "superseded" for i, (key, s) in enumerate(zip(keys, statuses,
                                                                                             strict=True))]
        insert_columns(self.session, DOSE, {
            "raw_record_id": raw_ids, "cycle_id": [self.cycle_id] * n, "site_code": [self.site_code] * n,
            "source_key": keys, "version": versions, "status": statuses, "status_reason": problems,
            **{f: fields[f] for f in FIELDS}})
        self.new += len(rows)

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
