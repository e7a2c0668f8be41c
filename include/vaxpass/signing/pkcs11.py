"""Signing keys on a PKCS#11 token (an HSM or USB token in production; SoftHSM2 in tests), through
python-pkcs11.

`TokenKey` is a `cryptography` EC private key whose `sign` runs on the token, so everything that signs with a
`Signer` (COSE_Sign1 for the QR) works unchanged. The token does raw ECDSA (CKM_ECDSA) over a SHA-256 digest
computed here — SoftHSM2, like many tokens, offers no CKM_ECDSA_SHA256 — and returns r‖s, which is turned into
the DER form `cryptography`'s interface promises (COSE turns it back into r‖s). The private key never leaves
the token: `generate_key` creates it there (CKA_SENSITIVE, not extractable) and only the public key comes out
for the CA to certify; `put_signer` imports an existing PKCS#12 key for a migration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from vaxpass.config import TokenConfig
from vaxpass.errors import SigningError
from vaxpass.signing.keystore import Signer, kid_of

_P256 = "secp256r1"
__all__ = ["TokenConfig", "TokenKey", "generate_key", "open_session", "put_signer", "store_certificate",
           "token_signer"]


@contextmanager
def open_session(config: TokenConfig, *, rw: bool = False) -> Iterator[Any]:
    """A logged-in session on the token; errors name the library and token, never the PIN."""
    try:
        lib = pkcs11.lib(str(config.library))
        token = lib.get_token(token_label=config.token_label)
        session = token.open(rw=rw, user_pin=config.pin)
    except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
        raise SigningError(f"cannot open PKCS#11 token {config.token_label!r} with {config.library}: "
                           f"{type(exc).__name__}") from None
    try:
        yield session
    finally:
        session.close()


class TokenKey(ec.EllipticCurvePrivateKey):
    """An EC P-256 private key that lives on a token; only signing is possible."""

    def __init__(self, private_key: Any, public_key: ec.EllipticCurvePublicKey) -> None:
        self._key = private_key
        self._public = public_key

    def sign(self, data: bytes | bytearray | memoryview, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not (isinstance(signature_algorithm, ec.ECDSA) and isinstance(signature_algorithm.algorithm,
                                                                         hashes.SHA256)):
            raise SigningError("a token key signs ECDSA with SHA-256 only")
        try:
            raw = self._key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
        except pkcs11.PKCS11Error as exc:
            raise SigningError(f"PKCS#11 signing failed: {type(exc).__name__}") from None
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    @property
    def curve(self) -> ec.EllipticCurve:
        return ec.SECP256R1()

    @property
    def key_size(self) -> int:
        return 256

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise SigningError("a token key cannot be exported or used for key agreement")

    exchange = private_numbers = private_bytes = _refuse  # type: ignore[assignment]

    def __copy__(self) -> TokenKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> TokenKey:
        return self


def generate_key(session: Any, label: str) -> ec.EllipticCurvePublicKey:
    """Create an EC P-256 key pair on the token (private part sensitive, never extractable); returns the public
    key for the CA to certify."""
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(_P256)}, local=True)
    public, _ = params.generate_keypair(store=True, label=label, private_template={
        Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True})
    loaded = serialization.load_der_public_key(encode_ec_public_key(public))
    assert isinstance(loaded, ec.EllipticCurvePublicKey)
    return loaded


def store_certificate(session: Any, label: str, certificate: x509.Certificate) -> None:
    """Keep the key's certificate on the token beside it (same label, CKA_ID = the DCC kid)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    for old in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label}):
        old.destroy()
    session.create_object({
        Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: kid_of(certificate), Attribute.VALUE: der,
        Attribute.SUBJECT: certificate.subject.public_bytes()})


def put_signer(session: Any, label: str, signer: Signer) -> None:
    """Import a software key and its certificate into the token (migrating a PKCS#12 DSC)."""
    key = signer.key
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningError("only EC P-256 keys go on the token")
    session.create_object({
        Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: KeyType.EC, Attribute.TOKEN: True,
        Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
        Attribute.LABEL: label, Attribute.ID: signer.kid,
        Attribute.EC_PARAMS: encode_named_curve_parameters(_P256),
        Attribute.VALUE: key.private_numbers().private_value.to_bytes(32, "big")})
    store_certificate(session, label, signer.certificate)


def token_signer(session: Any, label: str) -> Signer:
    """The `Signer` of the key and certificate labelled `label` on the token (session must stay open)."""
    try:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=label)
        [cert_obj] = list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label}))
    except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned, ValueError):
        raise SigningError(f"the token has no single key and certificate labelled {label!r}") from None
    certificate = x509.load_der_x509_certificate(cert_obj[Attribute.VALUE])
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return Signer(key=TokenKey(private, public), certificate=certificate)
