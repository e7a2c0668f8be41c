"""Pseudonymous person ids: a keyed hash of the national identity, the only way a person leaves the ops store."""

from __future__ import annotations

import hashlib
import hmac


def pseudonym(key: bytes, scheme: str, value: str) -> str:
    """`p` + 24 hex of HMAC-SHA256(key, scheme:value); scheme is `VN` (CCCD) or `P:<nationality>` (passport)."""
    digest = hmac.new(key, f"{scheme}:{value}".encode(), hashlib.sha256).hexdigest()
    return "p" + digest[:24]
