from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import base45
import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaxpass.errors import SchemaError, SigningError, VerificationError
from vaxpass.signing import cose
from vaxpass.signing.dcc import build_vaccination_payload
from vaxpass.signing.hcert import decode_hc1, encode_hc1, verify_hc1
from vaxpass.signing.keystore import PrivateKey, Signer, kid_of
from vaxpass.signing.pki import EKU_DCC_TEST, EKU_DCC_VACCINATION, load_root
from vaxpass.signing.trustlist import TrustEntry, TrustList
from vaxpass.signing.uvci import make_uvci
from vaxpass.vaccines import lookup

YEAR = timedelta(days=365)


def _payload() -> dict[str, Any]:
    vaccine = lookup("AstraZeneca")
    assert vaccine is not None
    return build_vaccination_payload(
        full_name="Nguyễn Văn An", dob="1985-03-07", vaccine=vaccine, dose_number=2, total_doses=2,
        vaccination_date="2021-10-02", uvci=make_uvci(b"person-42|v1"),
    )


def _pack(message: bytes) -> str:
    return "HC1:" + base45.b45encode(zlib.compress(message)).decode()


def _cose_bytes(text: str) -> bytes:
    return zlib.decompress(base45.b45decode(text[4:]))


def _raw(signer: Signer, claims: dict[int, Any]) -> str:
    """Sign arbitrary claims (bypassing encode_hc1's checks) to exercise the verifier."""
    alg = cose.algorithm_for(signer.key)
    protected = cbor2.dumps({1: alg, 4: signer.kid})
    payload = cbor2.dumps(claims)
    signature = cose.sign(signer.key, alg, cose.sig_structure(protected, payload))
    return _pack(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature])))


def _leaf(ca_dir: Path, passphrase: bytes, now: datetime, key: PrivateKey,
          eku: list[x509.ObjectIdentifier] | None, start: timedelta = timedelta(0)) -> Signer:
    """A DSC made directly with cryptography, for key types and usages the CA module does not issue."""
    root = load_root(ca_dir, passphrase)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "test DSC")]))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + start)
        .not_valid_after(now + start + 2 * YEAR)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    assert isinstance(root.key, ec.EllipticCurvePrivateKey)
    return Signer(key=key, certificate=builder.sign(root.key, hashes.SHA256()), chain=(root.certificate,))


def test_round_trip(signer: Signer, trust_list: TrustList, now: datetime) -> None:
    payload = _payload()
    text = encode_hc1(payload, signer, issued_at=now, expires_at=now + YEAR)
    assert text.startswith("HC1:")
    assert 450 < len(text) < 650  # the notes measured ≈ 537 characters for one ES256 dose
    decoded = verify_hc1(text, trust_list, now=now + timedelta(days=30))
    assert decoded.payload == payload
    assert (decoded.kid, decoded.alg, decoded.issuer) == (signer.kid, cose.ES256, "VN")
    assert decoded.issued_at == now and decoded.expires_at == now + YEAR
    assert len(decoded.signature) == 64
    assert decode_hc1(text) == decoded


def test_ps256_with_an_rsa_signer(ca_dir: Path, passphrase: bytes, now: datetime) -> None:
    rsa_signer = _leaf(ca_dir, passphrase, now, rsa.generate_private_key(65537, 2048), [EKU_DCC_VACCINATION])
    text = encode_hc1(_payload(), rsa_signer, issued_at=now, expires_at=now + YEAR)
    decoded = verify_hc1(text, TrustList.from_certificates([rsa_signer.certificate]), now=now)
    assert decoded.alg == cose.PS256 and len(decoded.signature) == 256


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_a_changed_byte_breaks_the_signature(signer: Signer, trust_list: TrustList, now: datetime,
                                             where: str) -> None:
    message = _cose_bytes(encode_hc1(_payload(), signer, issued_at=now, expires_at=now + YEAR))
    if where == "payload":
        assert message.count(b"Ministry") == 1
        tampered = message.replace(b"Ministry", b"Ninistry")
    else:
        tampered = message[:-1] + bytes([message[-1] ^ 0x01])
    with pytest.raises(VerificationError) as info:
        verify_hc1(_pack(tampered), trust_list, now=now)
    assert info.value.reason == "bad-signature"


