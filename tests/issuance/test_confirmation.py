"""Facility confirmation before issuance: the signed list's root proves each record; a changed record fails;
a rerun signs nothing; an unconfirmed record is never issued; the pre-issuance check stops broken signatures."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pypdf import PdfReader
from sqlalchemy import func, select

from tests.factories import dose_row
from tests.issuance.test_issue import KEY, NOW, ROWS, _confirm, _cycle, _issue, head_of_facility, signer  # noqa: F401
from vaxpass.config import Settings
from vaxpass.confirmation.confirm import check_inclusion, confirm_site
from vaxpass.confirmation.document import root_of
from vaxpass.errors import ConfigError, SigningError
from vaxpass.issuance import PreIssuanceError
from vaxpass.pipeline import stages
from vaxpass.signing import hcert
from vaxpass.signing.admin import revocation_list, uvci_hash
from vaxpass.signing.keystore import Signer
from vaxpass.signing.merkle import verify_inclusion
from vaxpass.signing.pades import validate_pdf
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, ConfirmationItem, DoseRecord, FacilityConfirmation, LineageChain


def test_each_record_proves_against_the_root_in_the_signed_pdf(tmp_path: Path) -> None:
    url = _cycle(tmp_path, ROWS)
    summary = _confirm(url)
    assert summary.records == 3 and summary.sequence == 1
    head, root_ca = head_of_facility()
    with session_scope(url) as session:
        conf = session.scalars(select(FacilityConfirmation)).one()
        pdf, stored_root = conf.document, conf.merkle_root
        items = session.scalars(select(ConfirmationItem).order_by(ConfirmationItem.leaf_index)).all()
        record_ids = [i.dose_record_id for i in items]
    assert pdf is not None
    [status] = validate_pdf(pdf, [root_ca.certificate])
    assert status.ok and "HN-001-01" in status.signer_subject  # signed by the site's head
    root, size = root_of(pdf)
    assert root.hex() == stored_root and size == 3
    (tmp_path / "list.pdf").write_bytes(pdf)
    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "list.pdf").pages).replace("\n", "")
    assert root.hex() in text and "Trần Thị Đào" in text  # the printed root is the signed one
    for rid in record_ids:
        assert check_inclusion(url, rid, [root_ca.certificate]).ok
    # a record changed after signing no longer matches its leaf
    with session_scope(url) as session:
        rec = session.get(DoseRecord, record_ids[1])
        assert rec is not None
        rec.lot = "OTHER-LOT"
    changed = check_inclusion(url, record_ids[1], [root_ca.certificate])
    assert changed.signature_ok and not changed.included
    assert check_inclusion(url, record_ids[0], [root_ca.certificate]).ok
    # and a proof taken to another index does not verify either
    with session_scope(url) as session:
        item = session.scalars(select(ConfirmationItem).filter_by(dose_record_id=record_ids[0])).one()
        assert not verify_inclusion(b"x", item.leaf_index, size, [bytes.fromhex(h) for h in item.proof], root)


def test_rerun_signs_no_second_list_and_reviewed_records_get_the_next_one(tmp_path: Path) -> None:
    url = _cycle(tmp_path, ROWS)
    with session_scope(url) as session:  # one record waits at its district gate
        in_review = session.scalars(select(DoseRecord).order_by(DoseRecord.id.desc())).first()
        assert in_review is not None
        in_review.status, review_id = "in_review", in_review.id
    assert _confirm(url).records == 2
    again = _confirm(url)
    assert (again.records, again.confirmation_id) == (0, None)
    with session_scope(url) as session:  # the reviewer approves it: confirm_reviewed signs a second list
        session.get(DoseRecord, review_id).status = "matched"  # type: ignore[union-attr]
    second = _confirm(url)
    assert (second.records, second.sequence) == (1, 2)
    assert _confirm(url).records == 0
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(ConfirmationItem)) == 3
        assert session.scalar(select(func.count()).select_from(FacilityConfirmation)) == 2


def test_unconfirmed_records_wait_and_a_foreign_key_is_refused(tmp_path: Path, signer: Signer) -> None:  # noqa: F811
    url = _cycle(tmp_path, ROWS)
    waiting = _issue(url, signer, confirm=False)
    assert (waiting.issued, waiting.skipped) == (0, {"unconfirmed": 2})
    other_site_head, _ = head_of_facility("HN-002-01")
    with pytest.raises(SigningError, match="HN-001-01"):
        confirm_site(url, other_site_head, cycle_id="cycle-1", site_code="HN-001-01", signed_at=NOW, store_ref="x")
    assert _issue(url, signer).issued == 2
    with session_scope(url) as session:
        links = [link for chain in session.scalars(select(LineageChain.links)) for link in chain
                 if link["kind"] == "confirmation"]
    # 3 leaves: the certified doses sit at index 1 (proof of 2 hashes) and 2 (promoted: 1 hash)
    assert sorted((link["detail"]["leaf_index"], len(link["detail"]["inclusion"]["proof"])) for link in links) == [
        (1, 2), (2, 1)]


def test_stage_without_the_site_heads_key_fails_naming_the_site(tmp_path: Path) -> None:
    url = _cycle(tmp_path, ROWS)
    s = Settings(db_url=url, data_dir=tmp_path / "data", landing_dir=tmp_path / "landing", pki_dir=tmp_path / "pki",
                 key_passphrase=b"pw", pseudonym_key=KEY)
    with pytest.raises(ConfigError, match="site HN-001-01.*issue-facility"):
        stages.confirm(s, cycle_id="cycle-1", site_code="HN-001-01", signed_at=NOW)


def test_a_broken_signer_publishes_nothing(tmp_path: Path, signer: Signer) -> None:  # noqa: F811
    url = _cycle(tmp_path, ROWS)
    wrong_key = Signer(key=ec.generate_private_key(ec.SECP256R1()), certificate=signer.certificate,
                       chain=signer.chain)
    with pytest.raises(PreIssuanceError) as err:
        _issue(url, wrong_key)
    assert set(err.value.failures.values()) == {"bad-signature"} and len(err.value.failures) == 2
    assert "Nguyễn" not in str(err.value)
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_a_payload_that_fails_the_schema_publishes_nothing(tmp_path: Path, signer: Signer,  # noqa: F811
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url = _cycle(tmp_path, ROWS)

    def sign_broken(payload: dict[str, Any], key: Signer, **kwargs: Any) -> str:
        broken = {**payload, "v": [{**payload["v"][0], "dn": 0}]}  # dose number 0: outside the schema
        with monkeypatch.context() as m:
            m.setattr(hcert, "validate_payload", lambda _: None)  # a signer that skips its own validation
            return hcert.encode_hc1(broken, key, **kwargs)

    with pytest.raises(PreIssuanceError) as err:
        _issue(url, signer, encode=sign_broken)
    assert set(err.value.failures.values()) == {"schema"}
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_a_corrected_record_is_reissued_and_the_old_certificate_revoked(tmp_path: Path,
                                                                        signer: Signer) -> None:  # noqa: F811
    url = _cycle(tmp_path, ROWS)
    _issue(url, signer)
    fixed = dose_row("3", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002", vaccine="Vero Cell", date="16/08/2021")
    url = _cycle(tmp_path, [*ROWS[:2], fixed], cycle_id="cycle-2", file="d2.csv")
    summary = _issue(url, signer, cycle_id="cycle-2")
    assert (summary.reissued, summary.revoked, summary.unchanged) == (1, 1, 1)
    with session_scope(url) as session:
        certs = session.scalars(select(Certificate).order_by(Certificate.id)).all()
        old = next(c for c in certs if c.status == "revoked")
        new = next(c for c in certs if c.person_id == old.person_id and c.status == "current")
        assert old.revocation_reason == "corrected" and old.revoked_at == NOW
        assert new.uvci != old.uvci and new.version == old.version + 1
        old_uvci = old.uvci
    assert revocation_list(url) == [uvci_hash(old_uvci)]
    assert uvci_hash(old_uvci) == hashlib.sha256(old_uvci.encode()).hexdigest()
