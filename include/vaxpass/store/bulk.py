"""Bulk inserts on SQLite through the driver's cursor: one `executemany` of prepared tuples.

SQLAlchemy's executemany builds and processes every row's parameters in Python (~5 µs a row of four columns),
more than SQLite's own insert of the row. Issuance writes about ten rows per certificate (the certificate and
its lineage links), so there they go to the driver directly, as the same statement with the same values
SQLAlchemy would bind. Errors come out as SQLAlchemy's (`IntegrityError` …), without their parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError


def insert_sql(table: Table, columns: Sequence[str]) -> str:
    """`INSERT INTO table (columns) VALUES (?, …)`, for the driver's own (qmark) parameters."""
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def executemany_on_driver(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run `sql` for every row on the driver's cursor, inside the connection's transaction (SQLite)."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    except dbapi_error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi_error, hide_parameters=True,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()
