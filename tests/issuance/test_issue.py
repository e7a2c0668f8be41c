"""Issuance keyed on (person, version): verifiable certificates, idempotent reruns, re-issue on a new dose,
and a complete lineage chain for each (the check fails when a link is removed)."""

from __future__ import annotations

import functools
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

import vaxpass.issuance.issue as issue_module
from tests.conftest import with_driver
from tests.factories import dose_row, make_registry, make_store, site, write_csv
from vaxpass.confirmation.confirm import confirm_site
from vaxpass.errors import LineageError
from vaxpass.extract import extract_site
from vaxpass.issuance import PreIssuanceError, issue_certificates
from vaxpass.lineage import check_lineage, missing_links
from vaxpass.registry import SqlRegistry, match_valid_records
from vaxpass.signing.hcert import encode_hc1, verify_hc1
from vaxpass.signing.keystore import Signer, load_signer
from vaxpass.signing.pki import create_root_ca, issue_document_signer, issue_facility_head, load_root
from vaxpass.signing.trustlist import TrustList
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, DoseRecord, LineageChain, QualityRun

NOW = datetime(2026, 11, 27, 2, tzinfo=UTC)
KEY = b"pseudonym-key-for-tests-only-123"


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    ca = tmp_path_factory.mktemp("ca")
    create_root_ca(ca, b"pw", now=NOW - timedelta(days=1))
    return load_signer(issue_document_signer(ca, b"pw", ca / "dsc.p12", now=NOW - timedelta(days=1)), b"pw")


def _cycle(tmp_path: Path, rows: list[dict[str, str]], cycle_id: str = "cycle-1", file: str = "d1.csv",
           url: str | None = None) -> str:
    """One cycle up to matching, in a SQLite store in `tmp_path` (or the database at `url`)."""
    s = site()
    url = make_store(tmp_path, [s], cycle_id=cycle_id, url=url)
    write_csv(tmp_path / "data" / s.source.path / file, rows)
    extract_site(url, cycle_id=cycle_id, site=s, data_dir=tmp_path / "data", landing_dir=tmp_path / "landing")
    with session_scope(url) as session:  # stands in for the GE stage, tested on its own
        qrun = QualityRun(cycle_id=cycle_id, site_code=s.code, suite_name="dose_records", suite_version="t",
                          evaluated=len(rows), blocked=0, ge_success=True, rule_stats={})
        session.add(qrun)
        session.flush()
        session.execute(update(DoseRecord).where(DoseRecord.status == "new").values(status="valid",
                                                                                     quality_run_id=qrun.id))
    registry = tmp_path / "registry.sqlite"
    reg_url = make_registry(registry) if not registry.exists() else f"sqlite:///{registry}"
    match_valid_records(url, SqlRegistry(reg_url), cycle_id=cycle_id, key=KEY)
    return url


def head_of_facility(site_code: str = "HN-001-01") -> tuple[Signer, Signer]:
    """(the site head's signer, the root) from a CA of their own, made once per site and test session."""
    return _head_of_facility(site_code)


@functools.cache
def _head_of_facility(site_code: str) -> tuple[Signer, Signer]:
    ca = Path(tempfile.mkdtemp(prefix="vaxpass-head-"))
    create_root_ca(ca, b"pw", now=NOW - timedelta(days=2))
    path = issue_facility_head(ca, b"pw", ca / "head.p12", now=NOW - timedelta(days=2), person_name="Ngô Minh Tâm",
                               site_code=site_code, site_name=f"Trạm Y tế {site_code}", district_name="Ba Đình")
    return load_signer(path, b"pw"), load_root(ca, b"pw")


def _confirm(url: str, cycle_id: str = "cycle-1", site_code: str = "HN-001-01"):  # type: ignore[no-untyped-def]
    return confirm_site(url, head_of_facility(site_code)[0], cycle_id=cycle_id, site_code=site_code,
                        signed_at=NOW, store_ref="head.p12")


def _issue(url: str, signer: Signer, cycle_id: str = "cycle-1", *, confirm: bool = True,
           **kwargs: Any):  # type: ignore[no-untyped-def]
    if confirm:
        _confirm(url, cycle_id)
    return issue_certificates(url, signer, cycle_id=cycle_id, issued_at=NOW, uvci_key=KEY, dag_id="d",
                              task_id="t", store_ref="dsc.p12", **kwargs)


