from __future__ import annotations

import re

import pytest

from vaxpass.errors import SigningError
from vaxpass.signing.uvci import ALPHABET, is_valid_uvci, luhn_mod_n, make_uvci


def test_checksum_matches_the_eu_example() -> None:
    # The EU schema examples carry this UVCI; its check character covers the URN:UVCI: prefix too.
    assert luhn_mod_n("URN:UVCI:01:NL:DADFCC47C7334E45A906DB12FD859FB7") == "1"
    assert is_valid_uvci("URN:UVCI:01:NL:DADFCC47C7334E45A906DB12FD859FB7#1")


def test_make_uvci_is_deterministic_and_well_formed() -> None:
    uvci = make_uvci(b"person-1|v1")
    assert uvci == make_uvci(b"person-1|v1")
    assert uvci != make_uvci(b"person-1|v2")
    assert re.fullmatch(r"URN:UVCI:01:VN:[A-Z2-7]{16}#[A-Z0-9/:]", uvci)
    assert len(uvci) <= 50
    assert is_valid_uvci(uvci)


def test_every_single_character_change_is_detected() -> None:
    uvci = make_uvci(b"seed")
    body, check = uvci.split("#")
    for i, original in enumerate(body):
        for replacement in ALPHABET:
            if replacement != original:
                changed = body[:i] + replacement + body[i + 1:]
                assert luhn_mod_n(changed) != check, (i, replacement)
    for replacement in ALPHABET.replace(check, ""):
        assert not is_valid_uvci(f"{body}#{replacement}")


@pytest.mark.parametrize(
    "text",
    ["", "URN:UVCI:01:VN:", "URN:UVCI:02:VN:ABC#A", "urn:uvci:01:vn:abc", "URN:UVCI:01:VN:AB-C",
     "URN:UVCI:01:VN:AB#"],
)
def test_malformed_uvcis_are_rejected(text: str) -> None:
    assert not is_valid_uvci(text)


def test_checksum_is_required_unless_told_otherwise() -> None:
    vietnam_style = "URN:UVCI:01:VN:" + "0123456789ABCDEF" * 2  # Vietnam's real UVCIs carry no checksum
    assert not is_valid_uvci(vietnam_style)
    assert is_valid_uvci(vietnam_style, require_checksum=False)


def test_bad_input_raises() -> None:
    with pytest.raises(SigningError):
        luhn_mod_n("URN:UVCI:01:VN:abc")
    with pytest.raises(SigningError):
        make_uvci(b"")


def test_fast_make_uvci_equals_the_plain_construction() -> None:
    """`make_uvci` encodes only the digest bytes it uses and sums the fixed prefix once: the result must be
    the first 16 base32 characters of SHA-256(seed) with the generic Luhn mod N character, for any country."""
    import base64
    import hashlib

    from vaxpass.signing.uvci import luhn_mod_n

    for i in range(3000):
        seed = hashlib.sha512(str(i).encode()).digest()[: 1 + i % 60]
        for country in ("VN", "DE", "XK"):
            body = f"URN:UVCI:01:{country}:" + base64.b32encode(hashlib.sha256(seed).digest()).decode()[:16]
            assert make_uvci(seed, country=country) == f"{body}#{luhn_mod_n(body)}"
