"""Bulk writes of prepared tuples: on SQLite one `executemany` on the driver's cursor, on PostgreSQL through
psycopg 3 `COPY`, elsewhere Core.

SQLAlchemy's executemany builds and processes every row's parameters in Python (~5 µs a row of four columns),
more than SQLite's own insert of the row. Issuance writes about ten rows per certificate (the certificate and
its lineage links) and matching a decision and a record update per record, so on SQLite they go to the driver
directly, as the same statement with the same values SQLAlchemy would bind. Errors come out as SQLAlchemy's
(`IntegrityError` …), without their parameters (they hold personal data). JSON columns arrive as the text
`json.dumps` made of them (the text SQLAlchemy's JSON type would have written), so each value is encoded once,
by the caller.

On PostgreSQL, Core's executemany of an INSERT is batched into multi-row statements of a thousand rows, each a
new statement text that psycopg parses in Python, and of an UPDATE is one statement a row: a 40 k-person
backfill spent more time there than SQLite spent on the whole write. Through psycopg 3 the rows go by `COPY`
instead, each formatted by psycopg's row writer (in C); inserts that skip existing keys, and updates, are
copied into a temporary table first and applied from there in one statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Table, TypeDecorator, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError


def insert_sql(table: Table, columns: Sequence[str], tail: str = "") -> str:
    """`INSERT INTO table (columns) VALUES (?, …)`, for the driver's own (qmark) parameters."""
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}){tail}"


@contextmanager
def _driver_cursor(conn: Connection, shown: str) -> Iterator[Any]:
    """The driver's cursor, inside the connection's transaction; its errors come out as SQLAlchemy's, naming
    `shown` as the statement and without the parameters."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.cursor()
    try:
        yield cursor
    except dbapi_error as exc:
        raise DBAPIError.instance(shown, None, exc, dbapi_error, hide_parameters=True,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()


def executemany_on_driver(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run `sql` for every row on the driver's cursor, inside the connection's transaction (SQLite)."""
    with _driver_cursor(conn, sql) as cursor:
        cursor.executemany(sql, rows)


class EncodedJSON(TypeDecorator[str]):
    """A JSON column's value given as JSON text: bound as it is, not encoded again."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def copies(conn: Connection) -> bool:
    """Whether bulk writes on `conn` go by COPY: PostgreSQL through psycopg 3 (psycopg2 has no row writer)."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def bound_values(conn: Connection, table: Table, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """`rows` (in `columns` order) with each value converted as its column's type binds it on `conn` (the
    store's UTC timestamps: each distinct value converted once), JSON columns excepted: their values are the
    JSON text already. For writes that go past SQLAlchemy's parameter processing."""
    converters = [(i, converter) for i, name in enumerate(columns)
                  if not isinstance(table.c[name].type, JSON)
                  and (converter := table.c[name].type.bind_processor(conn.dialect)) is not None]
    values = [list(row) for row in rows]
    done: list[dict[Any, Any]] = [{} for _ in converters]
    for row_values in values:
        for (i, converter), seen in zip(converters, done, strict=True):
            value = row_values[i]
            row_values[i] = seen[value] if value in seen else seen.setdefault(value, converter(value))
    return values


def copy_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
              into: str | None = None) -> None:
    """COPY `rows` (tuples in `columns` order) into `table` (or the table named `into`, of the same columns)
    inside the connection's transaction (`copies(conn)` must hold), each value as `bound_values` converts it."""
    sql = f"COPY {into or table.name} ({', '.join(columns)}) FROM STDIN"
    with _driver_cursor(conn, sql) as cursor, cursor.copy(sql) as copy:
        for row in bound_values(conn, table, columns, rows):
            copy.write_row(row)


def reserve_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """`n` fresh ids of `table` from its sequence (PostgreSQL), in increasing order: rows copied with them get
    the ids an insert without ids would have given them."""
    return list(conn.execute(text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                                  "FROM generate_series(1, :n)"), {"n": n}).scalars())


@contextmanager
def _staged(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Iterator[str]:
    """The rows copied into a temporary table of `columns` (typed as `table`'s), their order kept in `_ord`;
    yields its name. Dropped when the block ends (on an error the transaction's end drops it)."""
    name = f"_staged_{table.name}"
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS SELECT {', '.join(columns)} "
                         f"FROM {table.name} WITH NO DATA")
    conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN _ord bigserial")
    copy_rows(conn, table, columns, rows, into=name)
    yield name
    conn.exec_driver_sql(f"DROP TABLE {name}")


