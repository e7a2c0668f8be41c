"""`vaxpass pki list|revoke|rotate|issue-facility` and `vaxpass revocation export` on a real ops store: a
rotation keeps issued certificates verifiable, a revoked key leaves the trust list and signs nothing more."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import dose_row, site
from tests.issuance.test_issue import KEY, ROWS, _confirm, _cycle
from vaxpass.cli import main
from vaxpass.config import settings_from_mapping
from vaxpass.errors import SigningError, VerificationError
from vaxpass.exports import export_trustlist
from vaxpass.issuance import issue_certificates
from vaxpass.signing.hcert import verify_hc1
from vaxpass.signing.keystore import load_signer
from vaxpass.signing.trustlist import TrustList
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, SigningKey


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("VAXPASS_KEY_PASSPHRASE", "VAXPASS_PSEUDONYM_KEY", "VAXPASS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAXPASS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VAXPASS_DB_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    (tmp_path / "home" / "data").mkdir(parents=True)
    (tmp_path / "home" / "data" / "sites.json").write_text(json.dumps([site().to_dict()], ensure_ascii=False))
    return tmp_path / "home"


def _issue(url: str, home: Path, cycle_id: str) -> None:
    s = settings_from_mapping({"VAXPASS_HOME": str(home), "VAXPASS_DB_URL": url})
    _confirm(url, cycle_id)
    issue_certificates(url, load_signer(s.dsc_path, s.key_passphrase), cycle_id=cycle_id,
                       issued_at=datetime.now(UTC), uvci_key=KEY, dag_id="d", task_id="t", store_ref="dsc.p12")


def _keys(capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    capsys.readouterr()
    assert main(["pki", "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_init_lists_every_role_and_issue_facility_is_idempotent(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    keys = _keys(capsys)
    assert sorted(k["role"] for k in keys) == ["dsc", "facility", "pdf"]
    assert {k["status"] for k in keys} == {"active"} and all(len(k["kid"]) == 16 for k in keys)
    head = next(k for k in keys if k["role"] == "facility")
    assert "CN=Ngô Minh Tâm" in head["subject"] and "OU=HN-001-01" in head["subject"] and "L=Ba Đình" in head["subject"]
    assert (home / "pki" / "facility" / "HN-001-01.p12").exists()
    assert main(["pki", "issue-facility", "--site", "HN-001-01"]) == 0
    assert "already valid" in capsys.readouterr().out
    assert main(["pki", "issue-facility", "--site", "HN-404"]) == 2  # not in sites.json
    assert main(["pki", "list"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["role", "kid", "status"] and head["kid"] in table


def test_rotation_keeps_issued_certificates_verifiable_and_revocation_removes_trust(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    url = _cycle(tmp_path, ROWS)
    _issue(url, home, "cycle-1")
    [old_dsc] = [k["kid"] for k in _keys(capsys) if k["role"] == "dsc"]
    assert main(["pki", "rotate"]) == 0
    dscs = {k["kid"]: k["status"] for k in _keys(capsys) if k["role"] == "dsc"}
    [new_dsc] = set(dscs) - {old_dsc}
    assert dscs == {old_dsc: "retired", new_dsc: "active"}
    assert export_trustlist(url, tmp_path / "trust.json") == 2  # the retired one stays trusted
    with session_scope(url) as session:
        old_end = session.get(SigningKey, old_dsc).not_after  # type: ignore[union-attr]
    # … until it expires, and with it every certificate it signed
    assert export_trustlist(url, tmp_path / "later.json", at=old_end + timedelta(seconds=1)) == 1
    trust = TrustList.load(tmp_path / "trust.json")
    with session_scope(url) as session:
        first = session.scalars(select(Certificate.hc1)).all()
    now = datetime.now(UTC)
    assert [verify_hc1(h, trust, now=now).kid.hex() for h in first] == [old_dsc, old_dsc]
    booster = dose_row("4", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", vaccine="Pfizer", dose="3",
                       date="01/02/2022")
    url = _cycle(tmp_path, [*ROWS, booster], cycle_id="cycle-2", file="d2.csv")
    _issue(url, home, "cycle-2")
    with session_scope(url) as session:
        reissued = session.scalars(select(Certificate).filter_by(cycle_id="cycle-2")).one()
        assert reissued.kid == new_dsc
    # revoking the retired key: it leaves the trust list and what it signed stops verifying
    assert main(["pki", "revoke", old_dsc]) == 0
    assert export_trustlist(url, tmp_path / "trust2.json") == 1
    trust2 = TrustList.load(tmp_path / "trust2.json")
    with pytest.raises(VerificationError) as err:
        verify_hc1(first[1], trust2, now=now)
    assert err.value.reason == "unknown-kid"
    # a revoked active key signs nothing more
    assert main(["pki", "revoke", new_dsc]) == 0
    booster2 = dose_row("6", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002", vaccine="Pfizer", dose="2",
                        date="01/03/2022")
    url = _cycle(tmp_path, [*ROWS, booster, booster2], cycle_id="cycle-3", file="d3.csv")
    with pytest.raises(SigningError, match="revoked"):
        _issue(url, home, "cycle-3")
    assert main(["pki", "revoke", "00" * 8]) == 2


def test_revocation_export(home: Path, tmp_path: Path) -> None:
    import hashlib

    assert main(["init"]) == 0
    url = _cycle(tmp_path, ROWS)
    _issue(url, home, "cycle-1")
    with session_scope(url) as session:
        cert = session.scalars(select(Certificate).order_by(Certificate.id)).first()
        assert cert is not None
        cert.status, uvci = "revoked", cert.uvci
    assert main(["revocation", "export", "--out", str(tmp_path / "rev.json")]) == 0
    doc = json.loads((tmp_path / "rev.json").read_text())
    assert doc == {"kind": "uvci-sha256", "hashes": [hashlib.sha256(uvci.encode()).hexdigest()]}
