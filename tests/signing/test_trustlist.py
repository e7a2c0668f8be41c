from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from vaxpass.errors import VerificationError
from vaxpass.signing.hcert import encode_hc1, verify_hc1
from vaxpass.signing.keystore import Signer, load_signer
from vaxpass.signing.pki import issue_document_signer
from vaxpass.signing.trustlist import TrustList


def test_json_round_trip(
    signer: Signer, ca_dir: Path, passphrase: bytes, now: datetime, tmp_path: Path
) -> None:
    second_path = issue_document_signer(ca_dir, passphrase, tmp_path / "dsc2.p12", now=now)
    second = load_signer(second_path, passphrase)
    trust_list = TrustList.from_certificates([signer.certificate, second.certificate, signer.certificate])
    assert len(trust_list) == 2
    items = json.loads(trust_list.to_json())
    assert {item["kid"] for item in items} == {base64.b64encode(s.kid).decode() for s in (signer, second)}
    first = next(item for item in items if item["kid"] == base64.b64encode(signer.kid).decode())
    assert first["country"] == "VN"
    assert first["not_before"] == "2022-05-10T09:30:00Z"
    assert first["not_after"] == (now + timedelta(days=730)).isoformat().replace("+00:00", "Z")

    path = tmp_path / "trust.json"
    trust_list.save(path)
    loaded = TrustList.load(path)
    assert loaded.to_json() == trust_list.to_json()
    assert loaded.certificates_for(signer.kid) == [signer.certificate]
    text = encode_hc1(_minimal_payload(), signer, issued_at=now, expires_at=now + timedelta(days=1))
    assert verify_hc1(text, loaded, now=now).kid == signer.kid


def test_kid_must_match_the_certificate(signer: Signer) -> None:
    items = json.loads(TrustList.from_certificates([signer.certificate]).to_json())
    items[0]["kid"] = base64.b64encode(b"\x00" * 8).decode()
    with pytest.raises(VerificationError) as info:
        TrustList.from_json(json.dumps(items))
    assert info.value.reason == "bad-trust-list"


@pytest.mark.parametrize(
    "text", ["not json", "{}", '[{"kid": "AA=="}]', '[{"kid": "!", "certificate": "!"}]']
)
def test_malformed_trust_lists(text: str) -> None:
    with pytest.raises(VerificationError) as info:
        TrustList.from_json(text)
    assert info.value.reason == "bad-trust-list"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VerificationError):
        TrustList.load(tmp_path / "absent.json")


def _minimal_payload() -> dict[str, object]:
    return {
        "ver": "1.3.0", "nam": {"fnt": "LY"}, "dob": "1970",
        "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215", "dn": 1,
               "sd": 2, "dt": "2021-08-01", "co": "VN", "is": "Ministry of Health of Viet Nam",
               "ci": "URN:UVCI:01:VN:ABCDEFGHIJKLMNOP#Q"}],
    }
