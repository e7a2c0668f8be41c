"""PKCS#11 with a real SoftHSM2 token made in a temporary folder: a DSC key generated on the token (never
leaving it) and one imported from PKCS#12 both sign certificates that verify — with vaxpass and with the
independent JavaScript verifier — and the CLI puts and uses the key."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import IN_CI
from vaxpass.errors import SigningError
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import encode_hc1, verify_hc1
from vaxpass.signing.keystore import load_signer
from vaxpass.signing.pkcs11 import (
    TokenConfig,
    generate_key,
    open_session,
    put_signer,
    store_certificate,
    token_signer,
)
from vaxpass.signing.pki import create_root_ca, document_signer_certificate, issue_document_signer
from vaxpass.signing.trustlist import TrustList
from vaxpass.signing.uvci import make_uvci
from vaxpass.vaccines import lookup

NOW = datetime.now(UTC)
LIBS = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenConfig]:
    lib = next((p for p in LIBS if Path(p).exists()), None)
    if lib is None or shutil.which("softhsm2-util") is None:
        if IN_CI:
            pytest.fail("SoftHSM2 (Debian softhsm2) is required in CI; `make venv` installs it")
        pytest.skip("SoftHSM2 not installed")
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "vaxpass-test", "--pin", "4711",
                        "--so-pin", "0815"], check=True, capture_output=True)
        yield TokenConfig(library=Path(lib), token_label="vaxpass-test", pin="4711")


def _hc1(signer: object) -> str:
    vaccine = lookup("Pfizer")
    assert vaccine is not None
    payload = build_vaccination_payload(full_name="Đặng Thị Đào", dob="1990-03-07", vaccine=vaccine, dose_number=2,
                                        total_doses=2, vaccination_date="2021-09-01", uvci=make_uvci(b"t1"))
    return encode_hc1(payload, signer, issued_at=NOW, expires_at=NOW + timedelta(days=365))  # type: ignore[arg-type]


def test_key_generated_on_the_token_signs_verifiable_certificates(token: TokenConfig, tmp_path: Path) -> None:
    from tests.interop.verifier import verify_independently

    create_root_ca(tmp_path, b"pw", now=NOW - timedelta(days=1))
    with open_session(token, rw=True) as session:
        public = generate_key(session, "gen-dsc")
        cert, _root = document_signer_certificate(tmp_path, b"pw", public, now=NOW - timedelta(hours=1))
        store_certificate(session, "gen-dsc", cert)
    with open_session(token) as session:
        signer = token_signer(session, "gen-dsc")
        with pytest.raises(SigningError):
            signer.key.private_bytes()  # type: ignore[call-arg]
        hc1s = [_hc1(signer) for _ in range(3)]
    trust = TrustList.from_certificates([cert])
    assert all(verify_hc1(h, trust, now=NOW).kid == signer.kid for h in hc1s)
    assert len(set(hc1s)) == 3  # ECDSA: a fresh nonce each time
    (tmp_path / "trust.json").write_text(trust.to_json())
    files = []
    for i, h in enumerate(hc1s):
        files.append(tmp_path / f"{i}.txt")
        files[-1].write_text(h)
    assert [r["valid"] for r in verify_independently(tmp_path / "trust.json", files)] == [True] * 3


def test_imported_key_signs_and_a_wrong_pin_is_refused(token: TokenConfig, tmp_path: Path) -> None:
    create_root_ca(tmp_path, b"pw", now=NOW - timedelta(days=1))
    software = load_signer(issue_document_signer(tmp_path, b"pw", tmp_path / "dsc.p12", now=NOW - timedelta(hours=1)),
                           b"pw")
    with open_session(token, rw=True) as session:
        put_signer(session, "imported-dsc", software)
    with open_session(token) as session:
        signer = token_signer(session, "imported-dsc")
        assert signer.kid == software.kid and isinstance(signer.key, ec.EllipticCurvePrivateKey)
        decoded = verify_hc1(_hc1(signer), TrustList.from_certificates([software.certificate]), now=NOW)
        with pytest.raises(SigningError, match="no single key"):
            token_signer(session, "absent")
    bad = TokenConfig(library=token.library, token_label=token.token_label, pin="0000")
    with pytest.raises(SigningError) as err, open_session(bad):
        pass
    assert "0000" not in str(err.value) and decoded.payload["nam"]["fnt"] == "DANG"


def test_cli_puts_the_dsc_on_the_token_and_issuance_uses_it(token: TokenConfig, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import select

    from tests.issuance.test_issue import ROWS, _confirm, _cycle
    from vaxpass.cli import main
    from vaxpass.config import settings_from_mapping
    from vaxpass.pipeline import stages
    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, SigningKey

    for name in ("VAXPASS_KEY_PASSPHRASE", "VAXPASS_PSEUDONYM_KEY", "VAXPASS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    env = {"VAXPASS_HOME": str(tmp_path / "home"), "VAXPASS_DB_URL": url, "VAXPASS_PKCS11_LIB": str(token.library),
           "VAXPASS_PKCS11_TOKEN": token.token_label, "VAXPASS_PKCS11_PIN": token.pin,
           "VAXPASS_PKCS11_KEY": "cli-dsc"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["init"]) == 0
    assert main(["pki", "token-generate"]) == 0
    url = _cycle(tmp_path, ROWS)
    _confirm(url)
    s = settings_from_mapping({**os.environ})
    assert s.pkcs11 is not None and s.pkcs11.key_label == "cli-dsc"
    summary = stages.issue(s, cycle_id="cycle-1", dag_id="d", task_id="t", issued_at=datetime.now(UTC))
    assert summary["issued"] == 2
    with session_scope(url) as session:
        kids = set(session.scalars(select(Certificate.kid)))
        [row] = [session.get(SigningKey, k) for k in kids]
        assert row is not None and row.store_kind == "pkcs11" and row.purpose == "dsc"
    assert main(["trustlist", "export", "--out", str(tmp_path / "trust.json")]) == 0
    trust = TrustList.load(tmp_path / "trust.json")
    with session_scope(url) as session:
        for hc1 in session.scalars(select(Certificate.hc1)):
            assert verify_hc1(hc1, trust, now=datetime.now(UTC)).kid.hex() in kids
