"""A site's own database (MariaDB/MySQL, PostgreSQL, SQLite), read by query with a watermark column.

Rows are read in (watermark, key) order with keyset paging — `WHERE wm > :w OR (wm = :w AND key > :k)` — so
rows sharing a watermark value are never skipped at a chunk boundary. The result streams from a server-side
cursor; each chunk is one delivery, landed as an NDJSON document (one JSON object of text cells per row, in
the query's column order) and committed together with the watermark of its last row. Rows whose watermark is
NULL can never be selected: they are counted and reported (`null-watermark`), not silently left behind.

Look-back (`options.lookback`: "90s", "30m", "2h", "1d" or a number of minutes): a transaction that commits
late can carry a watermark older than one already read. With a look-back the query re-reads every row whose
watermark lies within that window before the stored one (`WHERE wm >= :stored - lookback`); the content hash
decides what happens to each re-read row (unchanged: skipped; changed: a new version; never seen: new), so the
window costs reading, never duplicates. The stored watermark never moves backwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from vaxpass.errors import RowProblem, SourceError
from vaxpass.extract.source import Delivery, Rows, SourceRow

_encode = msgspec.json.Encoder().encode  # NDJSON lines: the row's cells in the query's column order
_TYPES: dict[str, Any] = {"datetime": datetime.fromisoformat, "date": date.fromisoformat, "int": int,
                          "decimal": Decimal, "float": float, "str": str}


def encode(value: Any) -> dict[str, str]:
    """A watermark value as JSON that comes back with its type (compared as the database compares it)."""
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    for name, typ in (("decimal", Decimal), ("float", float), ("int", int)):
        if isinstance(value, typ) and not isinstance(value, bool):
            return {"type": name, "value": str(value)}
    return {"type": "str", "value": str(value)}


def decode(value: dict[str, str]) -> Any:
    return _TYPES[value["type"]](value["value"])


_LOOKBACK = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "": 60, "h": 3600, "d": 86400}


def parse_lookback(value: Any) -> timedelta | None:
    """A look-back window: "90s", "30m", "2h", "1d" or a number of minutes; None/0 for none. ValueError else."""
    if value is None or value == "" or value == 0:
        return None
    m = _LOOKBACK.match(str(value))
    if m is None or isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    return timedelta(seconds=float(m[1]) * _UNIT_SECONDS[m[2]]) or None


def _later(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The later of two stored (watermark, key) positions."""
    try:
        return a if (decode(a["value"]), decode(a["key"])) >= (decode(b["value"]), decode(b["key"])) else b
    except (TypeError, KeyError, ValueError):
        return a


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


class SqlSource:
    kind = "sql"

    def __init__(self, site: str, url: str, label: str, columns: dict[str, str], options: dict[str, Any]) -> None:
        self.site, self.url, self.label = site, url, label
        self.table: str | None = options.get("table")
        self.query: str | None = options.get("query")
        self.wm_col: str = options.get("watermark_column", "updated_at")
        self.key_col = columns["source_key"]
        self.chunk = int(options.get("chunk_rows", 20_000))
        self.notes: list[RowProblem] = []
        try:
            self.lookback = parse_lookback(options.get("lookback"))
        except ValueError as exc:
            raise SourceError(site, label, "bad-lookback", str(exc)) from exc

    def _sql(self, quote: Any, watermark: dict[str, Any] | None) -> tuple[str, str, dict[str, Any]]:
        if self.table:
            base = "SELECT * FROM " + ".".join(quote(p) for p in self.table.split("."))
        else:
            base = str(self.query)
        w, k = f"src.{quote(self.wm_col)}", f"src.{quote(self.key_col)}"
        sql, params = f"SELECT * FROM ({base}) src WHERE {w} IS NOT NULL", {}
        if watermark and watermark.get("column") == self.wm_col and "key" in watermark:
            stored = decode(watermark["value"])
            if self.lookback is not None:
                sql += f" AND {w} >= :since"
                params = {"since": self._since(stored)}
            else:
                sql += f" AND ({w} > :w OR ({w} = :w AND {k} > :k))"
                params = {"w": stored, "k": decode(watermark["key"])}
        nulls = f"SELECT COUNT(*) FROM ({base}) src WHERE {w} IS NULL"
        return sql + f" ORDER BY {w}, {k}", nulls, params

    def _since(self, stored: Any) -> Any:
        """The stored watermark minus the look-back; a text watermark (SQLite keeps times as ISO text) is
        parsed and written back in its own layout, so the database compares like with like."""
        assert self.lookback is not None
        if isinstance(stored, date):
            return stored - self.lookback
        if isinstance(stored, str):
            try:
                since = datetime.fromisoformat(stored) - self.lookback
            except ValueError:
                pass
            else:
                return since.isoformat(sep="T" if "T" in stored else " ",
                                       timespec="microseconds" if "." in stored else "seconds")
        raise SourceError(self.site, self.label, "bad-lookback",
                          f"a look-back needs a date or time watermark, {self.wm_col} is not one")

    def deliveries(self, watermark: dict[str, Any] | None) -> Iterator[Delivery]:
        try:
            engine = create_engine(self.url, poolclass=NullPool)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise SourceError(self.site, self.label, "bad-connection", type(exc).__name__) from exc
        try:
            try:
                conn = engine.connect()
            except SQLAlchemyError as exc:
                raise SourceError(self.site, self.label, "database-unreachable", type(exc).__name__) from exc
            with conn:
                yield from self._read(conn, watermark)
        finally:
            engine.dispose()

    def _read(self, conn: Any, watermark: dict[str, Any] | None) -> Iterator[Delivery]:
        sql, nulls, params = self._sql(conn.dialect.identifier_preparer.quote, watermark)
        name = self.table or "query"
        try:
            if null_rows := conn.execute(text(nulls)).scalar():
                self.notes.append(RowProblem(self.site, name, None, "null-watermark",
                                             f"{null_rows} row(s) with no {self.wm_col} cannot be read"))
            result = conn.execution_options(stream_results=True, yield_per=self.chunk).execute(text(sql), params)
            columns = list(result.keys())
            wi, ki = columns.index(self.wm_col), columns.index(self.key_col)
            for part in result.partitions(self.chunk):
                delivery = self._delivery(name, columns, part, wi, ki)
                if watermark and delivery.watermark and watermark.get("column") == self.wm_col and "key" in watermark:
                    delivery.watermark = _later(delivery.watermark, watermark)  # a look-back never moves it back
                yield delivery
        except ValueError as exc:
            raise SourceError(self.site, name, "missing-columns", "watermark or key column not in the result",
                              ) from exc
        except SQLAlchemyError as exc:
            raise SourceError(self.site, name, "query-failed", type(exc).__name__) from exc

    def _delivery(self, name: str, columns: list[str], part: Any, wi: int, ki: int) -> Delivery:
        cells = [dict(zip(columns, [v if v.__class__ is str else cell_text(v) for v in r], strict=True))
                 for r in part]
        doc = b"".join(_encode(c) + b"\n" for c in cells)
        first, last = part[0], part[-1]
        rows = [SourceRow(i, c, None, 0) for i, c in enumerate(cells, start=1)]  # the chunk is in memory

        def read(_landed: Path) -> Rows:
            return Rows(columns, rows)
        return Delivery(name=f"{name}@{cell_text(first[wi])}..{cell_text(last[wi])}.ndjson", kind="query",
                        suffix=".ndjson", data=doc, rows=read,
                        watermark={"column": self.wm_col, "value": encode(last[wi]), "key": encode(last[ki])})
