"""Writing a batch's match outcomes as prebuilt tuples: one DBAPI executemany per statement on SQLite, Core
elsewhere. SQLAlchemy's per-row parameter handling and JSON encoding cost more than SQLite's own work for the
decisions and record updates of a batch; JSON columns arrive here as the text `json.dumps` made of them (the
text SQLAlchemy's JSON type would have written), so each value is encoded once, by the caller."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Table, TypeDecorator, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite


class _EncodedJSON(TypeDecorator[str]):
    """A JSON column's value given as JSON text: bound as it is, not encoded again."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def _binds(table: Table, columns: Sequence[str]) -> dict[str, Any]:
    return {c: bindparam(f"p_{c}", type_=_EncodedJSON() if isinstance(table.c[c].type, JSON) else table.c[c].type)
            for c in columns}


def _as_dicts(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    keys = [f"p_{c}" for c in columns]
    return [dict(zip(keys, r, strict=True)) for r in rows]


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], *,
                skip_existing: bool = False) -> None:
    """Insert `rows` (tuples in `columns` order); `skip_existing`: a row whose key is already there is left out
    (no conflict target: any unique key, as a concurrent insert of the same person may clash on either)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        marks = ", ".join("?" * len(columns))
        tail = " ON CONFLICT DO NOTHING" if skip_existing else ""
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks}){tail}", list(rows))
        return
    stmt: Any
    if not skip_existing:
        stmt = insert(table)
    elif dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect in ("mysql", "mariadb"):
        stmt = insert(table).prefix_with("IGNORE")
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    conn.execute(stmt.values(_binds(table, columns)), _as_dicts(columns, rows))


def update_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Set `columns` of the rows by id: each row is the new values in `columns` order, then the id."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        sets = ", ".join(f"{c} = ?" for c in columns)
        conn.exec_driver_sql(f"UPDATE {table.name} SET {sets} WHERE id = ?", list(rows))
        return
    stmt = update(table).where(table.c.id == bindparam("p_id")).values(_binds(table, columns))
    conn.execute(stmt, _as_dicts([*columns, "id"], rows))