def test_unknown_kid(signer: Signer, ca_dir: Path, passphrase: bytes, now: datetime) -> None:
    text = encode_hc1(_payload(), signer, issued_at=now, expires_at=now + YEAR)
    other = _leaf(ca_dir, passphrase, now, ec.generate_private_key(ec.SECP256R1()), None)
    with pytest.raises(VerificationError) as info:
        verify_hc1(text, TrustList.from_certificates([other.certificate]), now=now)
    assert info.value.reason == "unknown-kid"


def test_every_certificate_sharing_a_kid_is_tried(signer: Signer, ca_dir: Path, passphrase: bytes,
                                                  now: datetime) -> None:
    text = encode_hc1(_payload(), signer, issued_at=now, expires_at=now + YEAR)
    impostor = _leaf(ca_dir, passphrase, now, ec.generate_private_key(ec.SECP256R1()), None).certificate
    wrong_first = TrustList({signer.kid: [TrustEntry(signer.kid, impostor, "VN"),
                                          TrustEntry(signer.kid, signer.certificate, "VN")]})
    assert verify_hc1(text, wrong_first, now=now).kid == signer.kid
    only_wrong = TrustList({signer.kid: [TrustEntry(signer.kid, impostor, "VN")]})
    with pytest.raises(VerificationError) as info:
        verify_hc1(text, only_wrong, now=now)
    assert info.value.reason == "bad-signature"


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(YEAR, "expired"), (YEAR + timedelta(seconds=1), "expired"), (-timedelta(minutes=6), "not-yet-valid")],
)
def test_time_checks(signer: Signer, trust_list: TrustList, now: datetime, offset: timedelta,
                     reason: str) -> None:
    text = encode_hc1(_payload(), signer, issued_at=now, expires_at=now + YEAR)
    with pytest.raises(VerificationError) as info:
        verify_hc1(text, trust_list, now=now + offset)
    assert info.value.reason == reason
    verify_hc1(text, trust_list, now=now - timedelta(minutes=4))  # within the clock skew


def test_expiry_is_capped_by_the_document_signer(signer: Signer, now: datetime) -> None:
    not_after = signer.certificate.not_valid_after_utc
    encode_hc1(_payload(), signer, issued_at=now, expires_at=not_after)
    with pytest.raises(SigningError):
        encode_hc1(_payload(), signer, issued_at=now, expires_at=not_after + timedelta(seconds=1))
    with pytest.raises(SigningError):
        encode_hc1(_payload(), signer, issued_at=now - timedelta(days=1), expires_at=now + YEAR)
    with pytest.raises(SigningError):
        encode_hc1(_payload(), signer, issued_at=now, expires_at=now)


def test_signer_must_be_valid_when_the_certificate_was_issued(signer: Signer, trust_list: TrustList,
                                                              now: datetime) -> None:
    iat = now - timedelta(days=1)
    text = _raw(signer, {1: "VN", 6: int(iat.timestamp()), 4: int((now + YEAR).timestamp()),
                         -260: {1: _payload()}})
    with pytest.raises(VerificationError) as info:
        verify_hc1(text, trust_list, now=now)
    assert info.value.reason == "dsc-not-valid"


