"""Unique Vaccination Certificate Identifiers (UVCI), EU guidelines Annex 2, schema option 01 (opaque id).

Form: `URN:UVCI:01:VN:<16 base32 characters>#<check character>`, 33 characters. The opaque id is derived
from a caller-given seed (e.g. person id + certificate version) so a rerun reproduces the same UVCI and a new
version gets a new one; 80 bits keep collisions out of reach for tens of millions of certificates.

Checksum: Luhn mod N over the alphabet `ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:` (N = 38), computed over the
whole string before `#`, prefix `URN:UVCI:` included (DCC schema FAQ "UVCI checksum"; it reproduces the check
character of the EU examples). Characters outside the alphabet are not skipped: a UVCI may only contain those
characters, so such input is rejected.
"""

from __future__ import annotations

import hashlib
import re

from vaxpass.errors import SigningError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:"
PREFIX = "URN:UVCI:01:"
OPAQUE_ID_LENGTH = 16
MAX_LENGTH = 50
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_DOUBLED = [2 * i // len(ALPHABET) + 2 * i % len(ALPHABET) for i in range(len(ALPHABET))]  # a doubled code's digit sum
_COUNTRY = re.compile(r"[A-Z]{2}")
_UVCI = re.compile(r"^(URN:UVCI:)?01:[A-Z]{2}:[A-Z0-9/:]+(#[A-Z0-9/:])?$")


def _luhn_total(s: str) -> int:
    """The Luhn mod N sum of `s` (before the final mod N); SigningError if `s` has a character outside the
    alphabet."""
    try:
        codes = [_INDEX[char] for char in reversed(s)]
    except KeyError:
        raise SigningError("UVCI checksum input has a character outside A-Z 0-9 / :") from None
    # the rightmost character of the input is doubled, as the check character will follow it; then every other
    return sum(_DOUBLED[code] for code in codes[0::2]) + sum(codes[1::2])


def luhn_mod_n(s: str) -> str:
    """The Luhn mod 38 check character of `s`; SigningError if `s` has a character outside the alphabet."""
    n = len(ALPHABET)
    return ALPHABET[(n - _luhn_total(s) % n) % n]


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# 10 bits of the digest make two base32 characters; at an even offset of the 16-character opaque id the first
# counts plain in the Luhn sum and the second doubled (the id's last character is doubled). Per 10-bit value:
# its two characters and what they add to the sum.
_PAIR_TEXT = [_BASE32[v >> 5] + _BASE32[v & 31] for v in range(1024)]
_PAIR_SUM = [_INDEX[_BASE32[v >> 5]] + _DOUBLED[_INDEX[_BASE32[v & 31]]] for v in range(1024)]
_PAIR_SHIFTS = tuple(range(70, -1, -10))  # the 80 bits of the digest's first 10 bytes, left to right
_PREFIX_SUMS: dict[str, int] = {}


def make_uvci(seed: bytes, *, country: str = "VN") -> str:
    """A checksummed UVCI whose opaque id is the first 16 base32 characters of SHA-256(seed).

    Built from the digest's first 80 bits two characters at a time by table (`base64.b32encode` is Python
    code, and with the generic Luhn sum it was 80 % of the 8 µs a UVCI cost); the prefix's share of the Luhn
    sum is worked out once per country. A test holds it to the plain construction."""
    if not seed:
        raise SigningError("a UVCI seed is required (an empty seed would give every certificate the same id)")
    prefix = f"{PREFIX}{country}:"
    prefix_sum = _PREFIX_SUMS.get(prefix)
    if prefix_sum is None:
        if not _COUNTRY.fullmatch(country):
            raise SigningError("UVCI country must be two upper-case letters")
        # "A" is 0, plain or doubled: the sum of the prefix at its place before a 16-character id
        prefix_sum = _PREFIX_SUMS[prefix] = _luhn_total(prefix + "A" * OPAQUE_ID_LENGTH)
    bits = int.from_bytes(hashlib.sha256(seed).digest()[:10], "big")
    pairs = [bits >> shift & 1023 for shift in _PAIR_SHIFTS]
    n = len(ALPHABET)
    check = ALPHABET[(n - (prefix_sum + sum(map(_PAIR_SUM.__getitem__, pairs))) % n) % n]
    return f"{prefix}{''.join(map(_PAIR_TEXT.__getitem__, pairs))}#{check}"  # 33 characters, within MAX_LENGTH


def is_valid_uvci(s: str, *, require_checksum: bool = True) -> bool:
    """Whether `s` is a well-formed option-01 UVCI whose check character (if any, or if required) is right."""
    if len(s) > 80 or not _UVCI.match(s):
        return False
    body, sep, check = s.partition("#")
    if not sep:
        return not require_checksum
    return luhn_mod_n(body) == check
