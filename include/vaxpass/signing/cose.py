"""COSE_Sign1 signing and verification (RFC 9052) for ES256 and PS256, with cbor2 and cryptography only.

pycose 1.1.0 breaks with cbor2 >= 6 (arrays decode as tuples), and the structure is small enough to build
here.
"""

from __future__ import annotations

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from vaxpass.errors import SigningError
from vaxpass.signing.keystore import PrivateKey

ES256 = -7
PS256 = -37
COSE_SIGN1_TAG = 18
_ES256_HALF = 32  # P-256: r and s are 32 bytes each
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())  # built once: signing is called per certificate
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
# Verify any salt length: other issuers' PS256 signatures need not use 32.
_PSS_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)


def bstr_head(length: int) -> bytes:
    """The CBOR head of a byte string of `length` bytes (major type 2, shortest form, as cbor2 writes it)."""
    if length < 24:
        return bytes((0x40 + length,))
    if length < 0x100:
        return bytes((0x58, length))
    if length < 0x10000:
        return b"\x59" + length.to_bytes(2, "big")
    if length < 0x100000000:
        return b"\x5a" + length.to_bytes(4, "big")
    return b"\x5b" + length.to_bytes(8, "big")


def sig_structure_prefix(protected: bytes) -> bytes:
    """The Sig_structure bytes before the payload's byte string: the same for every message of one signer."""
    return cbor2.dumps(["Signature1", protected, b"", b""])[:-1]  # drop the empty payload's head (0x40)


def sig_structure(protected: bytes, payload: bytes, prefix: bytes | None = None) -> bytes:
    """The bytes COSE signs: Sig_structure ["Signature1", protected, external_aad = b"", payload], the same
    bytes as `cbor2.dumps` of that array, built from the signer's precomputed `prefix` when given."""
    return (prefix or sig_structure_prefix(protected)) + bstr_head(len(payload)) + payload


def sign1_prefix(protected: bytes) -> bytes:
    """The bytes of a tagged COSE_Sign1 [protected, {}, payload, signature] before the payload."""
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, b"", b""]))[:-2]  # drop two empty heads


def sign1_message(prefix: bytes, payload: bytes, signature: bytes) -> bytes:
    """A tagged COSE_Sign1 with an empty unprotected header, byte for byte what `cbor2.dumps` writes."""
    return prefix + bstr_head(len(payload)) + payload + bstr_head(len(signature)) + signature


def der_to_raw(der: bytes) -> bytes:
    """An ECDSA P-256 signature from DER (SEQUENCE of two INTEGERs) to COSE's raw r||s, by slicing; anything
    not shaped like a P-256 signature goes through the full DER decoder."""
    if 8 <= len(der) <= 72 and der[0] == 0x30 and der[1] == len(der) - 2 and der[2] == 0x02:
        s_at = 4 + der[3]
        if s_at + 2 < len(der) and der[s_at] == 0x02 and s_at + 2 + der[s_at + 1] == len(der):
            r, s = der[4:s_at].lstrip(b"\0"), der[s_at + 2:].lstrip(b"\0")
            if len(r) <= _ES256_HALF and len(s) <= _ES256_HALF:
                return r.rjust(_ES256_HALF, b"\0") + s.rjust(_ES256_HALF, b"\0")
    r_int, s_int = decode_dss_signature(der)
    return r_int.to_bytes(_ES256_HALF, "big") + s_int.to_bytes(_ES256_HALF, "big")


def algorithm_for(key: PrivateKey) -> int:
    """ES256 for an EC P-256 key, PS256 for an RSA key (what the hcert spec allows)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SigningError("ES256 needs an EC P-256 key")
        return ES256
    if isinstance(key, rsa.RSAPrivateKey):
        return PS256
    raise SigningError("unsupported signer key type")


def sign(key: PrivateKey, alg: int, data: bytes) -> bytes:
    """Sign `data`; an ES256 signature is raw r||s (64 bytes), as COSE requires, not DER."""
    if alg == ES256 and isinstance(key, ec.EllipticCurvePrivateKey):
        return der_to_raw(key.sign(data, _ECDSA_SHA256))
    if alg == PS256 and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _PSS, hashes.SHA256())
    raise SigningError(f"key type does not match COSE algorithm {alg}")


def verify(public_key: CertificatePublicKeyTypes, alg: int, data: bytes, signature: bytes) -> bool:
    """Whether `signature` over `data` verifies under `public_key` with COSE algorithm `alg`."""
    try:
        if alg == ES256 and isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1) or len(signature) != 2 * _ES256_HALF:
                return False
            r = int.from_bytes(signature[:_ES256_HALF], "big")
            s = int.from_bytes(signature[_ES256_HALF:], "big")
            public_key.verify(encode_dss_signature(r, s), data, _ECDSA_SHA256)
            return True
        if alg == PS256 and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, _PSS_VERIFY, hashes.SHA256())
            return True
    except InvalidSignature:
        return False
    return False
