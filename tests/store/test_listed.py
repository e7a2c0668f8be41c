"""`value_lists`: every value asked for once, the same rows as a plain `IN`, on SQLite and PostgreSQL; `named_rows`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from vaxpass.store.listed import named_rows, value_lists

_ROWS = Table("rows", MetaData(), Column("id", Integer, primary_key=True), Column("code", String(8)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rows_of_listed_values_are_those_of_a_plain_in(backend: str, tmp_path_factory: pytest.TempPathFactory,
                                                       pg_databases: Callable[[], str]) -> None:
    url = (f"sqlite:///{tmp_path_factory.mktemp('listed') / 'x.sqlite'}" if backend == "sqlite"
           else pg_databases())
    engine = create_engine(url)
    with engine.begin() as conn:
        _ROWS.create(conn)
        conn.execute(insert(_ROWS), [{"id": i, "code": f"c-{i}é\""} for i in range(3000)])
        ids = list(range(-5, 3000, 2))  # more than one 900-value list, with values that match nothing
        codes = [f"c-{i}é\"" for i in range(0, 2000, 3)] + ["c-1"]
        by_id = [r for listed in value_lists(conn, ids) for r in conn.scalars(
            select(_ROWS.c.id).where(listed.has(_ROWS.c.id)))]
        by_code = [r for listed in value_lists(conn, codes) for r in conn.scalars(
            select(_ROWS.c.id).where(listed.has(_ROWS.c.code)))]
        assert sorted(by_id) == list(range(1, 3000, 2))
        assert sorted(by_code) == list(range(0, 2000, 3))
        assert list(value_lists(conn, [])) == []
    engine.dispose()


def test_named_rows_read_as_the_rows_do() -> None:
    """By name and by position, labels included, each row's values those of the row SQLAlchemy returned."""
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        _ROWS.create(conn)
        conn.execute(insert(_ROWS), [{"id": 1, "code": "a"}, {"id": 2, "code": None}])
        query = select(_ROWS.c.id, _ROWS.c.code.label("label")).order_by(_ROWS.c.id)
        rows, named = conn.execute(query).all(), named_rows(conn.execute(query))
    assert named == [tuple(r) for r in rows]
    assert [(r.id, r.label) for r in named] == [(r.id, r.label) for r in rows] == [(1, "a"), (2, None)]
    engine.dispose()
