"""The pre-issuance check's fast path (`ExactVerifier`): it may only pass a certificate the full `verify_hc1`
path passes with the intended kid and payload; everything else falls back, so each faulty certificate fails
with the reason code it failed with before the fast path existed (`_full_path` below is that check)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.signing.conftest import PASSPHRASE
from tests.signing.test_hcert import YEAR, _leaf, _payload
from vaxpass.errors import VerificationError
from vaxpass.issuance import check
from vaxpass.issuance.check import PreIssuanceError, Signed, check_before_publishing
from vaxpass.signing import cose, hcert
from vaxpass.signing.hcert import ExactVerifier, encode_hc1, verify_hc1
from vaxpass.signing.keystore import Signer
from vaxpass.signing.pki import EKU_DCC_TEST, EKU_DCC_VACCINATION
from vaxpass.signing.trustlist import TrustList


def _full_path(cert: Signed, trust_list: TrustList, at: datetime) -> str | None:
    """The check's verdict without the fast path: None (passes) or the reason code."""
    try:
        decoded = verify_hc1(cert.hc1, trust_list, now=at)
    except VerificationError as exc:
        return exc.reason
    if decoded.kid != cert.kid:
        return "wrong-kid"
    return "payload-mismatch" if decoded.payload != cert.payload else None


def _claims(now: datetime, payload: Any, **changed: Any) -> dict[int, Any]:
    claims = {1: "VN", 6: int(now.timestamp()), 4: int((now + YEAR).timestamp()), -260: {1: payload}}
    return {**claims, **changed}


def _hand_signed(signer: Signer, claims: dict[int, Any], *, unprotected_kid: bool = False,
                 long_payload_head: bool = False, trailing: bytes = b"", key: Any = None) -> str:
    """An HC1 text built by hand, in forms `encode_hc1` never writes but a verifier accepts (or not)."""
    header = {1: cose.ES256} if unprotected_kid else {1: cose.ES256, 4: signer.kid}
    protected, payload = cbor2.dumps(header), cbor2.dumps(claims)
    signature = cose.sign(key or signer.key, cose.ES256, cose.sig_structure(protected, payload))
    message = cbor2.dumps(cbor2.CBORTag(18, [protected, {4: signer.kid} if unprotected_kid else {}, payload,
                                             signature]))
    if long_payload_head:  # the payload's byte-string head in 4 bytes instead of 3: valid CBOR, not shortest
        at = message.index(cose.bstr_head(len(payload)) + payload)
        message = message[:at] + b"\x5a" + len(payload).to_bytes(4, "big") + message[at + 3:]
    return "HC1:" + hcert.b45encode(zlib.compress(message + trailing, 9))


Case = Callable[[Signer, TrustList, datetime, Path], tuple[Signed, TrustList, datetime]]


def _as_signed(payload: dict[str, Any], signer: Signer, hc1: str) -> Signed:
    return Signed(uvci=payload["v"][0]["ci"], payload=payload, kid=signer.kid, hc1=hc1)


def _encoded(signer: Signer, now: datetime, payload: dict[str, Any] | None = None, **kwargs: Any) -> str:
    return encode_hc1(payload or _payload(), signer, issued_at=now, expires_at=now + YEAR, **kwargs)


def _no_schema(signer: Signer, payload: dict[str, Any], now: datetime) -> str:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(hcert, "validate_payload", lambda _: None)  # a signer that skips its own validation
        return _encoded(signer, now, payload)


def _tuple_payload() -> dict[str, Any]:
    payload = _payload()
    return {**payload, "v": tuple(payload["v"])}  # the same CBOR bytes as the list, but not equal once decoded


def _wrong_eku(signer: Signer, trust: TrustList, now: datetime, ca: Path) -> tuple[Signed, TrustList, datetime]:
    test_only = _leaf(ca, PASSPHRASE, now, ec.generate_private_key(ec.SECP256R1()),
                      [EKU_DCC_TEST])
    hc1 = _hand_signed(test_only, _claims(now, _payload()))
    return _as_signed(_payload(), test_only, hc1), TrustList.from_certificates([test_only.certificate]), now


