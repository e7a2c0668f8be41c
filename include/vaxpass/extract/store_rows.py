"""Writing one delivery's rows into the ops store, a chunk at a time, in the caller's transaction.

Every row is kept as a raw record (its cells as received, renamed by the column map) and a dose record. A row
seen before (same source key and content hash) is skipped; a row whose content changed becomes a new version
of its dose record and supersedes the previous one; a row the reader or the mapping found faulty is kept
quarantined with its reason code and row number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from vaxpass.extract.bulk import insert_rows, reserve_ids
from vaxpass.extract.mapping import BoundColumns
from vaxpass.extract.normalise import SOURCE_KEY_WIDTH, cut_overflow, normalise_row
from vaxpass.extract.source import SourceRow
from vaxpass.store.models import DoseRecord, RawRecord

CHUNK_ROWS = 5000
RAW: Table = RawRecord.__table__  # type: ignore[assignment]
DOSE: Table = DoseRecord.__table__  # type: ignore[assignment]
RAW_COLUMNS = ("id", "landed_file_id", "site_code", "source_row", "source_key", "content_hash", "raw")
FIELDS = ("full_name", "dob", "sex", "national_id", "phone", "vaccine_raw", "vaccine_mp", "dose_number",
          "vaccination_date", "lot", "nationality", "passport_no")
DOSE_COLUMNS = ("raw_record_id", "cycle_id", "site_code", "source_key", "version", "status", "status_reason",
                *FIELDS)
_IN = 900  # keys per IN (...) query: within every backend's parameter limit

Reporter = Callable[[int, str], None]  # (row, reason) of a quarantined row


def _chunks(rows: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


class RowWriter:
    def __init__(self, session: Session, *, cycle_id: str, site_code: str, landed_id: int, tag: str,
                 bound: BoundColumns, report: Reporter, chunk_rows: int = CHUNK_ROWS) -> None:
        self.session, self.cycle_id, self.site_code, self.landed_id = session, cycle_id, site_code, landed_id
        self.tag = tag  # names rows without a usable key: `~<tag>:<row>` (tag: the delivery's hash prefix)
        self.bound, self.report, self.chunk_rows = bound, report, chunk_rows
        self.rows = self.new = self.quarantined = 0

    def write(self, rows: Iterable[SourceRow]) -> None:
        for chunk in _chunks(rows, self.chunk_rows):
            self.rows += len(chunk)
            self._write_chunk(chunk)

    def _key(self, row: SourceRow, tag: str) -> tuple[str, str | None]:
        key = (row.cells.get(self.bound.key_column) or "").strip()
        if not key:
            return f"~{tag}:{row.row}", "missing_source_key"
        if len(key) > SOURCE_KEY_WIDTH:
            return f"~{tag}:{row.row}", "value_too_long"
        return key, None

    def _lookup(self, keys: list[str]) -> tuple[set[tuple[str, str]], dict[str, int]]:
        seen: set[tuple[str, str]] = set()
        latest: dict[str, int] = {}
        s, site = self.session, self.site_code
        for i in range(0, len(keys), _IN):
            part = keys[i:i + _IN]
            seen.update(s.execute(select(RawRecord.source_key, RawRecord.content_hash).where(
                RawRecord.site_code == site, RawRecord.source_key.in_(part))).tuples().all())
            latest.update(s.execute(select(DoseRecord.source_key, func.max(DoseRecord.version)).where(
                DoseRecord.site_code == site, DoseRecord.source_key.in_(part)).group_by(
                DoseRecord.source_key)).tuples().all())
        return seen, latest

    def _write_chunk(self, chunk: list[SourceRow]) -> None:
        keyed = []
        for row in chunk:
            key, problem = self._key(row, self.tag)
            doc = json.dumps(row.cells, sort_keys=True, ensure_ascii=False)
            keyed.append((key, problem or row.problem, row, hashlib.sha256(doc.encode()).hexdigest(), doc))
        seen, latest = self._lookup(list({k for k, *_ in keyed}))
        fresh = []
        for item in keyed:
            if (item[0], item[3]) in seen:
                continue  # this exact row was extracted before (or repeats within the delivery)
            seen.add((item[0], item[3]))
            fresh.append(item)
        if not fresh:
            return
        identity = self.bound.identity
        raws = [row.cells if identity else self.bound.raw(row.cells) for _, _, row, _, _ in fresh]
        raw_ids = reserve_ids(self.session, RAW, len(fresh))
        insert_rows(self.session, RAW, RAW_COLUMNS, [
            (rid, self.landed_id, self.site_code, row.row, key, chash,
             doc if identity else json.dumps(raw, sort_keys=True, ensure_ascii=False))
            for rid, (key, _, row, chash, doc), raw in zip(raw_ids, fresh, raws, strict=True)])
        superseded = [k for k, *_ in fresh if k in latest]
        for i in range(0, len(superseded), _IN):
            self.session.execute(update(DoseRecord).where(
                DoseRecord.site_code == self.site_code, DoseRecord.source_key.in_(superseded[i:i + _IN]),
                DoseRecord.status != "superseded").values(status="superseded"))
        records: list[list[Any]] = []
        index_of: dict[str, int] = {}
        status_at = DOSE_COLUMNS.index("status")
        for raw_id, raw, (key, problem, row, _, _) in zip(raw_ids, raws, fresh, strict=True):
            version = latest.get(key, 0) + 1
            latest[key] = version
            if key in index_of:  # the same key changed within this chunk: the later row wins
                records[index_of[key]][status_at] = "superseded"
            index_of[key] = len(records)
            fields = normalise_row(raw)
            if cut_overflow(fields) and problem is None:
                problem = "value_too_long"
            if problem:
                self.report(row.row, problem)
                self.quarantined += 1
            records.append([raw_id, self.cycle_id, self.site_code, key, version,
                            "quarantined" if problem else "new", problem, *(fields[f] for f in FIELDS)])
        insert_rows(self.session, DOSE, DOSE_COLUMNS, [tuple(r) for r in records])
        self.new += len(records)
