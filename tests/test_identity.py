"""The pseudonymous id is a fixed function of key, scheme and value: ids already stored must never change."""

from __future__ import annotations

from vaxpass.identity import pseudonym


def test_pseudonym_is_the_keyed_hash_it_always_was() -> None:
    # hmac.new(b"k" * 32, b"VN:001090000001", hashlib.sha256).hexdigest()[:24]
    assert pseudonym(b"k" * 32, "VN", "001090000001") == "p64133dd5c638477dfbd91f72"
    assert pseudonym(b"k" * 32, "P:US", "X1234") != pseudonym(b"k" * 32, "P:GB", "X1234")
