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


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes COSE signs: Sig_structure ["Signature1", protected, external_aad = b"", payload]."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


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
        r, s = decode_dss_signature(key.sign(data, _ECDSA_SHA256))
        return r.to_bytes(_ES256_HALF, "big") + s.to_bytes(_ES256_HALF, "big")
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