def test_extended_key_usage(ca_dir: Path, passphrase: bytes, now: datetime) -> None:
    test_only = _leaf(ca_dir, passphrase, now, ec.generate_private_key(ec.SECP256R1()), [EKU_DCC_TEST])
    with pytest.raises(SigningError):
        encode_hc1(_payload(), test_only, issued_at=now, expires_at=now + YEAR)
    text = _raw(test_only, {1: "VN", 6: int(now.timestamp()), 4: int((now + YEAR).timestamp()),
                            -260: {1: _payload()}})
    with pytest.raises(VerificationError) as info:
        verify_hc1(text, TrustList.from_certificates([test_only.certificate]), now=now)
    assert info.value.reason == "wrong-key-usage"
    # a DSC without DCC usages may sign any type
    any_type = _leaf(ca_dir, passphrase, now, ec.generate_private_key(ec.SECP256R1()), None)
    text = encode_hc1(_payload(), any_type, issued_at=now, expires_at=now + YEAR)
    verify_hc1(text, TrustList.from_certificates([any_type.certificate]), now=now)


def test_issuer_must_match_the_signer_country(signer: Signer, now: datetime) -> None:
    text = encode_hc1(_payload(), signer, issued_at=now, expires_at=now + YEAR)
    with pytest.raises(VerificationError) as info:
        verify_hc1(text, TrustList.from_certificates([signer.certificate], country="DE"), now=now)
    assert info.value.reason == "wrong-issuer"


def test_invalid_payload_is_not_signed(signer: Signer, now: datetime) -> None:
    payload = _payload()
    payload["nam"]["fnt"] = "nguyen"
    with pytest.raises(SchemaError):
        encode_hc1(payload, signer, issued_at=now, expires_at=now + YEAR)


def _cose_of(item: Any) -> str:
    return _pack(cbor2.dumps(item))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("HC2:6BF", "bad-prefix"),
        ("NCFOXN%TS", "bad-prefix"),
        ("HC1:ab!", "bad-base45"),
        ("HC1:A", "bad-base45"),
        ("HC1:" + base45.b45encode(b"not zlib at all").decode(), "bad-zlib"),
        ("HC1:" + base45.b45encode(zlib.compress(b"\x00" * 100_000)).decode(), "bad-zlib"),
        ("HC1:" + base45.b45encode(zlib.compress(b"\x82\x01")[:-3]).decode(), "bad-zlib"),
        (_pack(b"\xff\xff"), "bad-cbor"),
        (_pack(cbor2.dumps([1, 2]) + b"\x00"), "bad-cbor"),
        (_cose_of(cbor2.CBORTag(98, [b"", {}, b"", b""])), "not-cose-sign1"),
        (_cose_of([1, 2]), "not-cose-sign1"),
        (_cose_of([b"", {}, "text", b""]), "not-cose-sign1"),
        (_cose_of([cbor2.dumps({4: b"k"}), {}, cbor2.dumps({1: "VN"}), b""]), "not-cose-sign1"),
        (_cose_of([cbor2.dumps({1: -7, 4: b"k"}), {}, cbor2.dumps({1: "VN", 6: 1, 4: 2}), b""]), "bad-cwt"),
        (_cose_of([cbor2.dumps({1: -7, 4: b"k"}), {}, cbor2.dumps({1: "VN", -260: {1: {}}}), b""]),
         "bad-cwt"),
    ],
)
def test_decode_errors(text: str, reason: str) -> None:
    with pytest.raises(VerificationError) as info:
        decode_hc1(text)
    assert info.value.reason == reason


def test_kid_may_be_unprotected(signer: Signer, now: datetime) -> None:
    protected = cbor2.dumps({1: -7})
    claims = cbor2.dumps({1: "VN", 6: int(now.timestamp()), 4: int((now + YEAR).timestamp()), -260: {1: {}}})
    decoded = decode_hc1(_cose_of(cbor2.CBORTag(18, [protected, {4: signer.kid}, claims, b""])))
    assert decoded.kid == kid_of(signer.certificate)


def test_table_base45_matches_the_base45_package() -> None:
    import os

    import base45

    from vaxpass.signing.hcert import b45encode

    for n in [0, 1, 2, 3, 255, 256, 257, *range(4, 40)]:
        data = os.urandom(n)
        assert b45encode(data) == base45.b45encode(data).decode("ascii")
    assert b45encode(b"\xff\xff") == "FGW" and b45encode(b"AB") == "BB8"  # RFC 9285 §4.3 examples


