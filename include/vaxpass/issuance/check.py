"""The pre-issuance check: every certificate is decoded, verified against the published trust list and
schema-validated after signing and before it is stored as published.

A certificate that fails is never published: the issuing transaction of its chunk of persons is rolled back
and the task fails with `PreIssuanceError`, naming each failing UVCI (not personal data) and its reason code.
Verification uses the trust list's public keys parsed once, and the schema check remembers leaves already
passed (pure rules). A certificate that is byte for byte the intended payload signed under the intended kid
(`ExactVerifier`: what `encode_hc1` writes) is shown to pass without decoding its CBOR, its signature still
verified; any other goes through the full `verify_hc1`, which gives the failure its reason code. So the check
costs about one ECDSA verification, a Base45 decode and an inflate per certificate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vaxpass.errors import VaxpassError, VerificationError
from vaxpass.signing.hcert import ExactVerifier, verify_hc1
from vaxpass.signing.trustlist import TrustList


class PreIssuanceError(VaxpassError):
    """Signed certificates failed their check; `failures` maps UVCI → reason code. Nothing was published."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        shown = ", ".join(f"{uvci}: {reason}" for uvci, reason in list(failures.items())[:10])
        super().__init__(f"{len(failures)} certificate(s) failed the pre-issuance check, none published: {shown}")


@dataclass(frozen=True)
class Signed:
    """A certificate as signed: the payload that was meant, the kid that was meant, and the HC1 text."""

    uvci: str
    payload: dict[str, Any]
    kid: bytes
    hc1: str


def check_before_publishing(certificates: Iterable[Signed], trust_list: TrustList, *, at: datetime) -> int:
    """Verify each certificate at its issue time; it must carry exactly the payload and kid intended. Collects
    every failure before raising; returns how many passed."""
    failures: dict[str, str] = {}
    checked = 0
    fast = ExactVerifier(trust_list, now=at)
    for cert in certificates:
        checked += 1
        if fast.verifies(cert.hc1, cert.kid, cert.payload):
            continue
        try:
            decoded = verify_hc1(cert.hc1, trust_list, now=at)
        except VerificationError as exc:
            failures[cert.uvci] = exc.reason
            continue
        if decoded.kid != cert.kid:
            failures[cert.uvci] = "wrong-kid"
        elif decoded.payload != cert.payload:
            failures[cert.uvci] = "payload-mismatch"
    if failures:
        raise PreIssuanceError(failures)
    return checked
