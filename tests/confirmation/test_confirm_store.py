"""The confirm stage on both ops stores: the list's leaves are the records as the ORM reads them, every stored
proof (written as JSON text) verifies against the signed root, a one-record list stores an empty proof, and a
rerun confirms nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.factories import dose_row, make_store, site, write_csv
from tests.issuance.test_issue import NOW, head_of_facility
from vaxpass.confirmation.confirm import check_inclusion, confirm_site, confirmed_dose
from vaxpass.extract import extract_site
from vaxpass.signing.merkle import MerkleTree
from vaxpass.store import session_scope
from vaxpass.store.models import ConfirmationItem, DoseRecord, RawRecord

ROWS = [
    dose_row("1", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001"),
    dose_row("2", "Trần Thị Đào", "07/03/1990", "Nữ", "", nationality="FR", passport="B1234567",
             vaccine="Comirnaty", dose="2", date="01/09/2021"),
    dose_row("3", "Lê \"Hoàng\" Hòa\\", "30/11/1985", "Nam", "001085000003", lot=""),  # JSON escapes in a leaf
    dose_row("4", "Phạm Thu Thủy", "14/02/2001", "Nữ", "079301000004"),
    dose_row("5", "Đặng Minh Khôi", "01/01/1970", "Nam", "001070000005"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = make_store(tmp_path, [site()]) if request.param == "sqlite" else make_store(
        tmp_path, [site()], url=request.getfixturevalue("pg_databases")())
    write_csv(tmp_path / "data" / site().source.path / "d1.csv", ROWS)
    extract_site(url, cycle_id="cycle-1", site=site(), data_dir=tmp_path / "data", landing_dir=tmp_path / "landing")
    return url


def _set_status(url: str, status: str, source_keys: list[str]) -> None:
    with session_scope(url) as session:
        session.execute(update(DoseRecord).where(DoseRecord.source_key.in_(source_keys)).values(status=status))


def _confirm(url: str):  # type: ignore[no-untyped-def]
    return confirm_site(url, head_of_facility()[0], cycle_id="cycle-1", site_code=site().code, signed_at=NOW,
                        store_ref="head.p12")


def test_leaves_proofs_and_reruns(store_url: str) -> None:
    _set_status(store_url, "matched", ["1", "2", "3", "4"])  # record 5 is not matched: never in a list
    first = _confirm(store_url)
    assert (first.records, first.sequence) == (4, 1)
    with session_scope(store_url) as session:
        records = session.scalars(select(DoseRecord).where(DoseRecord.status == "matched")
                                  .order_by(DoseRecord.id)).all()
        leaves = [confirmed_dose(r, session.get_one(RawRecord, r.raw_record_id).content_hash).leaf()
                  for r in records]
        items = session.scalars(select(ConfirmationItem).order_by(ConfirmationItem.leaf_index)).all()
        stored = [(i.dose_record_id, i.leaf_index, i.leaf_hash, i.proof) for i in items]
        ids = [r.id for r in records]
    tree = MerkleTree.build(leaves)  # the leaves as the ORM reads the records, in id order
    assert first.merkle_root == tree.root.hex()
    assert stored == [(rid, i, tree.levels[0][i].hex(), [h.hex() for h in tree.proof(i)])
                      for i, rid in enumerate(ids)]
    assert (_confirm(store_url).records, _confirm(store_url).confirmation_id) == (0, None)

    _set_status(store_url, "matched", ["5"])  # a late record: a one-leaf list, its proof empty
    second = _confirm(store_url)
    assert (second.records, second.sequence) == (1, 2)
    assert _confirm(store_url).records == 0
    with session_scope(store_url) as session:
        late = session.scalars(select(ConfirmationItem).filter_by(confirmation_id=second.confirmation_id)).one()
        assert (late.leaf_index, late.proof) == (0, [])
        everything = session.scalars(select(ConfirmationItem.dose_record_id)).all()
    assert sorted(everything) == sorted([*ids, late.dose_record_id])
    root = head_of_facility()[1].certificate
    assert all(check_inclusion(store_url, rid, [root]).ok for rid in everything)


def test_nothing_matched_signs_nothing(store_url: str) -> None:
    _set_status(store_url, "in_review", ["1", "2", "3", "4", "5"])
    assert _confirm(store_url).records == 0
