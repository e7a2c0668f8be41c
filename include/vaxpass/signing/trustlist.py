"""The trust list verifiers use: document signer certificates by kid, with their country.

Several certificates may share a kid (8 bytes of a hash), so each kid maps to a list and a verifier tries
each.
The JSON form is a list of `{"kid", "certificate", "country", "not_before", "not_after"}` objects (kid and
DER certificate in standard base64, dates ISO 8601 UTC), sorted for stable diffs.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vaxpass.errors import VerificationError
from vaxpass.signing.keystore import kid_of, write_private

_DER = serialization.Encoding.DER


@dataclass(frozen=True)
class TrustEntry:
    """One trusted document signer certificate."""

    kid: bytes
    certificate: x509.Certificate
    country: str


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class TrustList:
    """Trusted DSCs indexed by kid."""

    entries: dict[bytes, list[TrustEntry]] = field(default_factory=dict)

    @classmethod
    def from_certificates(cls, certs: Iterable[x509.Certificate], country: str = "VN") -> TrustList:
        trust_list = cls()
        for cert in certs:
            trust_list.add(cert, country)
        return trust_list

    def add(self, certificate: x509.Certificate, country: str = "VN") -> None:
        """Trust a certificate (adding the same certificate twice keeps one entry)."""
        kid = kid_of(certificate)
        bucket = self.entries.setdefault(kid, [])
        if all(e.certificate != certificate for e in bucket):
            bucket.append(TrustEntry(kid=kid, certificate=certificate, country=country))

    def entries_for(self, kid: bytes) -> list[TrustEntry]:
        return list(self.entries.get(kid, ()))

    def certificates_for(self, kid: bytes) -> list[x509.Certificate]:
        return [e.certificate for e in self.entries.get(kid, ())]

    def __iter__(self) -> Iterator[TrustEntry]:
        for kid in sorted(self.entries):
            yield from self.entries[kid]

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.entries.values())

    def to_json(self) -> str:
        items = [
            {
                "kid": base64.b64encode(e.kid).decode("ascii"),
                "certificate": base64.b64encode(e.certificate.public_bytes(_DER)).decode("ascii"),
                "country": e.country,
                "not_before": _iso(e.certificate.not_valid_before_utc),
                "not_after": _iso(e.certificate.not_valid_after_utc),
            }
            for e in self
        ]
        items.sort(key=lambda item: (item["kid"], item["certificate"]))
        return json.dumps(items, indent=2) + "\n"

    def save(self, path: Path) -> None:
        """Write the JSON form atomically (it is public, but a half-written list would lock verifiers out)."""
        write_private(path, self.to_json().encode("utf-8"))
        path.chmod(0o644)

    @classmethod
    def from_json(cls, text: str) -> TrustList:
        """Parse the JSON form; each kid must match its certificate (VerificationError 'bad-trust-list')."""
        try:
            items = json.loads(text)
            if not isinstance(items, list):
                raise ValueError("not a JSON list")
            trust_list = cls()
            for i, item in enumerate(items):
                cert = x509.load_der_x509_certificate(base64.b64decode(item["certificate"], validate=True))
                if base64.b64decode(item["kid"], validate=True) != kid_of(cert):
                    raise VerificationError("bad-trust-list", f"entry {i}: kid does not match")
                trust_list.add(cert, str(item["country"]))
        except VerificationError:
            raise
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise VerificationError("bad-trust-list", type(exc).__name__) from None
        return trust_list

    @classmethod
    def load(cls, path: Path) -> TrustList:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise VerificationError("bad-trust-list", f"cannot read {path}: {exc.strerror}") from None
        return cls.from_json(text)
