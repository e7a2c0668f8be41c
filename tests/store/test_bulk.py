"""`insert_rows` / `update_rows`: the same rows on SQLite, on PostgreSQL by COPY (psycopg 3) and by Core
(psycopg2) — NULL and the empty string kept apart, text with tabs, newlines and backslashes, JSON given as
its text, ids in the order given, existing keys skipped, only the given rows updated."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import JSON, Column, Engine, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.exc import StatementError

from tests.conftest import with_driver
from vaxpass.store.bulk import copies, insert_rows, update_rows
from vaxpass.store.models import UtcDateTime

_META = MetaData()
_ROWS = Table("bulk_rows", _META, Column("id", Integer, primary_key=True), Column("code", String(16), unique=True),
              Column("note", String(64), nullable=True), Column("doc", JSON, nullable=True))
_STAMPED = Table("bulk_stamped", _META, Column("id", Integer, primary_key=True), Column("at", UtcDateTime))

_AWKWARD = ["", None, "tab\there", "line\nbreak\r\n", "back\\slash \\N", "quote \"'", "việt ñ"]
_BACKENDS = ["sqlite", "postgresql+psycopg", "postgresql+psycopg2"]


@pytest.fixture
def engine(backend: str, tmp_path: Path, pg_databases: Callable[[], str]) -> Iterator[Engine]:
    """A fresh store of the two tables on the test's backend (its `backend` parameter)."""
    url = f"sqlite:///{tmp_path / 'bulk.sqlite'}" if backend == "sqlite" else with_driver(pg_databases(), backend)
    engine = create_engine(url)
    _META.create_all(engine)
    yield engine
    engine.dispose()


def _rows(conn: object) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(select(_ROWS).order_by(_ROWS.c.id))]  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", _BACKENDS)
def test_inserted_and_updated_rows_read_back_as_given(backend: str, engine: Engine) -> None:
    with engine.begin() as conn:
        assert copies(conn) == (backend == "postgresql+psycopg")
        given = [(f"c{i:02}", note, json.dumps({"note": note, "n": i}) if i % 2 else None)
                 for i, note in enumerate(_AWKWARD)]
        insert_rows(conn, _ROWS, ("code", "note", "doc"), list(reversed(given)), batched=True)
    with engine.begin() as conn:
        stored = _rows(conn)
    # ids in the order given (reversed), every value as given: NULL is not the empty string
    assert [(code, note, doc) for _, code, note, doc in stored] == [
        (code, note, None if doc is None else json.loads(doc)) for code, note, doc in reversed(given)]
    ids = {code: row_id for row_id, code, _, _ in stored}

    with engine.begin() as conn:  # update two rows, one back to NULL; the others stay as they were
        update_rows(conn, _ROWS, ("note", "doc"), [("new\tnote", json.dumps([1, "x"]), ids["c01"]),
                                                   (None, None, ids["c04"])])
    with engine.begin() as conn:
        after = {code: (note, doc) for _, code, note, doc in _rows(conn)}
    assert after["c01"] == ("new\tnote", [1, "x"])
    assert after["c04"] == (None, None)
    untouched = {code: (note, doc) for _, code, note, doc in stored if code not in ("c01", "c04")}
    assert {code: after[code] for code in untouched} == untouched


@pytest.mark.parametrize("backend", _BACKENDS)
def test_existing_keys_are_skipped_and_the_rest_inserted_in_order(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_rows(conn, _ROWS, ("code", "note"), [("b", "first"), ("d", "first")])
    with engine.begin() as conn:
        insert_rows(conn, _ROWS, ("code", "note"), [("e", "new"), ("d", "again"), ("a", "new"), ("b", "again")],
                    skip_existing=True, batched=True)
        insert_rows(conn, _ROWS, ("code", "note"), [("c", "new")], skip_existing=True)  # staged twice in one
    with engine.begin() as conn:
        assert [(code, note) for _, code, note, _ in _rows(conn)] == [
            ("b", "first"), ("d", "first"), ("e", "new"), ("a", "new"), ("c", "new")]


@pytest.mark.parametrize("backend", ["postgresql+psycopg", "postgresql+psycopg2"])
def test_timestamps_are_stored_as_the_instant_given(engine: Engine) -> None:
    """COPY converts values as their column's type binds them: an offset other than UTC is the same instant,
    and a naive timestamp is refused, as an ORM write refuses it."""
    hanoi = datetime(2026, 11, 27, 7, 30, tzinfo=timezone(timedelta(hours=7)))
    with engine.begin() as conn:
        insert_rows(conn, _STAMPED, ("at",), [(hanoi,), (hanoi,), (datetime(2026, 1, 1, tzinfo=UTC),)])
        assert list(conn.scalars(select(_STAMPED.c.at).order_by(_STAMPED.c.id))) == [
            datetime(2026, 11, 27, 0, 30, tzinfo=UTC)] * 2 + [datetime(2026, 1, 1, tzinfo=UTC)]
    with engine.begin() as conn, pytest.raises((ValueError, StatementError), match="naive"):
        insert_rows(conn, _STAMPED, ("at",), [(datetime(2026, 1, 1),)])
