"""Long lists of ids in `IN`: bound as one JSON parameter on SQLite, one array on PostgreSQL, not one
parameter per value.

SQLAlchemy renders an `IN` list as one bound parameter per value on every execution ("expanding" parameters):
for the 900-value lists the stages read by (persons, dose records, certificates of a chunk), that rendering
and binding cost about three times the query itself on SQLite. There the list goes in as one JSON array that
SQLite's `json_each` unpacks (the statement's text is then the same for every list, compiled once), and a whole
list fits in one statement. On PostgreSQL it goes in as one array parameter, `column = ANY(:array)`: with
psycopg 3 each expanded statement's text was also parsed in Python, per execution (a sixth of a 40 k-person
issuance's CPU). Not `IN (SELECT unnest(:array))`: the planner guesses such a subquery at 200 rows and took
sequential scans of the whole table for every chunk (dose records by person, whose index is partial and which
a join cannot prove it may use: 218 ms a chunk instead of ~10 at 259 k records, and growing with the store).
Other databases get the usual `IN` lists of at most 900 values.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Connection,
    Result,
    Select,
    Text,
    all_,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute

_PER_STATEMENT = 900  # bound parameters per statement where each value is one (SQLite's old limit: 999)
_PER_LIST = 100_000  # values per JSON array (SQLite) or array (PostgreSQL): bounds one parameter, not a limit


_Column = ColumnElement[Any] | QueryableAttribute[Any]


class Listed:
    """One list of `value_lists`: `has(column)` is the condition that the column's value is in it."""

    __slots__ = ("_values",)

    def __init__(self, values: Select[Any] | BindParameter[Any] | list[Any]) -> None:
        self._values = values

    def has(self, column: _Column) -> ColumnElement[bool]:
        if isinstance(self._values, BindParameter):  # PostgreSQL: one array
            return column == any_(self._values)
        return column.in_(self._values)

    def lacks(self, column: _Column) -> ColumnElement[bool]:
        """The column's value is not in the list (NULL, as with `NOT IN`, is neither in it nor out of it)."""
        if isinstance(self._values, BindParameter):
            return column != all_(self._values)
        return column.not_in(self._values)


def value_lists(conn: Connection, values: Sequence[Any]) -> Iterator[Listed]:
    """Lists that together hold every value of `values` (ints or strings) once, to select by (`Listed.has`):
    one JSON parameter per list on SQLite, one array parameter on PostgreSQL, plain lists elsewhere."""
    if conn.dialect.name == "postgresql":
        for i in range(0, len(values), _PER_LIST):
            part = list(values[i:i + _PER_LIST])
            element = BigInteger() if isinstance(part[0], int) else Text()
            yield Listed(bindparam("listed", part, type_=ARRAY(element), unique=True))
        return
    if conn.dialect.name != "sqlite":
        for i in range(0, len(values), _PER_STATEMENT):
            yield Listed(list(values[i:i + _PER_STATEMENT]))
        return
    for i in range(0, len(values), _PER_LIST):
        listed: BindParameter[str] = bindparam("listed", json.dumps(list(values[i:i + _PER_LIST])), unique=True)
        yield Listed(select(literal_column("value")).select_from(func.json_each(listed)))


def named_rows(rows: Result[Any]) -> list[Any]:
    """The rows as named tuples: a column read by name from SQLAlchemy's `Row` costs ~0.5 µs (its key lookup),
    from a named tuple ~0.04 µs, and the stages that read a row's columns a dozen times each (issuance, the
    lineage of its certificates) read hundreds of thousands of rows. Read-only, like `Row`."""
    new, cls = tuple.__new__, _named_tuple(tuple(rows.keys()))
    return [new(cls, row) for row in rows]


@lru_cache(maxsize=64)
def _named_tuple(fields: tuple[str, ...]) -> type[tuple[Any, ...]]:
    return namedtuple("Row", fields)  # type: ignore[misc]  # noqa: PYI024
