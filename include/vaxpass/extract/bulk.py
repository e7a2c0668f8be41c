"""Bulk writes of extracted rows: ids reserved up front, then one executemany (SQLite) or COPY (PostgreSQL)
per chunk — the ORM's per-row work would cost more than everything else extraction does."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Date, Table, insert, text
from sqlalchemy.orm import Session


def reserve_ids(session: Session, table: Table, n: int) -> list[int]:
    """`n` fresh primary keys of `table`. SQLite: the transaction already holds the write lock (the delivery's
    landed-file row was written first), so max(id) cannot move under us; PostgreSQL: from the sequence."""
    conn = session.connection()
    name = table.name
    if conn.dialect.name == "postgresql":
        return list(conn.execute(text(f"SELECT nextval(pg_get_serial_sequence('{name}', 'id')) "
                                      "FROM generate_series(1, :n)"), {"n": n}).scalars())
    top = conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {name}")).scalar_one()
    return list(range(top + 1, top + n + 1))


def _copy_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    text_value = value.isoformat() if isinstance(value, date) else str(value)
    return '"' + text_value.replace('"', '""') + '"'


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert `rows` (tuples in `columns` order; JSON columns already serialised) into `table`."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "postgresql":
        buf = io.StringIO()
        buf.writelines(",".join(map(_copy_field, r)) + "\n" for r in rows)
        buf.seek(0)
        with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
            cur.copy_expert(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buf)
    elif dialect == "sqlite":
        marks = ", ".join("?" * len(columns))
        dated = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, Date)]
        if dated:  # SQLite stores dates as ISO text (as SQLAlchemy's Date does)
            rows = [tuple(v.isoformat() if i in dated and v is not None else v for i, v in enumerate(r))
                    for r in rows]
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)
    else:
        json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
        import json
        conn.execute(insert(table), [{c: json.loads(v) if c in json_cols and v is not None else v
                                      for c, v in zip(columns, r, strict=True)} for r in rows])
