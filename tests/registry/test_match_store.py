"""What matching writes, byte for byte, on SQLite and PostgreSQL: decisions (evidence as the JSON text the
JSON column type would write, link keys included), record updates and persons written with prebuilt rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Text, cast, select
from sqlalchemy.exc import IntegrityError

from tests.factories import make_registry, make_store, site
from tests.registry.test_match import KEY, _record
from vaxpass.registry import RecordIdentity, SqlRegistry, match_identities, match_valid_records
from vaxpass.registry.history import link_key
from vaxpass.store import bulk, session_scope
from vaxpass.store.bulk import insert_rows, update_rows
from vaxpass.store.models import DoseRecord, MatchDecision, Person

RECORDS: list[dict[str, Any]] = [
    {"full_name": "Nguyễn Văn An", "dob": date(1990, 5, 12), "sex": "M", "national_id": "001090000001"},
    {"full_name": "NGUYEN VAN AN", "dob": date(1990, 5, 12), "sex": "M", "national_id": "001090000001"},
    {"full_name": "Trần Thị Đào", "dob": date(1990, 3, 7), "sex": "F", "national_id": "012345678"},
    {"full_name": "Tran Thi Dao", "dob": date(1990, 7, 3), "sex": "F", "national_id": None},
    {"full_name": "Lê Văn Tám", "dob": date(1980, 1, 1), "sex": "M", "national_id": "001080999999"},
    {"full_name": "John Smith", "dob": date(1980, 1, 1), "sex": "M", "nationality": "US", "passport_no": "x1234"},
    {"full_name": "Phạm Thu Thủy", "dob": date(2001, 2, 14), "sex": "F", "national_id": None},
]


def _matched(url: str, registry: SqlRegistry) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any]]:
    with session_scope(url) as s:
        for n, fields in enumerate(RECORDS, start=1):
            _record(s, n, **fields)
    match_valid_records(url, registry, cycle_id="cycle-1", key=KEY)
    m = MatchDecision
    with session_scope(url) as s:
        decisions = s.execute(select(m.dose_record_id, m.cycle_id, m.person_id, m.outcome, m.method, m.reason,
                                     m.score, cast(m.evidence, Text), cast(m.candidate_registry_ids, Text))
                              .order_by(m.dose_record_id)).tuples().all()
        records = s.execute(select(DoseRecord.id, DoseRecord.status, DoseRecord.status_reason, DoseRecord.person_id)
                            .order_by(DoseRecord.id)).tuples().all()
        persons = s.execute(select(Person.__table__).order_by(Person.id)).tuples().all()
    return decisions, records, persons


@pytest.fixture
def registry(tmp_path: Path) -> SqlRegistry:
    return SqlRegistry(make_registry(tmp_path / "registry.sqlite"))


def test_evidence_is_stored_as_the_json_type_would_write_it(tmp_path: Path, registry: SqlRegistry) -> None:
    decisions, _, _ = _matched(make_store(tmp_path, [site()]), registry)
    citizens = [r for r in RECORDS if r.get("nationality", "VN") == "VN"]
    decided = iter(match_identities([RecordIdentity(r["full_name"], r["dob"], r["sex"], r["national_id"])
                                     for r in citizens], registry))
    for row, rec in zip(decisions, RECORDS, strict=True):
        if rec.get("nationality", "VN") != "VN":
            assert row[3:] == ("FOREIGN", "passport", "foreign_national", 1.0, "{}", "[]")
            continue
        d = next(decided)
        evidence = d.evidence
        if d.outcome != "MATCHED" and rec["national_id"]:
            evidence = {**evidence, "link_key": link_key(KEY, rec["national_id"])}
        assert row[3:] == (d.outcome, d.method, d.reason, d.score, json.dumps(evidence),
                           json.dumps(d.candidate_registry_ids))
    assert any("link_key" in row[7] for row in decisions)  # the NO_MATCH with a CCCD


def test_postgres_stores_what_sqlite_stores(tmp_path: Path, registry: SqlRegistry,
                                            pg_databases: Callable[[], str]) -> None:
    on_sqlite = _matched(make_store(tmp_path, [site()]), registry)
    on_postgres = _matched(make_store(tmp_path, [site()], url=pg_databases()), registry)
    decisions, records, persons = on_postgres
    assert [r[1] for r in records] == ["matched", "matched", "matched", "flagged", "flagged", "matched", "matched"]
    # PostgreSQL's json type keeps the text as given, so both stores hold the same bytes
    assert on_postgres == on_sqlite
    assert len(persons) == 4 and decisions[0][2] == decisions[1][2]


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_person_inserted_meanwhile_is_skipped(tmp_path: Path, backend: str, batched: bool,
                                                pg_databases: Callable[[], str]) -> None:
    url = make_store(tmp_path, [site()], url=pg_databases() if backend == "postgresql" else None)
    row = ("p1", "citizen", 7, "Nguyễn Văn An", "1990-05-12", "M", "001090000001", "VN", None)
    columns = ("id", "kind", "registry_id", "full_name", "dob", "sex", "national_id", "nationality", "passport_no")
    with session_scope(url) as s:
        insert_rows(s.connection(), Person.__table__, columns, [row])  # type: ignore[arg-type]
    with session_scope(url) as s:  # the same person again (another task won the race): no error, no change
        insert_rows(s.connection(), Person.__table__, columns,  # type: ignore[arg-type]
                    [(*row[:3], "Other Name", *row[4:]), ("p2", *row[1:2], 8, *row[3:])], skip_existing=True,
                    batched=batched)
    with session_scope(url) as s:
        assert s.execute(select(Person.id, Person.full_name).order_by(Person.id)).tuples().all() == [
            ("p1", "Nguyễn Văn An"), ("p2", "Nguyễn Văn An")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_record_updates_span_statements(tmp_path: Path, backend: str, pg_databases: Callable[[], str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's updates go a batch of rows per statement: every row of every batch gets its own values (NULLs too),
    and a person id that is not there fails the whole write (on SQLite its error without the values)."""
    monkeypatch.setattr(bulk, "_ROWS_PER_STATEMENT", 2)
    url = make_store(tmp_path, [site()], url=pg_databases() if backend == "postgresql" else None)
    person = ("p1", "citizen", 7, "Nguyễn Văn An", "1990-05-12", "M", "001090000001", "VN", None)
    columns = ("id", "kind", "registry_id", "full_name", "dob", "sex", "national_id", "nationality", "passport_no")
    with session_scope(url) as s:
        for n in range(1, 6):
            _record(s, n)
        insert_rows(s.connection(), Person.__table__, columns, [person])  # type: ignore[arg-type]
    table = DoseRecord.__table__
    with session_scope(url) as s:
        update_rows(s.connection(), table, ("status", "status_reason", "person_id"),  # type: ignore[arg-type]
                    [("matched", None, "p1", 4), ("matched", None, "p1", 1), ("flagged", "no_match", None, 5),
                     ("flagged", "weak_evidence", None, 2)])
    with session_scope(url) as s:
        assert s.execute(select(DoseRecord.id, DoseRecord.status, DoseRecord.status_reason, DoseRecord.person_id)
                         .order_by(DoseRecord.id)).tuples().all() == [
            (1, "matched", None, "p1"), (2, "flagged", "weak_evidence", None), (3, "valid", None, None),
            (4, "matched", None, "p1"), (5, "flagged", "no_match", None)]
    with pytest.raises(IntegrityError) as failed, session_scope(url) as s:
        update_rows(s.connection(), table, ("person_id",),  # type: ignore[arg-type]
                    [("p1", 3), ("nobody-such", 1)])
    if backend == "sqlite":  # (PostgreSQL's own message names the missing key)
        assert "nobody-such" not in str(failed.value)
    with session_scope(url) as s:
        assert s.scalar(select(DoseRecord.person_id).where(DoseRecord.id == 3)) is None