def _binds(table: Table, columns: Sequence[str]) -> dict[str, Any]:
    return {c: bindparam(f"p_{c}", type_=EncodedJSON() if isinstance(table.c[c].type, JSON) else table.c[c].type)
            for c in columns}


def _as_dicts(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    keys = [f"p_{c}" for c in columns]
    return [dict(zip(keys, r, strict=True)) for r in rows]


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], *,
                skip_existing: bool = False, batched: bool = False) -> None:
    """Insert `rows` (tuples in `columns` order, values as the driver takes them); `skip_existing`: a row whose
    key is already there is left out (no conflict target: any unique key, as a concurrent insert of the same
    person may clash on either). `batched`: on SQLite thousands of rows a statement, in the order given (the
    ids one statement a row would give them): a quarter less CPU for matching's persons and decisions (many
    rows, foreign keys checked; 1.38 vs 1.79 s for 342 k rows), no gain for confirmation's items (fewer, wider).
    On PostgreSQL through psycopg 3 always by COPY (in the order given); with `skip_existing` through a
    temporary table, inserted from it in that order."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        tail = " ON CONFLICT DO NOTHING" if skip_existing else ""
        if batched:
            _by_statements(conn, rows, lambda values: f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
                           f"{values}{tail}", insert_sql(table, columns, tail))
        else:
            executemany_on_driver(conn, insert_sql(table, columns, tail), rows)
        return
    if copies(conn):
        if not skip_existing:
            copy_rows(conn, table, columns, rows)
            return
        names = ", ".join(columns)
        with _staged(conn, table, columns, rows) as staged:
            conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staged} ORDER BY _ord "
                                 "ON CONFLICT DO NOTHING")
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


# Rows per statement of SQLite's bulk writes, within its default 32,766 variables (fewer for wide rows).
_ROWS_PER_STATEMENT = 8000


def _by_statements(conn: Connection, rows: Sequence[tuple[Any, ...]], sql: Callable[[str], str], shown: str) -> None:
    """Run `sql(values)` on SQLite for thousands of rows at a time, `values` being their `(?, …), (?, …)`: one
    statement a row costs its statement overhead (and, where SQLite needs one, its statement journal) every row."""
    row = f"({', '.join('?' * len(rows[0]))})"
    per = max(1, min(_ROWS_PER_STATEMENT, 32766 // len(rows[0])))
    for lo in range(0, len(rows), per):
        part = rows[lo:lo + per]
        with _driver_cursor(conn, shown) as cursor:
            cursor.execute(sql(", ".join([row] * len(part))), [value for r in part for value in r])


def update_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Set `columns` of the rows by id (distinct ids): each row is the new values in `columns` order, then the id.

    On SQLite thousands of rows per statement (`UPDATE … FROM (VALUES …)`, scanned in the order given), not one
    statement a row: with foreign keys on, SQLite runs every UPDATE statement in a statement journal of its own,
    and per row that cost as much as the update itself and grew with the store (matching's record updates: 10 µs
    a row at 82 k records, 14 at 245 k; 5.5 and 7.8 with one statement per 8,000 rows or foreign keys off).
    On PostgreSQL through psycopg 3 the rows are copied into a temporary table and applied by one
    `UPDATE … FROM` it (Core's executemany there is one statement, and one round trip, a row)."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        names = ", ".join([*columns, "id"])
        sets = ", ".join(f"{c} = v.{c}" for c in columns)
        _by_statements(conn, rows, lambda values: f"WITH v({names}) AS (VALUES {values}) "
                       f"UPDATE {table.name} SET {sets} FROM v WHERE {table.name}.id = v.id",
                       f"UPDATE {table.name} SET {sets} FROM (VALUES …) v WHERE id = v.id")
        return
    if copies(conn):
        sets = ", ".join(f"{c} = s.{c}" for c in columns)
        with _staged(conn, table, [*columns, "id"], rows) as staged:
            conn.exec_driver_sql(f"UPDATE {table.name} SET {sets} FROM {staged} s WHERE {table.name}.id = s.id")
        return
    stmt = update(table).where(table.c.id == bindparam("p_id")).values(_binds(table, columns))
    conn.execute(stmt, _as_dicts([*columns, "id"], rows))
