"""Bulk reads and writes of extracted rows: ids reserved up front, then one executemany (SQLite) or COPY
(PostgreSQL) per chunk, and key lookups as plain driver statements — the ORM's per-row work, or compiling a
statement per lookup, would cost more than everything else extraction does."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Date, Table, insert, text
from sqlalchemy.orm import Session

from vaxpass.store.bulk import reserve_ids as sequence_ids


def reserve_ids(session: Session, table: Table, n: int) -> list[int]:
    """`n` fresh primary keys of `table`. SQLite: the transaction already holds the write lock (the delivery's
    landed-file row was written first), so max(id) cannot move under us; PostgreSQL: from the sequence."""
    conn = session.connection()
    name = table.name
    if conn.dialect.name == "postgresql":
        return sequence_ids(conn, table, n)
    top = conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {name}")).scalar_one()
    return list(range(top + 1, top + n + 1))


def lookup_known(session: Session, site_code: str, keys: Sequence[str], batch: int,
                 ) -> tuple[set[tuple[str, str]], dict[str, int]]:
    """Of a site's `keys`: the (source key, content hash) pairs already stored, and each key's latest dose
    record version."""
    seen: set[tuple[str, str]] = set()
    latest: dict[str, int] = {}
    if not keys:
        return seen, latest
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for i in range(0, len(keys), batch):
        part = list(keys[i:i + batch])
        marks = ", ".join([mark] * len(part))
        args = (site_code, *part)
        seen.update(conn.exec_driver_sql(
            f"SELECT source_key, content_hash FROM raw_records WHERE site_code = {mark} AND source_key IN ({marks})",
            args).tuples().all())
        latest.update(conn.exec_driver_sql(
            f"SELECT source_key, MAX(version) FROM dose_records WHERE site_code = {mark} AND source_key IN ({marks}) "
            "GROUP BY source_key", args).tuples().all())
    return seen, latest


def _isos(values: Sequence[Any]) -> list[Any]:
    """Dates as ISO text, each distinct date formatted once."""
    distinct = dict.fromkeys(values)
    for v in distinct:
        distinct[v] = v.isoformat() if isinstance(v, date) else v
    return [distinct[v] for v in values]


def insert_columns(session: Session, table: Table, data: dict[str, Sequence[Any]]) -> None:
    """Insert rows given column by column (equal lengths; JSON columns already serialised; no empty strings,
    which COPY would read as NULL) into `table`."""
    columns = list(data)
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":  # SQLite stores dates as ISO text (as SQLAlchemy's Date does); each distinct once
        data = {c: _isos(values) if isinstance(table.c[c].type, Date) else values
                for c, values in data.items()}
    rows = list(zip(*data.values(), strict=True))
    if not rows:
        return
    if dialect == "postgresql":
        buf = io.StringIO()
        # CRLF row ends make csv quote any value holding a CR or LF; unquoted empty fields are NULL
        csv.writer(buf, lineterminator="\r\n").writerows(rows)
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
        driver = conn.connection.driver_connection
        with driver.cursor() as cur:  # type: ignore[union-attr]
            if hasattr(cur, "copy_expert"):  # psycopg2
                buf.seek(0)
                cur.copy_expert(sql, buf, size=1 << 20)
            else:  # psycopg 3
                with cur.copy(sql) as copy:
                    copy.write(buf.getvalue())
    elif dialect == "sqlite":
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)
    else:
        json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
        conn.execute(insert(table), [{c: json.loads(v) if c in json_cols and v is not None else v
                                      for c, v in zip(columns, r, strict=True)} for r in rows])
