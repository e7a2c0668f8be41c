"""Which persons an issuance run works on: only those who may need a new certificate version, read from the store
(not from what earlier runs did), so a person whose issue task never ran is still issued by the next one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from tests.factories import dose_row
from tests.issuance.test_issue import ROWS, _confirm, _cycle, _issue, signer  # noqa: F401
from vaxpass.issuance.issue import _persons_due
from vaxpass.signing.keystore import Signer
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, DoseRecord, LineageChain
from vaxpass.store.partition import Partition

BOOSTER = dose_row("4", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", vaccine="Pfizer", dose="3",
                   date="01/02/2022")
NEWCOMER = dose_row("5", "Lê Hoàng Hòa", "30/11/1985", "Nam", "001085000003")


def _due(url: str, partition: Partition | None = None) -> tuple[list[str], int]:
    with session_scope(url) as session:
        return _persons_due(session.connection(), partition)


def _person_of(url: str, source_key: str) -> str:
    with session_scope(url) as session:
        person = session.scalar(select(DoseRecord.person_id).where(DoseRecord.source_key == source_key,
                                                                   DoseRecord.status == "matched"))
    assert person is not None
    return person


def test_persons_confirmed_in_a_cycle_whose_issue_never_ran_are_issued_next_cycle(tmp_path: Path,
                                                                                   signer: Signer) -> None:  # noqa: F811
    url = _cycle(tmp_path, ROWS)
    _confirm(url)  # cycle 1 confirms, but its issue task never runs
    url = _cycle(tmp_path, [*ROWS, NEWCOMER], cycle_id="cycle-2", file="d2.csv")
    summary = _issue(url, signer, cycle_id="cycle-2")
    assert (summary.issued, summary.reissued, summary.unchanged) == (3, 0, 0)
    with session_scope(url) as session:
        assert sorted(session.scalars(select(Certificate.version))) == [1, 1, 1]
    again = _issue(url, signer, cycle_id="cycle-2")
    assert (again.issued, again.reissued, again.unchanged) == (0, 0, 3)


def test_only_persons_whose_certificate_may_change_are_due(tmp_path: Path, signer: Signer) -> None:  # noqa: F811
    url = _cycle(tmp_path, ROWS)
    an, dao = _person_of(url, "1"), _person_of(url, "3")
    assert _due(url) == ([an, dao], 0)  # no certificate yet; in the order of their first dose record (1, then 3)
    _issue(url, signer)
    assert _due(url) == ([], 2)
    # a booster matched but not yet confirmed: An is due (and waits); Đào is not read at all
    url = _cycle(tmp_path, [*ROWS, BOOSTER], cycle_id="cycle-2", file="d2.csv")
    assert _due(url) == ([an], 1)
    waiting = _issue(url, signer, cycle_id="cycle-2", confirm=False)
    assert (waiting.issued, waiting.reissued, waiting.unchanged, waiting.skipped) == (0, 0, 1, {"unconfirmed": 1})
    assert _due(url) == ([an], 1)  # still due until issued
    assert _issue(url, signer, cycle_id="cycle-2").reissued == 1
    assert _due(url) == ([], 2)
    # a corrected first dose of An's ranks below the certified booster: nobody is due, nothing changes
    fixed_first = dose_row("1", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", dose="1", date="02/08/2021")
    url = _cycle(tmp_path, [fixed_first, *ROWS[1:], BOOSTER], cycle_id="cycle-3", file="d3.csv")
    assert _due(url) == ([], 2)
    quiet = _issue(url, signer, cycle_id="cycle-3")
    assert (quiet.issued, quiet.reissued, quiet.unchanged) == (0, 0, 2)
    # a corrected certified dose (Đào's only one) makes her due: re-issued, the old version revoked
    fixed = dose_row("3", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002", vaccine="Vero Cell", date="16/08/2021")
    url = _cycle(tmp_path, [fixed_first, ROWS[1], fixed, BOOSTER], cycle_id="cycle-4", file="d4.csv")
    assert _due(url) == ([dao], 1)
    corrected = _issue(url, signer, cycle_id="cycle-4")
    assert (corrected.reissued, corrected.revoked, corrected.unchanged) == (1, 1, 1)
    assert _due(url) == ([], 2)


def test_buckets_split_the_due_persons(tmp_path: Path) -> None:
    url = _cycle(tmp_path, [*ROWS, NEWCOMER])
    whole, _ = _due(url)
    parts = [_due(url, Partition(i, 2))[0] for i in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(whole) and not set(parts[0]) & set(parts[1])
    # each in the store's order of the persons' first dose records (a chunk's rows lie together)
    with session_scope(url) as session:
        first = dict(session.execute(select(DoseRecord.person_id, func.min(DoseRecord.id)).where(
            DoseRecord.person_id.is_not(None)).group_by(DoseRecord.person_id)).tuples().all())
    for listed in (whole, *parts):
        assert listed == sorted(listed, key=first.__getitem__)
    assert len(whole) == 3 and whole != sorted(whole, key=str)


def _chains(url: str) -> set[tuple[object, ...]]:
    """Every certificate's facts and every link with its decoded detail, keyed by person (not by row ids, nor the
    signed confirmation PDF's hash: PAdES signatures differ from run to run)."""
    with session_scope(url) as session:
        certs = {c.id: c for c in session.scalars(select(Certificate))}
        chains = session.execute(select(LineageChain.certificate_id, LineageChain.links)).tuples().all()
        facts: set[tuple[object, ...]] = {(c.person_id, c.version, c.uvci, c.content_key, c.status)
                                          for c in certs.values()}
        for cert_id, links in chains:
            for link in links:
                detail = {k: v for k, v in link["detail"].items() if k != "document_sha256"}
                facts.add((certs[cert_id].person_id, link["kind"], json.dumps(detail, sort_keys=True)))
    return facts


def test_postgresql_issues_and_selects_what_sqlite_does(tmp_path: Path, signer: Signer,  # noqa: F811
                                                        pg_databases: Callable[[], str]) -> None:
    """The due-person query and the lineage details (JSON read and written as text) on PostgreSQL."""
    stores = {"sqlite": None, "postgresql": pg_databases()}
    chains = {}
    for name, at in stores.items():
        url = _cycle(tmp_path / name, ROWS, url=at)
        first = _issue(url, signer)
        url = _cycle(tmp_path / name, [*ROWS, BOOSTER, NEWCOMER], cycle_id="cycle-2", file="d2.csv", url=at)
        assert _due(url)[1] == 1
        second = _issue(url, signer, cycle_id="cycle-2")
        assert ((first.issued, first.reissued), (second.issued, second.reissued, second.unchanged)) == (
            (2, 0), (1, 1, 1))
        chains[name] = _chains(url)
    assert chains["sqlite"] == chains["postgresql"]
