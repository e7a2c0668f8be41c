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

import base64
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


def luhn_mod_n(s: str) -> str:
    """The Luhn mod 38 check character of `s`; SigningError if `s` has a character outside the alphabet."""
    n = len(ALPHABET)
    try:
        codes = [_INDEX[char] for char in reversed(s)]
    except KeyError:
        raise SigningError("UVCI checksum input has a character outside A-Z 0-9 / :") from None
    # the rightmost character of the input is doubled, as the check character will follow it; then every other
    total = sum(_DOUBLED[code] for code in codes[0::2]) + sum(codes[1::2])
    return ALPHABET[(n - total % n) % n]


def make_uvci(seed: bytes, *, country: str = "VN") -> str:
    """A checksummed UVCI whose opaque id is the first 16 base32 characters of SHA-256(seed)."""
    if not seed:
        raise SigningError("a UVCI seed is required (an empty seed would give every certificate the same id)")
    if not _COUNTRY.fullmatch(country):
        raise SigningError("UVCI country must be two upper-case letters")
    # base32 works in 5-byte groups: the first 10 bytes give exactly the first 16 characters, no padding
    opaque = base64.b32encode(hashlib.sha256(seed).digest()[:10]).decode("ascii")
    body = f"{PREFIX}{country}:{opaque}"
    return f"{body}#{luhn_mod_n(body)}"  # 33 characters, within MAX_LENGTH


def is_valid_uvci(s: str, *, require_checksum: bool = True) -> bool:
    """Whether `s` is a well-formed option-01 UVCI whose check character (if any, or if required) is right."""
    if len(s) > 80 or not _UVCI.match(s):
        return False
    body, sep, check = s.partition("#")
    if not sep:
        return not require_checksum
    return luhn_mod_n(body) == check
