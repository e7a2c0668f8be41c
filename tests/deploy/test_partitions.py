"""Matching and issuance split into buckets give exactly what one task gives, even with the buckets running at
the same time on PostgreSQL (as the Celery workers run them)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from vaxpass.config import Settings
from vaxpass.pipeline import stages
from vaxpass.signing.admin import init_pki
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, DoseRecord, MatchDecision
from vaxpass.store.partition import Partition
from vaxpass.synth import generate

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("count", [1, 2, 4, 8, 16])
def test_buckets_are_disjoint_and_cover_everything(count: int) -> None:
    buckets = [Partition(i, count) for i in range(count)]
    digits = [d for b in buckets for d in b.person_digits]
    assert sorted(digits) == sorted("0123456789abcdef")
    pid = "p" + secrets.token_hex(12)
    assert sum(b.holds_person(pid) for b in buckets) == 1


@pytest.mark.parametrize(("index", "count"), [(0, 3), (4, 4), (-1, 2), (0, 0)])
def test_bad_buckets_are_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="partition"):
        Partition(index, count)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    generate(out, persons=600, seed=5, sites=4, progress=False)
    return out


def _settings(tmp: Path, data: Path, db_url: str, key: bytes, passphrase: bytes) -> Settings:
    s = Settings(db_url=db_url, data_dir=data, landing_dir=tmp / "landing", pki_dir=tmp / "pki",
                 key_passphrase=passphrase, pseudonym_key=key)
    init_pki(s, now=NOW)  # root, document signer and every site head's key, as `vaxpass init` makes them
    return s


def _cycle(s: Settings, buckets: int | None, parallel: bool) -> tuple[dict, dict]:
    cycle = "c1"
    sites = stages.start_cycle(s, cycle_id=cycle, dag_id="t", run_after=NOW)
    for code in sites:
        stages.extract(s, cycle_id=cycle, site_code=code)
        stages.validate(s, cycle_id=cycle, site_code=code, run_date=NOW.date())
    parts = [None] if buckets is None else [Partition(i, buckets) for i in range(buckets)]
    with ThreadPoolExecutor(max_workers=len(parts) if parallel else 1) as pool:
        list(pool.map(lambda p: stages.match(s, cycle_id=cycle, partition=p), parts))
        list(pool.map(lambda code: stages.confirm(s, cycle_id=cycle, site_code=code, signed_at=NOW), sites))
        list(pool.map(lambda p: stages.issue(s, cycle_id=cycle, dag_id="t", task_id="issue", issued_at=NOW,
                                             partition=p), parts))
    with session_scope(s.db_url) as session:
        decisions = dict(session.execute(
            select(DoseRecord.site_code + "/" + DoseRecord.source_key, MatchDecision.outcome)
            .join(MatchDecision, MatchDecision.dose_record_id == DoseRecord.id)).tuples().all())
        n_decisions = len(session.scalars(select(MatchDecision.id)).all())
        certificates = {c.person_id: (c.version, c.uvci, c.hc1 is not None)
                        for c in session.scalars(select(Certificate))}
        n_certificates = len(session.scalars(select(Certificate.id)).all())
    assert n_decisions == len(decisions), "a record was decided twice"
    assert n_certificates == len(certificates), "a person got two certificates"
    # a rerun of every bucket changes nothing
    for p in parts:
        assert stages.issue(s, cycle_id=cycle, dag_id="t", task_id="issue", issued_at=NOW,
                            partition=p)["issued"] == 0
    return decisions, certificates


@pytest.mark.postgres
def test_parallel_buckets_match_and_issue_exactly_like_one_task(
        tmp_path: Path, data: Path, pg_databases: Callable[[], str]) -> None:
    key, passphrase = secrets.token_bytes(32), secrets.token_urlsafe(12).encode()
    whole = _cycle(_settings(tmp_path / "a", data, f"sqlite:///{tmp_path / 'a.sqlite'}", key, passphrase),
                   None, parallel=False)
    split = _cycle(_settings(tmp_path / "b", data, pg_databases(), key, passphrase), 4, parallel=True)
    assert whole[0] and whole[1]
    assert split[0] == whole[0]
    assert {p: (v, u) for p, (v, u, _) in split[1].items()} == {p: (v, u) for p, (v, u, _) in whole[1].items()}
