"""Matching in the store: outcomes, persons, FOREIGN bypass, flagged reasons, idempotence, config."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import make_registry, make_store, site
from vaxpass.errors import ConfigError
from vaxpass.registry import MatchConfig, SqlRegistry, match_valid_records
from vaxpass.registry.compare import fold_name, name_keys
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, LandedFile, MatchDecision, Person, RawRecord

KEY = b"k" * 32


@pytest.mark.parametrize(("a", "b"), [
    ("Nguyễn Văn An", "NGUYEN VAN AN"),
    ("Nguye\u0302\u0303n Va\u0306n An", "Nguyễn Văn An"),
    ("Lê Hoàng Hoà", "Lê Hoàng Hòa"),
    ("Nguyễn Thị Thuỷ", "Nguyễn Thị Thủy"),
    ("Đặng Thị Đào", "dang thi dao"),
])
def test_fold_name_equates_spellings_of_one_name(a: str, b: str) -> None:
    assert fold_name(a) == fold_name(b)


def test_fold_name_keeps_different_names_apart() -> None:
    assert fold_name("Nguyễn Văn An") != fold_name("Nguyễn Văn Anh")


def test_name_keys_for_word_order_and_surname_classes() -> None:
    assert name_keys("Huỳnh Minh Đức").canon == name_keys("Hoàng Minh Đức").canon
    assert name_keys("Minh Đức Hoàng").tokens == name_keys("Hoàng Minh Đức").tokens
    assert name_keys("Văn An Nguyễn").given_alt == "an"  # Western order: the given name is second to last
    assert name_keys("Nguyễn Văn An").given_alt == ""


def _record(session, n: int, **fields) -> None:  # type: ignore[no-untyped-def]
    if session.get(LandedFile, 1) is None:
        from vaxpass.store.models import ExtractionRun

        session.add(ExtractionRun(id=1, cycle_id="cycle-1", site_code="HN-001-01", status="ok"))
        session.flush()
        session.add(LandedFile(id=1, site_code="HN-001-01", source_name="f.csv", sha256="0" * 64, size=1,
                               landed_path="x", extraction_run_id=1, status="landed"))
        session.flush()
    session.add(RawRecord(id=n, landed_file_id=1, site_code="HN-001-01", source_row=n + 1, source_key=str(n),
                          content_hash=str(n), raw={}))
    session.flush()
    base = {"full_name": None, "dob": None, "sex": None, "national_id": None, "nationality": "VN"}
    session.add(DoseRecord(id=n, raw_record_id=n, cycle_id="cycle-1", site_code="HN-001-01", source_key=str(n),
                           version=1, status="valid", **(base | fields)))
    session.flush()


def test_outcomes(tmp_path: Path) -> None:
    url = make_store(tmp_path, [site()])
    registry = SqlRegistry(make_registry(tmp_path / "registry.sqlite"))
    with session_scope(url) as s:
        _record(s, 1, full_name="Nguyễn Văn An", dob=date(1990, 5, 12), sex="M", national_id="001090000001")
        _record(s, 2, full_name="NGUYEN VAN AN", dob=date(1990, 5, 12), sex="M", national_id="001090000001")
        _record(s, 3, full_name="Trần Thị Đào", dob=date(1990, 3, 7), sex="F", national_id="012345678")
        _record(s, 4, full_name="Tran Thi Dao", dob=date(1990, 7, 3), sex="F", national_id=None)
        _record(s, 5, full_name="Lê Văn Tám", dob=date(1980, 1, 1), sex="M", national_id="001080999999")
        _record(s, 6, full_name="John Smith", dob=date(1980, 1, 1), sex="M", nationality="US", passport_no="x1234")
        _record(s, 7, full_name="Phạm Thu Thủy", dob=date(2001, 2, 14), sex="F", national_id=None)
    summary = match_valid_records(url, registry, cycle_id="cycle-1", key=KEY)
    assert summary.outcomes == {"MATCHED": 4, "REVIEW": 1, "NO_MATCH": 1, "FOREIGN": 1}
    with session_scope(url) as s:
        decisions = {d.dose_record_id: d for d in s.scalars(select(MatchDecision))}
        records = {r.id: r for r in s.scalars(select(DoseRecord))}
        persons = {p.id: p for p in s.scalars(select(Person))}
    assert decisions[1].reason == "identity_confirmed" and decisions[1].method == "cccd"
    assert decisions[2].evidence["candidates"][0]["fields"]["name"]["level"] == "folded"
    assert decisions[3].method == "cmnd" and decisions[3].outcome == "MATCHED"
    assert records[1].person_id == records[2].person_id  # one person, two records
    assert persons[records[3].person_id].full_name == "Trần Thị Đào"  # the registry's spelling
    assert decisions[4].outcome == "REVIEW" and decisions[4].candidate_registry_ids[0] == 2
    assert decisions[4].evidence["candidates"][0]["fields"]["dob"]["level"] == "day_month_swapped"
    assert decisions[5].outcome == "NO_MATCH" and decisions[5].reason == "no_match"
    assert decisions[5].candidate_registry_ids == []
    assert decisions[7].outcome == "MATCHED" and decisions[7].method == "probabilistic"
    assert decisions[6].outcome == "FOREIGN" and persons[records[6].person_id].passport_no == "X1234"
    assert [records[i].status for i in (4, 5)] == ["flagged"] * 2
    assert records[5].status_reason == "no_match"
    # pseudonymous ids: no national id inside
    assert all("001090000001" not in pid for pid in persons)
    # a second run finds nothing left to match
    assert match_valid_records(url, registry, cycle_id="cycle-1", key=KEY).outcomes == {}


def test_config_thresholds_reach_the_store(tmp_path: Path) -> None:
    url = make_store(tmp_path, [site()])
    registry = SqlRegistry(make_registry(tmp_path / "registry.sqlite"))
    with session_scope(url) as s:
        _record(s, 1, full_name="Phạm Thu Thủy", dob=date(2001, 2, 14), sex="F", national_id=None)
    strict = MatchConfig(upper=40.0, lower=-10.0)
    assert match_valid_records(url, registry, cycle_id="cycle-1", key=KEY, config=strict).outcomes == {"REVIEW": 1}


@pytest.mark.parametrize("bad", [{"upper": 1.0, "lower": 2.0}, {"margin": -1.0}, {"max_candidates": 0}])
def test_config_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        MatchConfig(**bad)  # type: ignore[arg-type]


def test_config_rejects_unknown_keys_and_incomplete_weights() -> None:
    with pytest.raises(ConfigError):
        MatchConfig.from_mapping({"uper": 3.0})
    with pytest.raises(ConfigError):
        MatchConfig(weights={"id": {"cccd_exact": 1.0}})  # type: ignore[arg-type]
