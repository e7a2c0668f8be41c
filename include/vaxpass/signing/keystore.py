"""Signing keys in encrypted PKCS#12 files (the embedded mode's key store) and the loaded `Signer`.

Keys never leave the file unencrypted: writes go through a temporary file readable by the owner only, then an
atomic rename. Error messages name the file, never the passphrase.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from vaxpass.errors import SigningError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_KDF_ROUNDS = 50_000


def kid_of(certificate: x509.Certificate) -> bytes:
    """The DCC key identifier: the first 8 bytes of SHA-256 over the certificate's DER."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()[:8]


@dataclass(frozen=True)
class Signer:
    """A private key with its certificate and the certificates above it (root last)."""

    key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @cached_property
    def kid(self) -> bytes:
        return kid_of(self.certificate)


def require_passphrase(passphrase: bytes) -> None:
    """Refuse an empty passphrase: a key store must never be protected by a defaulted secret."""
    if not passphrase:
        raise SigningError("a non-empty passphrase is required for a PKCS#12 key store")


def utc(now: datetime) -> datetime:
    """`now` in UTC; a naive datetime is refused because certificate validity is compared across zones."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise SigningError("timestamps must be timezone-aware")
    return now.astimezone(UTC)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` atomically with mode 0600 (the file holds a private key, even if encrypted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_pkcs12(
    path: Path, name: str, key: PrivateKey, certificate: x509.Certificate,
    chain: tuple[x509.Certificate, ...], passphrase: bytes,
) -> None:
    """Write key, certificate and chain as PKCS#12 with PBES2/AES-256-CBC and a SHA-256 MAC."""
    require_passphrase(passphrase)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase)
    )
    data = pkcs12.serialize_key_and_certificates(
        name.encode(), key, certificate, list(chain) or None, encryption
    )
    write_private(path, data)


def load_signer(p12_path: Path, passphrase: bytes) -> Signer:
    """Load a key store; SigningError if it is missing, unreadable, or the passphrase is wrong."""
    require_passphrase(passphrase)
    try:
        data = p12_path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read key store {p12_path}: {exc.strerror}") from None
    try:
        bundle = pkcs12.load_pkcs12(data, passphrase)
    except ValueError:
        raise SigningError(f"cannot open key store {p12_path}: wrong passphrase or damaged file") from None
    if bundle.key is None or bundle.cert is None:
        raise SigningError(f"key store {p12_path} holds no key and certificate")
    if not isinstance(bundle.key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SigningError(f"key store {p12_path} holds an unsupported key type")
    chain = tuple(c.certificate for c in bundle.additional_certs)
    return Signer(key=bundle.key, certificate=bundle.cert.certificate, chain=chain)
