"""The command-line contract: init, synth, trust list, export and verify (exit codes and file formats)."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from vaxpass.cli import main
from vaxpass.exports import safe_name


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("VAXPASS_DB_URL", "VAXPASS_KEY_PASSPHRASE", "VAXPASS_PSEUDONYM_KEY", "VAXPASS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAXPASS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_init_is_idempotent_and_keeps_secrets_private(home: Path) -> None:
    assert main(["init"]) == 0
    secrets = (home / "secrets.json").read_text()
    assert stat.S_IMODE((home / "secrets.json").stat().st_mode) == 0o600
    dsc = (home / "pki" / "dsc.p12").read_bytes()
    assert main(["init"]) == 0
    assert (home / "secrets.json").read_text() == secrets
    assert (home / "pki" / "dsc.p12").read_bytes() == dsc


def test_missing_secret_is_an_error_not_a_default(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir()
    assert main(["trustlist", "export", "--out", str(home / "t.json")]) == 2
    assert "VAXPASS_KEY_PASSPHRASE" in capsys.readouterr().err


def test_trustlist_export_format(home: Path) -> None:
    main(["init"])
    main(["trustlist", "export", "--out", str(home / "trust.json")])
    entries = json.loads((home / "trust.json").read_text())
    assert len(entries) == 1 and set(entries[0]) == {"kid", "certificate", "country", "not_before", "not_after"}
    cert = x509.load_der_x509_certificate(base64.b64decode(entries[0]["certificate"]))
    assert len(base64.b64decode(entries[0]["kid"])) == 8 and entries[0]["country"] == "VN"
    assert datetime.fromisoformat(entries[0]["not_after"]) == cert.not_valid_after_utc


def test_verify_exit_codes(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.issuance.test_issue import KEY, ROWS, _confirm, _cycle
    from vaxpass.config import settings_from_mapping
    from vaxpass.issuance import issue_certificates
    from vaxpass.signing.keystore import load_signer

    main(["init"])
    s = settings_from_mapping({"VAXPASS_HOME": str(home)})
    url = _cycle(tmp_path, ROWS)  # a small store with matched records
    signer = load_signer(s.dsc_path, s.key_passphrase)
    _confirm(url)
    issue_certificates(url, signer, cycle_id="cycle-1", issued_at=datetime.now(UTC), uvci_key=KEY, dag_id="d",
                       task_id="t", store_ref="dsc.p12")
    from vaxpass.exports import export_certificates, export_trustlist

    assert export_certificates(url, tmp_path / "out") == 2
    assert export_certificates(url, tmp_path / "png", fmt="png", limit=1) == 1
    assert [p.suffix for p in (tmp_path / "png").iterdir()] == [".png"]
    export_trustlist(url, tmp_path / "trust.json")
    files = sorted((tmp_path / "out").glob("*.txt"))
    assert all(f.read_text().startswith("HC1:") for f in files)
    capsys.readouterr()
    assert main(["verify", str(files[0]), "--trustlist", str(tmp_path / "trust.json")]) == 0
    out = capsys.readouterr().out
    assert "VALID" in out and '"ver": "1.3.0"' in out
    text = files[0].read_text().strip()
    tampered = tmp_path / "bad.txt"
    tampered.write_text(text[:-5] + ("0" if text[-5] != "0" else "1") + text[-4:])
    assert main(["verify", str(tampered), "--trustlist", str(tmp_path / "trust.json")]) == 1
    assert "INVALID" in capsys.readouterr().out
    assert main(["verify", text, "--trustlist", str(home / "missing.json")]) != 0


def test_safe_name() -> None:
    assert safe_name("URN:UVCI:01:VN:ABC/12#X") == "URN_UVCI_01_VN_ABC_12_X"


def test_synth_command_writes_the_data_set(tmp_path: Path) -> None:
    assert main(["synth", "--out", str(tmp_path / "d"), "--persons", "1000", "--seed", "3", "--no-progress"]) == 0
    assert {p.name for p in (tmp_path / "d").iterdir()} >= {"registry.sqlite", "sites.json", "ground_truth.csv",
                                                             "inbox", "summary.json"}
