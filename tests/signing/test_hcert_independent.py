"""Cross-checks of the HC1 encoder and verifier against a second implementation written here, without
`vaxpass.signing.hcert`/`cose`, so one bug in both directions cannot cancel out."""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime, timedelta
from typing import Any

import base45
import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from vaxpass.errors import VerificationError
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import encode_hc1, verify_hc1
from vaxpass.signing.keystore import Signer
from vaxpass.signing.trustlist import TrustList
from vaxpass.signing.uvci import make_uvci
from vaxpass.vaccines import lookup


def _payload() -> dict[str, Any]:
    vaccine = lookup("Pfizer")
    assert vaccine is not None
    return build_vaccination_payload(
        full_name="Đặng Thị Đào", dob="1990-12-01", vaccine=vaccine, dose_number=1, total_doses=2,
        vaccination_date="2021-09-15", uvci=make_uvci(b"independent"),
    )


def _independent_kid(cert: x509.Certificate) -> bytes:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()[:8]


def _independent_decode(text: str, cert: x509.Certificate) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Unpack HC1 by hand and verify the ES256 signature of the Sig_structure with `cert`."""
    assert text.startswith("HC1:")
    message = cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))
    assert isinstance(message, cbor2.CBORTag) and message.tag == 18
    protected, unprotected, payload, signature = message.value
    header = cbor2.loads(protected)
    assert header == {1: -7, 4: _independent_kid(cert)}
    assert dict(unprotected) == {}
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    assert len(signature) == 64
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(der, to_be_signed, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature if wrong
    return dict(header), dict(cbor2.loads(payload))


def _independent_encode(payload: dict[str, Any], signer: Signer, iat: datetime, exp: datetime,
                        *, tagged: bool = True) -> str:
    """Build HC1 by hand (ES256), so our verifier is checked against a second encoder."""
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    protected = cbor2.dumps({1: -7, 4: _independent_kid(signer.certificate)})
    claims = cbor2.dumps({4: int(exp.timestamp()), 6: int(iat.timestamp()), 1: "VN", -260: {1: payload}})
    r, s = decode_dss_signature(signer.key.sign(cbor2.dumps(["Signature1", protected, b"", claims]),
                                                ec.ECDSA(hashes.SHA256())))
    body: Any = [protected, {}, claims, r.to_bytes(32, "big") + s.to_bytes(32, "big")]
    message = cbor2.dumps(cbor2.CBORTag(18, body) if tagged else body)
    return "HC1:" + base45.b45encode(zlib.compress(message)).decode()


def test_our_encoding_decodes_and_verifies_independently(signer: Signer, now: datetime) -> None:
    payload = _payload()
    text = encode_hc1(payload, signer, issued_at=now, expires_at=now + timedelta(days=365))
    _, claims = _independent_decode(text, signer.certificate)
    assert claims[1] == "VN"
    assert claims[6] == int(now.timestamp())
    assert claims[4] == int((now + timedelta(days=365)).timestamp())
    dcc = claims[-260][1]
    assert dcc["nam"]["fnt"] == "DANG" and dcc["nam"]["gnt"] == "THI<DAO"
    assert dcc["v"][0]["mp"] == payload["v"][0]["mp"]  # arrays come back as tuples with cbor2 >= 6


@pytest.mark.parametrize("tagged", [True, False])
def test_independent_encoding_verifies_with_our_verifier(signer: Signer, trust_list: TrustList, now: datetime,
                                                         tagged: bool) -> None:
    text = _independent_encode(_payload(), signer, now, now + timedelta(days=30), tagged=tagged)
    decoded = verify_hc1(text, trust_list, now=now)
    assert decoded.payload == _payload()
    assert decoded.kid == _independent_kid(signer.certificate)


def test_independently_signed_bad_payload_fails_schema(signer: Signer, trust_list: TrustList,
                                                       now: datetime) -> None:
    payload = _payload()
    payload["nam"]["fnt"] = "dang"  # lower case: not ICAO 9303
    text = _independent_encode(payload, signer, now, now + timedelta(days=30))
    with pytest.raises(VerificationError) as info:
        verify_hc1(text, trust_list, now=now)
    assert info.value.reason == "schema"
    assert "dang" not in str(info.value)