ROWS = [dose_row("1", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", dose="1", date="01/08/2021"),
        dose_row("2", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", dose="2", date="01/09/2021"),
        dose_row("3", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002", vaccine="Vero Cell")]


def test_issues_one_verifiable_certificate_per_person(tmp_path: Path, signer: Signer) -> None:
    url = _cycle(tmp_path, ROWS)
    summary = _issue(url, signer)
    assert (summary.issued, summary.reissued) == (2, 0)
    trust = TrustList.from_certificates([signer.certificate])
    with session_scope(url) as session:
        certs = session.scalars(select(Certificate)).all()
    payloads = {c.uvci: verify_hc1(c.hc1, trust, now=NOW).payload for c in certs}
    an = next(p for p in payloads.values() if p["nam"]["fnt"] == "NGUYEN")
    assert (an["v"][0]["dn"], an["v"][0]["sd"], an["v"][0]["dt"]) == (2, 2, "2021-09-01")  # the latest dose
    assert an["nam"]["gnt"] == "VAN<AN"
    for cert in certs:
        assert cert.expires_at - cert.issued_at == timedelta(days=365)


def test_rerun_issues_nothing_and_new_dose_reissues(tmp_path: Path, signer: Signer) -> None:
    url = _cycle(tmp_path, ROWS)
    _issue(url, signer)
    again = _issue(url, signer)
    assert (again.issued, again.reissued, again.unchanged) == (0, 0, 2)
    booster = dose_row("4", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", vaccine="Pfizer", dose="3",
                       date="01/02/2022")
    url = _cycle(tmp_path, [*ROWS, booster], cycle_id="cycle-2", file="d2.csv")
    third = _issue(url, signer, cycle_id="cycle-2")
    assert (third.issued, third.reissued, third.unchanged) == (0, 1, 1)
    with session_scope(url) as session:
        rows = session.execute(select(Certificate.person_id, Certificate.version, Certificate.status,
                                      Certificate.uvci).order_by(Certificate.id)).all()
    versions = [(v, st) for pid, v, st, _ in rows if pid == rows[2].person_id]
    assert versions == [(1, "superseded"), (2, "current")]
    assert len({r.uvci for r in rows}) == len(rows)  # UVCIs never reused


def test_lineage_complete_and_check_fails_when_a_link_is_removed(tmp_path: Path, signer: Signer) -> None:
    url = _cycle(tmp_path, ROWS)
    _issue(url, signer)
    assert check_lineage(url, cycle_id="cycle-1") == 2
    with session_scope(url) as session:
        chains = session.scalars(select(LineageChain).order_by(LineageChain.certificate_id)).all()
        kinds = {link["kind"] for chain in chains for link in chain.links}
        victim = chains[0]
        uvci = session.get(Certificate, victim.certificate_id).uvci  # type: ignore[union-attr]
        victim.links = [link for link in victim.links if link["kind"] != "validation"]
    assert kinds == {"source_row", "extraction", "validation", "match", "confirmation", "signature", "dag_run"}
    assert missing_links(url) == {uvci: ["validation"]}
    with pytest.raises(LineageError) as err:
        check_lineage(url, cycle_id="cycle-1")
    assert uvci in str(err.value) and "Nguyễn" not in str(err.value)


MORE = [*ROWS, dose_row("5", "Lê Hoàng Hòa", "30/11/1985", "Nam", "001085000003"),
        dose_row("6", "Phạm Thu Thủy", "14/02/2001", "Nữ", "079301000004")]


def _issued(url: str) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """Certificates and their lineage links as comparable facts (keyed by person, not by row id)."""
    with session_scope(url) as session:
        certs = session.execute(select(Certificate.id, Certificate.person_id, Certificate.version, Certificate.uvci,
                                       Certificate.content_key, Certificate.status)).all()
        chains = session.execute(select(LineageChain.certificate_id, LineageChain.links)).tuples().all()
    person_of = {c.id: c.person_id for c in certs}
    return ({(c.person_id, c.version, c.uvci, c.content_key, c.status) for c in certs},
            {(person_of[cert_id], link["kind"], link["ref"]) for cert_id, links in chains for link in links})


def test_chunks_give_what_one_chunk_gives_and_a_failed_chunk_resumes(tmp_path: Path, signer: Signer) -> None:
    """Issuance commits one chunk of persons at a time: with one person per chunk it issues exactly the
    certificates (same UVCIs) and lineage of a single chunk; a chunk that fails its pre-issuance check is not
    stored and fails the task, the chunks before it stay, and the rerun issues only the rest (no second
    certificate for anyone)."""
    whole = _cycle(tmp_path / "whole", MORE)
    assert _issue(whole, signer).issued >= 3
    chunked = _cycle(tmp_path / "chunked", MORE)
    wrong_key = Signer(key=ec.generate_private_key(ec.SECP256R1()), certificate=signer.certificate,
                       chain=signer.chain)
    signed: list[str] = []

    def third_with_a_wrong_key(payload: dict[str, Any], key: Signer, **kwargs: Any) -> str:
        signed.append(payload["v"][0]["ci"])
        return encode_hc1(payload, wrong_key if len(signed) == 3 else key, **kwargs)

    with pytest.raises(PreIssuanceError) as err:
        _issue(chunked, signer, encode=third_with_a_wrong_key, chunk_size=1)
    assert list(err.value.failures) == [signed[2]]
    certs, _ = _issued(chunked)
    assert {c[2] for c in certs} == set(signed[:2])  # the two chunks before the failure, not the failed one
    rerun = _issue(chunked, signer, chunk_size=1)
    assert (rerun.unchanged, rerun.issued) == (2, len(_issued(whole)[0]) - 2)
    assert _issued(chunked) == _issued(whole)
    again = _issue(chunked, signer, chunk_size=2)
    assert (again.issued, again.reissued, again.unchanged) == (0, 0, len(_issued(whole)[0]))


def _signature_uvcis(url: str) -> dict[str, str]:
    """Each certificate's UVCI, and the UVCI its chain's signature link names (the two must agree)."""
    with session_scope(url) as session:
        return {uvci: link["detail"]["uvci"] for uvci, links in session.execute(
            select(Certificate.uvci, LineageChain.links).join(LineageChain,
                                                              LineageChain.certificate_id == Certificate.id))
            for link in links if link["kind"] == "signature"}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql+psycopg", "postgresql+psycopg2"])
def test_links_go_to_the_certificates_just_inserted(tmp_path: Path, signer: Signer, backend: str,
                                                    request: pytest.FixtureRequest) -> None:
    """The new certificates' ids are not read back by UVCI: on PostgreSQL through psycopg 3 they are taken from
    the sequence before the rows are copied, through psycopg2 they come with the insert, on SQLite from the ids
    the rows took (the largest id before, plus one for each)."""
    pg = with_driver(request.getfixturevalue("pg_databases")(), backend) if backend.startswith("postgresql") else None
    url = _cycle(tmp_path, MORE, url=pg)
    assert _issue(url, signer).issued == 4
    uvcis = _signature_uvcis(url)
    assert len(uvcis) == 4 and all(link == uvci for uvci, link in uvcis.items())


def test_a_row_inserted_beside_the_certificates_does_not_shift_their_ids(tmp_path: Path, signer: Signer,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """When the ids did not grow by exactly the rows inserted (here a row written just before them, as another
    connection's could be), they are read back by UVCI: links never go to another person's certificate."""
    url = _cycle(tmp_path, MORE)
    real = issue_module.executemany_on_driver

    def one_more_first(conn: Any, sql: str, rows: Any) -> None:
        if sql.startswith("INSERT INTO certificates"):
            other = list(rows[0])
            other[1], other[2] = other[1] + 100, f"{other[2]}-other"  # version, uvci: a row of its own
            real(conn, sql, [other])
        real(conn, sql, rows)

    monkeypatch.setattr(issue_module, "executemany_on_driver", one_more_first)
    assert _issue(url, signer).issued == 4
    uvcis = _signature_uvcis(url)
    assert len(uvcis) == 4 and all(link == uvci for uvci, link in uvcis.items())
