"""vaxpass certificates verify with an independent EU-DCC implementation, and it rejects what it should."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest

from tests.interop.verifier import verify_independently
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import encode_hc1
from vaxpass.signing.keystore import Signer, load_signer
from vaxpass.signing.pki import create_root_ca, issue_document_signer
from vaxpass.signing.trustlist import TrustList
from vaxpass.signing.uvci import make_uvci
from vaxpass.vaccines import lookup

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def _signer(directory: Path, name: str) -> Signer:
    directory.mkdir()
    create_root_ca(directory, b"pw", now=NOW)
    return load_signer(issue_document_signer(directory, b"pw", directory / f"{name}.p12", now=NOW), b"pw")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("interop")
    signer, stranger = _signer(tmp / "a", "dsc"), _signer(tmp / "b", "other")
    payload = build_vaccination_payload(full_name="Đặng Thị Đào", dob="1990-03-07", vaccine=lookup("Moderna"),
                                        dose_number=3, total_doses=3, vaccination_date="2022-01-15",
                                        uvci=make_uvci(b"interop"))
    good = encode_hc1(payload, signer, issued_at=NOW, expires_at=NOW + timedelta(days=365))
    foreign = encode_hc1(payload, stranger, issued_at=NOW, expires_at=NOW + timedelta(days=365))
    TrustList.from_certificates([signer.certificate]).save(tmp / "trust.json")
    files = {}
    for name, text in {"good": good, "foreign": foreign, "forged": _forge(good)}.items():
        files[name] = tmp / f"{name}.txt"
        files[name].write_text(text)
    results = verify_independently(tmp / "trust.json", list(files.values()))
    return {"payload": payload, "results": dict(zip(files, results, strict=True))}


def _forge(hc1: str) -> str:
    """Same signature, a different payload: re-encode with another dose number."""
    import zlib

    import base45

    tag = cbor2.loads(zlib.decompress(base45.b45decode(hc1[4:])))
    protected, unprotected, payload, signature = tag.value
    claims = cbor2.loads(payload)
    claims[-260][1]["v"][0]["dn"] = 4
    forged = cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature])
    return "HC1:" + base45.b45encode(zlib.compress(cbor2.dumps(forged), 9)).decode()


def test_genuine_certificate_verifies_with_same_payload(case: dict) -> None:
    result = case["results"]["good"]
    assert result["valid"] is True and result["iss"] == "VN"
    assert result["payload"] == case["payload"]


def test_unknown_signer_and_forged_payload_are_rejected(case: dict) -> None:
    assert case["results"]["foreign"] == case["results"]["foreign"] | {"valid": False, "reason": "unknown-kid"}
    assert case["results"]["forged"]["valid"] is False and case["results"]["forged"]["reason"] == "signature"