def test_vectorised_base45_decoding_matches_the_base45_package() -> None:
    import os

    import base45

    from vaxpass.signing.hcert import b45decode, b45encode

    for n in [0, 1, 2, 3, 255, 256, 257, *range(4, 40)]:
        data = os.urandom(n)
        assert b45decode(b45encode(data)) == base45.b45decode(b45encode(data)) == data
    assert b45decode("FGW") == b"\xff\xff" and b45decode("BB8") == b"AB"
    for bad in ["GGW", "A", "ABCD", "abc", "ÀBC", "GGWBB8", "BB8:::", "Z:"]:  # above 0xFFFF / 0xFF, dangling, alphabet
        with pytest.raises(ValueError):
            base45.b45decode(bad)
        with pytest.raises(ValueError):
            b45decode(bad)


@pytest.mark.parametrize("length", [0, 1, 23, 24, 255, 256, 65535, 65536])
def test_prebuilt_cose_bytes_are_what_cbor2_writes(signer: Signer, length: int) -> None:
    """The Sig_structure and the COSE_Sign1 message are built from per-signer prefixes plus byte-string heads:
    byte for byte what cbor2 writes for the whole array, at every head size."""
    protected = cbor2.dumps({1: cose.ES256, 4: signer.kid})
    payload, signature = bytes(range(256)) * (length // 256) + bytes(length % 256), b"\x07" * 64
    assert cose.sig_structure(protected, payload, cose.sig_structure_prefix(protected)) == cbor2.dumps(
        ["Signature1", protected, b"", payload]) == cose.sig_structure(protected, payload)
    assert cose.sign1_message(cose.sign1_prefix(protected), payload, signature) == cbor2.dumps(
        cbor2.CBORTag(18, [protected, {}, payload, signature]))


def test_encoded_certificate_is_the_plain_cbor2_encoding(signer: Signer, now: datetime) -> None:
    """The claims are built from a cached head + the payload: the message must be exactly cbor2's encoding
    of the claims map and of the COSE_Sign1 array (the same bytes the unoptimised encoder wrote)."""
    payload = _payload()
    for issued in (now, now + timedelta(seconds=1)):  # a second issue time gets its own claims head
        text = encode_hc1(payload, signer, issued_at=issued, expires_at=issued + YEAR)
        message = _cose_bytes(text)
        protected, unprotected, payload_bytes, signature = cbor2.loads(message).value
        iat, exp = int(issued.timestamp()), int((issued + YEAR).timestamp())
        assert payload_bytes == cbor2.dumps({1: "VN", 6: iat, 4: exp, -260: {1: payload}})
        assert message == cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload_bytes, signature]))
        assert zlib.decompress(base45.b45decode(text[4:])) == message and text.startswith("HC1:")


def test_der_to_raw_matches_the_der_decoder(signer: Signer) -> None:
    """The slicing DER → r||s conversion agrees with cryptography's decoder on real signatures (leading-zero
    and short r/s included) and on hand-made edge cases; malformed DER still raises."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    key = ec.generate_private_key(ec.SECP256R1())
    ders = [key.sign(i.to_bytes(4, "big"), ec.ECDSA(hashes.SHA256())) for i in range(400)]
    ders += [encode_dss_signature(r, s) for r, s in [(1, 1), (2**255, 5), (2**256 - 1, 2**248), (127, 128)]]
    assert {len(d) for d in ders} >= {70, 71, 72}  # r or s with and without the sign byte
    for der in ders:
        r, s = decode_dss_signature(der)
        assert cose.der_to_raw(der) == r.to_bytes(32, "big") + s.to_bytes(32, "big")
    with pytest.raises(ValueError):
        cose.der_to_raw(b"\x30\x06\x02\x01\x01\x03\x01\x01")  # second element is not an INTEGER