CASES: dict[str, Case] = {
    "as encoded": lambda s, t, now, ca: (_as_signed(_payload(), s, _encoded(s, now)), t, now),
    "another signer's key": lambda s, t, now, ca: (_as_signed(_payload(), s, _encoded(Signer(
        key=ec.generate_private_key(ec.SECP256R1()), certificate=s.certificate, chain=s.chain), now)), t, now),
    "another payload": lambda s, t, now, ca: (_as_signed(
        {**_payload(), "dob": "1985-03-08"}, s, _encoded(s, now)), t, now),
    "another kid meant": lambda s, t, now, ca: (Signed(uvci="u", payload=_payload(), kid=b"12345678",
                                                      hc1=_encoded(s, now)), t, now),
    "unknown kid": lambda s, t, now, ca: (_as_signed(_payload(), s, _encoded(s, now)), TrustList(), now),
    "expired at the check": lambda s, t, now, ca: (_as_signed(_payload(), s, _encoded(s, now)), t, now + YEAR),
    "not yet valid at the check": lambda s, t, now, ca: (
        _as_signed(_payload(), s, _encoded(s, now + timedelta(minutes=6))), t, now),
    "another issuer": lambda s, t, now, ca: (_as_signed(_payload(), s, _encoded(s, now, issuer="DE")), t, now),
    "issued before the DSC": lambda s, t, now, ca: (_as_signed(_payload(), s, _hand_signed(
        s, _claims(now - timedelta(days=1), _payload()))), t, now),
    "wrong key usage": _wrong_eku,
    "schema": lambda s, t, now, ca: (_as_signed(p := {**_payload(), "ver": "0"}, s, _no_schema(s, p, now)), t, now),
    "a tuple meant": lambda s, t, now, ca: (_as_signed(p := _tuple_payload(), s, _no_schema(s, p, now)), t, now),
    "kid unprotected": lambda s, t, now, ca: (_as_signed(_payload(), s, _hand_signed(
        s, _claims(now, _payload()), unprotected_kid=True)), t, now),
    "long payload head": lambda s, t, now, ca: (_as_signed(_payload(), s, _hand_signed(
        s, _claims(now, _payload()), long_payload_head=True)), t, now),
    "trailing bytes": lambda s, t, now, ca: (_as_signed(_payload(), s, _hand_signed(
        s, _claims(now, _payload()), trailing=b"\x00")), t, now),
    "an extra claim": lambda s, t, now, ca: (_as_signed(_payload(), s, _hand_signed(
        s, {5: int(now.timestamp()), **_claims(now, _payload())})), t, now),
    "claims in another order": lambda s, t, now, ca: (_as_signed(_payload(), s, _hand_signed(
        s, dict(reversed(_claims(now, _payload()).items())))), t, now),
    "not HC1": lambda s, t, now, ca: (_as_signed(_payload(), s, "HC2:" + _encoded(s, now)[4:]), t, now),
}


@pytest.mark.parametrize("name", CASES)
def test_the_check_gives_the_full_paths_verdict(name: str, signer: Signer, trust_list: TrustList, now: datetime,
                                                ca_dir: Path) -> None:
    cert, trust, at = CASES[name](signer, trust_list, now, ca_dir)
    expected = _full_path(cert, trust, at)
    fast = ExactVerifier(trust, now=at).verifies(cert.hc1, cert.kid, cert.payload)
    assert fast == (name == "as encoded")  # only the exact encoding is shown without decoding
    if expected is None:
        assert check_before_publishing([cert], trust, at=at) == 1
    else:
        with pytest.raises(PreIssuanceError) as err:
            check_before_publishing([cert], trust, at=at)
        assert err.value.failures == {cert.uvci: expected}
    assert (expected is None) == (name in {"as encoded", "kid unprotected", "long payload head", "an extra claim",
                                            "claims in another order"})


def test_exact_certificates_are_not_decoded(signer: Signer, trust_list: TrustList, now: datetime,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path carries the check of certificates `encode_hc1` wrote: the full path is not run."""
    certs = [_as_signed(_payload(), signer, _encoded(signer, now)) for _ in range(3)]

    def not_expected(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the full path ran")

    monkeypatch.setattr(check, "verify_hc1", not_expected)
    assert check_before_publishing(certs, trust_list, at=now) == 3


def test_every_signature_is_verified(signer: Signer, trust_list: TrustList, now: datetime,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-run facts are remembered, the signatures never: each certificate's is checked."""
    verifier = ExactVerifier(trust_list, now=now)
    calls: list[bytes] = []
    real_verify = cose.verify

    def counting(key: Any, alg: int, data: bytes, signature: bytes) -> bool:
        calls.append(signature)
        return real_verify(key, alg, data, signature)

    monkeypatch.setattr(cose, "verify", counting)
    texts = [_encoded(signer, now) for _ in range(3)]
    assert all(verifier.verifies(text, signer.kid, _payload()) for text in texts)
    assert len(set(calls)) == 3
    message = hcert._unpack(texts[0])
    # the signature's last byte changed (set to 0 it would be unchanged one time in 256: ECDSA is randomised)
    forged = hcert.b45encode(zlib.compress(message[:-1] + bytes((message[-1] ^ 1,)), 9))
    assert not verifier.verifies("HC1:" + forged, signer.kid, _payload())


def test_ps256_certificates_take_the_fast_path(ca_dir: Path, passphrase: bytes, now: datetime) -> None:
    rsa_signer = _leaf(ca_dir, passphrase, now, rsa.generate_private_key(65537, 2048), [EKU_DCC_VACCINATION])
    trust = TrustList.from_certificates([rsa_signer.certificate])
    assert ExactVerifier(trust, now=now).verifies(_encoded(rsa_signer, now), rsa_signer.kid, _payload())
