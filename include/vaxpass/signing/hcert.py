"""Electronic Health Certificates (hcert spec 1.0): DCC payload -> CWT -> COSE_Sign1 -> zlib -> Base45 -> HC1.

`encode_hc1` signs, `decode_hc1` unpacks without trusting anything, `verify_hc1` checks a decoded certificate
against a trust list at an explicit `now`. Every failure is a VerificationError with a short reason code:
decode - bad-prefix, bad-base45, bad-zlib, bad-cbor, not-cose-sign1, bad-cwt;
verify - unknown-kid, bad-signature, dsc-not-valid, wrong-issuer, expired, not-yet-valid, wrong-key-usage,
schema.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import cbor2
import numpy as np
from cryptography import x509

from vaxpass.errors import SchemaError, SigningError, VerificationError
from vaxpass.signing import cose
from vaxpass.signing.dcc import validate_payload
from vaxpass.signing.keystore import Signer, utc
from vaxpass.signing.pki import EKU_DCC_RECOVERY, EKU_DCC_TEST, EKU_DCC_VACCINATION
from vaxpass.signing.trustlist import TrustEntry, TrustList

PREFIX = "HC1:"
CLOCK_SKEW = timedelta(minutes=5)  # tolerated difference between the issuer's and the verifier's clocks
_MAX_COSE_BYTES = 64 * 1024  # refuse zlib bombs: a real DCC is well under 2 KiB
# CWT claim keys (RFC 8392) and the hcert claim
_ISS, _EXP, _IAT, _HCERT, _DCC = 1, 4, 6, -260, 1
_HEADER_ALG, _HEADER_KID = 1, 4
_EKU_FOR_GROUP = {"v": EKU_DCC_VACCINATION, "t": EKU_DCC_TEST, "r": EKU_DCC_RECOVERY}


@dataclass(frozen=True)
class DecodedHcert:
    """An unpacked (not yet trusted) health certificate, with the exact signed bytes kept for verification."""

    kid: bytes
    alg: int
    issuer: str
    issued_at: datetime
    expires_at: datetime
    payload: dict[str, Any]
    protected: bytes
    payload_bytes: bytes
    signature: bytes


def encode_hc1(payload: dict[str, Any], signer: Signer, *, issued_at: datetime, expires_at: datetime,
               issuer: str = "VN") -> str:
    """Validate, sign (ES256 for EC P-256 keys, PS256 for RSA keys) and pack a DCC payload into `HC1:` text.

    The expiry may never pass the signer certificate's notAfter, the certificate must be valid at issue, and
    its extended key usage must allow the certificate type.
    """
    validate_payload(payload)
    iat, exp = int(utc(issued_at).timestamp()), int(utc(expires_at).timestamp())
    facts = _signer_facts(signer)
    if exp <= iat:
        raise SigningError("expires_at must be after issued_at")
    if exp > facts.not_after:
        raise SigningError("expires_at is after the document signer certificate's notAfter")
    if iat < facts.not_before:
        raise SigningError("the document signer certificate is not yet valid at issued_at")
    if facts.dcc_usages and not _needed_usages(payload) <= facts.dcc_usages:
        raise SigningError("the signer certificate's extended key usage excludes this type")
    payload_bytes = _claims_head(issuer, iat, exp) + cbor2.dumps(payload)
    signature = cose.sign(signer.key, facts.alg, cose.sig_structure(facts.protected, payload_bytes,
                                                                     facts.sig_prefix))
    message = cose.sign1_message(facts.message_prefix, payload_bytes, signature)
    # Level 9 costs no more than the default or smaller windows and other strategies on a ~350-byte message
    # (measured: the per-call cost is the deflate block itself, ~15 µs whatever the level) and is what earlier
    # certificates were packed with, so outputs stay byte-identical.
    return PREFIX + b45encode(zlib.compress(message, 9))


_CLAIMS_HEADS: dict[tuple[str, int, int], bytes] = {}


def _claims_head(issuer: str, iat: int, exp: int) -> bytes:
    """The CWT claims map {iss, iat, exp, hcert: {1: …}} up to the DCC payload: one issuance run signs every
    certificate with the same three claims, so the bytes are built once (the same bytes `cbor2.dumps` writes
    for the whole map, which ends with the payload)."""
    key = (issuer, iat, exp)
    head = _CLAIMS_HEADS.get(key)
    if head is None:
        if len(_CLAIMS_HEADS) >= 64:
            _CLAIMS_HEADS.clear()
        head = cbor2.dumps({_ISS: issuer, _IAT: iat, _EXP: exp, _HCERT: {_DCC: 0}})[:-1]  # drop the 0 (0x00)
        _CLAIMS_HEADS[key] = head
    return head


@dataclass(frozen=True)
class _SignerFacts:
    """What every signature of one signer repeats: worked out once per signer, not once per certificate."""

    alg: int
    protected: bytes
    sig_prefix: bytes  # Sig_structure bytes before the payload
    message_prefix: bytes  # tagged COSE_Sign1 bytes before the payload
    not_before: float
    not_after: float
    dcc_usages: frozenset[x509.ObjectIdentifier]


_FACTS: dict[int, tuple[Signer, _SignerFacts]] = {}


def _signer_facts(signer: Signer) -> _SignerFacts:
    """Cached by identity: hashing a `Signer` hashes its certificate, which costs a third of a signature."""
    known = _FACTS.get(id(signer))
    if known is not None and known[0] is signer:
        return known[1]
    if len(_FACTS) >= 16:
        _FACTS.clear()
    alg = cose.algorithm_for(signer.key)
    cert = signer.certificate
    protected = cbor2.dumps({_HEADER_ALG: alg, _HEADER_KID: signer.kid})
    facts = _SignerFacts(alg=alg, protected=protected, sig_prefix=cose.sig_structure_prefix(protected),
                        message_prefix=cose.sign1_prefix(protected),
                        not_before=cert.not_valid_before_utc.timestamp(),
                        not_after=cert.not_valid_after_utc.timestamp(), dcc_usages=_dcc_usages(cert))
    _FACTS[id(signer)] = (signer, facts)  # the signer is kept alive with it, so its id is not reused
    return facts


_BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@cache
def _base45_table() -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Row n: the three Base45 characters of the 16-bit value n (RFC 9285 §4: least significant digit first)."""
    n = np.arange(65536)
    alphabet = np.frombuffer(_BASE45.encode("ascii"), np.uint8)
    return alphabet[np.stack([n % 45, n // 45 % 45, n // 2025], axis=1)]


def b45encode(data: bytes) -> str:
    """Base45 (RFC 9285): one table lookup for all byte pairs at once (numpy); the same output as the `base45`
    package, which encodes digit by digit in Python (~20x slower on a certificate)."""
    even = len(data) - len(data) % 2
    text = _base45_table()[np.frombuffer(data, ">u2", even // 2)].tobytes().decode("ascii")
    if even < len(data):
        last = data[-1]
        text += _BASE45[last % 45] + _BASE45[last // 45]
    return text


_BASE45_DIGITS = bytes.maketrans(_BASE45.encode("ascii"), bytes(range(45)))  # character -> its digit value
_BASE45_BYTES = _BASE45.encode("ascii")
_BASE45_WEIGHTS = np.array([1, 45, 2025], np.uint32)


def b45decode(text: str) -> bytes:
    """Base45 (RFC 9285) decoding, vectorised like `b45encode`; ValueError on anything the `base45` package
    rejects (a character outside the alphabet, a dangling character, a group above its byte range)."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("Invalid base45 string") from None
    if len(raw) % 3 == 1 or raw.translate(None, _BASE45_BYTES):  # what is left is outside the alphabet
        raise ValueError("Invalid base45 string")
    digits = np.frombuffer(raw.translate(_BASE45_DIGITS), np.uint8)
    full = len(raw) - len(raw) % 3
    values = digits[:full].reshape(-1, 3) @ _BASE45_WEIGHTS
    if full and values.max() > 0xFFFF:
        raise ValueError("Invalid base45 string")
    data = values.astype(">u2").tobytes()
    if full < len(raw):
        last = int(digits[full]) + int(digits[full + 1]) * 45
        if last > 0xFF:
            raise ValueError("Invalid base45 string")
        data += bytes((last,))
    return data


_LEAF_TYPES = frozenset({str, int, bytes, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """cbor2 >= 6 decodes arrays as tuples (and maps inside them as frozendicts): back to lists and dicts.
    Leaves (by exact type, one set lookup) are taken as they are without a call: they are most of a payload."""
    kind = type(value)
    if kind is list or kind is tuple:
        return [v if type(v) in _LEAF_TYPES else _plain(v) for v in value]
    if kind is dict or isinstance(value, Mapping):
        return {k if type(k) in _LEAF_TYPES else _plain(k): v if type(v) in _LEAF_TYPES else _plain(v)
                for k, v in value.items()}
    return value


def _loads(data: bytes) -> Any:
    """Decode exactly one CBOR item (trailing bytes are an error, unlike `cbor2.loads`)."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise VerificationError("bad-cbor", type(exc).__name__) from None
    if stream.tell() != len(data):
        raise VerificationError("bad-cbor", "trailing bytes")
    return item


def _unpack(text: str) -> bytes:
    text = text.strip()
    if not text.startswith(PREFIX):
        raise VerificationError("bad-prefix")
    try:
        compressed = b45decode(text[len(PREFIX):])
    except ValueError:
        raise VerificationError("bad-base45") from None
    inflater = zlib.decompressobj()
    try:
        message = inflater.decompress(compressed, _MAX_COSE_BYTES)
    except zlib.error:
        raise VerificationError("bad-zlib") from None
    if inflater.unconsumed_tail:
        raise VerificationError("bad-zlib", "too large")
    if not inflater.eof:
        raise VerificationError("bad-zlib", "truncated")
    return message


def _timestamp(claims: Mapping[Any, Any], key: int) -> datetime:
    value = claims.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise VerificationError("bad-cwt", f"claim {key} missing or not a number")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError):
        raise VerificationError("bad-cwt", f"claim {key} out of range") from None


def decode_hc1(text: str) -> DecodedHcert:
    """Unpack `HC1:` text into its parts without checking the signature or any date."""
    item = _loads(_unpack(text))
    if isinstance(item, cbor2.CBORTag) and item.tag == 61:  # a CWT tag may wrap the COSE message (RFC 8392)
        item = item.value
    if isinstance(item, cbor2.CBORTag):
        if item.tag != cose.COSE_SIGN1_TAG:
            raise VerificationError("not-cose-sign1", f"CBOR tag {item.tag}")
        item = item.value
    if not isinstance(item, tuple | list) or len(item) != 4:
        raise VerificationError("not-cose-sign1", "not a 4-element array")
    protected, unprotected, payload_bytes, signature = item
    if not (isinstance(protected, bytes) and isinstance(unprotected, Mapping)
            and isinstance(payload_bytes, bytes) and isinstance(signature, bytes)):
        raise VerificationError("not-cose-sign1", "element types")
    headers = _loads(protected) if protected else {}
    if not isinstance(headers, Mapping):
        raise VerificationError("not-cose-sign1", "protected header is not a map")
    alg = headers.get(_HEADER_ALG)
    kid = headers.get(_HEADER_KID, unprotected.get(_HEADER_KID, b""))  # kid may also be unprotected
    if isinstance(alg, bool) or not isinstance(alg, int) or not isinstance(kid, bytes):
        raise VerificationError("not-cose-sign1", "alg or kid header")
    claims = _loads(payload_bytes)
    if not isinstance(claims, Mapping):
        raise VerificationError("bad-cwt", "claims are not a map")
    hcert = claims.get(_HCERT)
    dcc = hcert.get(_DCC) if isinstance(hcert, Mapping) else None
    issuer = claims.get(_ISS, "")
    if not isinstance(dcc, Mapping) or not isinstance(issuer, str):
        raise VerificationError("bad-cwt", "hcert claim or issuer")
    return DecodedHcert(
        kid=kid, alg=alg, issuer=issuer, issued_at=_timestamp(claims, _IAT),
        expires_at=_timestamp(claims, _EXP), payload=_plain(dcc), protected=protected,
        payload_bytes=payload_bytes, signature=signature,
    )


_USAGES: dict[int, tuple[x509.Certificate, frozenset[x509.ObjectIdentifier]]] = {}


def _dcc_usages(cert: x509.Certificate) -> frozenset[x509.ObjectIdentifier]:
    """The DCC types the certificate's EKU names; cached by identity (hashing a certificate is not cheap)."""
    known = _USAGES.get(id(cert))
    if known is not None and known[0] is cert:
        return known[1]
    try:
        found = frozenset(set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
                          & set(_EKU_FOR_GROUP.values()))
    except x509.ExtensionNotFound:
        found = frozenset()
    if len(_USAGES) >= 1024:
        _USAGES.clear()
    _USAGES[id(cert)] = (cert, found)  # the certificate is kept alive with it, so its id is not reused
    return found


_PUBLIC_KEYS: dict[int, tuple[x509.Certificate, Any]] = {}


def _public_key(cert: x509.Certificate) -> Any:
    """The certificate's public key, parsed once per certificate object (cached by identity, like the EKUs):
    parsing it again for every signature checked costs more than a third of the verification."""
    known = _PUBLIC_KEYS.get(id(cert))
    if known is not None and known[0] is cert:
        return known[1]
    if len(_PUBLIC_KEYS) >= 1024:
        _PUBLIC_KEYS.clear()
    key = cert.public_key()
    _PUBLIC_KEYS[id(cert)] = (cert, key)  # the certificate is kept alive with it, so its id is not reused
    return key


def _needed_usages(payload: dict[str, Any]) -> set[x509.ObjectIdentifier]:
    return {oid for group, oid in _EKU_FOR_GROUP.items() if group in payload}


def _check_key_usage(cert: x509.Certificate, payload: dict[str, Any]) -> None:
    """A DSC whose EKU names DCC types may sign only those types; one without DCC EKUs may sign any."""
    dcc_usages = _dcc_usages(cert)
    if dcc_usages and not _needed_usages(payload) <= dcc_usages:
        raise VerificationError("wrong-key-usage")


_ROUND_TRIP_LEAVES = frozenset({str, int, bool, type(None)})
_ONLY_TEXT_KEYS = frozenset({str})


def _round_trips(value: Any) -> bool:
    """Whether CBOR encoding then decoding (with `_plain`) gives back an equal value with the same type at every
    leaf: it does for dicts with text keys, lists, text, integers, booleans and null, which is all a DCC payload
    holds. A tuple comes back a list, a NaN unequal, a float maybe narrower: such a payload is not shown equal
    by comparing bytes. A loop over a stack, not recursion over generators (a third of the cost)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not _ONLY_TEXT_KEYS.issuperset(map(type, item)):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind not in _ROUND_TRIP_LEAVES:
            return False
    return True


def _bstr_at(data: bytes, at: int) -> tuple[int, int] | None:
    """Where the definite-length byte string whose head starts at `at` has its content, or None."""
    if at >= len(data) or data[at] >> 5 != 2 or data[at] & 0x1F > 27:
        return None
    info = data[at] & 0x1F
    if info < 24:
        start, size = at + 1, info
    else:
        start = at + 1 + (1 << (info - 24))
        size = int.from_bytes(data[at + 1:start], "big")
    return (start, start + size) if start + size <= len(data) else None


class ExactVerifier:
    """The pre-issuance fast path: shows that `verify_hc1` would accept a certificate and decode exactly the
    intended kid and payload, without decoding it.

    A certificate this project signs is one tagged COSE_Sign1 byte string: the protected header {alg, kid}, an
    empty unprotected header, the CWT claims head {iss, iat, exp, hcert: {1: …}} followed by `cbor2.dumps` of
    the payload, and the signature. So the HC1 text is unpacked (the same `_unpack` and limits) and compared
    byte for byte with that form built from the intended kid and payload; the signature is verified over the
    Sig_structure with the trust list's keys for the kid, as always, for every certificate. What a claims head
    implies (the DSC valid at iat, the issuer its country, expiry, not-yet-valid) is the same for every
    certificate of a run, so it is worked out once per (trust entry, claims head). Decoding the CBOR three
    times, un-freezing and re-validating the result made the check 153 µs per certificate; this path is
    124 µs, ~90 of them the ECDSA verification (CPU, 3,000 bench payloads).

    `verifies` is True only when the full path would pass with `decoded.kid == kid` and
    `decoded.payload == payload`; False means only "not shown here" (anything unusual: another encoding the
    full decoder accepts, a bad signature, a date): the caller then runs `verify_hc1` for the verdict and its
    reason code, so a faulty certificate fails exactly as it did without this path.
    """

    def __init__(self, trust_list: TrustList, *, now: datetime, clock_skew: timedelta = CLOCK_SKEW) -> None:
        self._trust = trust_list
        self._at = utc(now)
        self._clock_skew = clock_skew
        # kid -> its trust entries and, per algorithm, (tagged COSE_Sign1 prefix, Sig_structure prefix)
        self._forms: dict[bytes, tuple[list[TrustEntry], list[tuple[int, bytes, bytes]]]] = {}
        self._heads: dict[tuple[int, bytes], bool] = {}  # (id of the trust entry, claims head) -> its facts hold

    def _forms_for(self, kid: bytes) -> tuple[list[TrustEntry], list[tuple[int, bytes, bytes]]]:
        known = self._forms.get(kid)
        if known is None:
            forms = []
            for alg in (cose.ES256, cose.PS256):
                protected = cbor2.dumps({_HEADER_ALG: alg, _HEADER_KID: kid})  # as `_signer_facts` writes it
                forms.append((alg, cose.sign1_prefix(protected), cose.sig_structure_prefix(protected)))
            known = self._forms[kid] = (self._trust.entries_for(kid), forms)
        return known

    def verifies(self, text: str, kid: bytes, payload: dict[str, Any]) -> bool:
        """Whether the HC1 text is the intended payload, signed under `kid`, and passes every check."""
        if type(kid) is not bytes or not _round_trips(payload):
            return False
        try:
            message = _unpack(text)
            dcc = cbor2.dumps(payload)
        except (VerificationError, cbor2.CBOREncodeError, ValueError, TypeError):
            return False
        entries, forms = self._forms_for(kid)
        form = next((f for f in forms if message.startswith(f[1])), None)
        if form is None:
            return False
        alg, prefix, sig_prefix = form
        payload_at = _bstr_at(message, len(prefix))
        signature_at = payload_at and _bstr_at(message, payload_at[1])
        if not payload_at or not signature_at:
            return False
        payload_bytes, signature = message[slice(*payload_at)], message[slice(*signature_at)]
        head = payload_bytes[:len(payload_bytes) - len(dcc)]
        if not head or not payload_bytes.endswith(dcc) or message != cose.sign1_message(prefix, payload_bytes,
                                                                                          signature):
            return False  # shortest-form heads, nothing trailing: the bytes `encode_hc1` writes, and only those
        signed = cose.sig_structure(b"", payload_bytes, sig_prefix)
        entry = next((e for e in entries if cose.verify(_public_key(e.certificate), alg, signed, signature)), None)
        if entry is None:
            return False
        known = self._heads.get((id(entry), head))
        if known is None:
            known = self._heads[(id(entry), head)] = self._head_holds(entry, head)
        if not known:
            return False
        try:
            _check_key_usage(entry.certificate, payload)
            validate_payload(payload)
        except (VerificationError, SchemaError):
            return False
        return True

    def _head_holds(self, entry: TrustEntry, head: bytes) -> bool:
        """Whether a claims head is the one `encode_hc1` writes for its (iss, iat, exp) and those claims pass
        `verify_hc1`'s checks for this trust entry at this verifier's time."""
        try:
            claims = _loads(head + b"\x00")  # the head with a DCC payload of 0
            if not isinstance(claims, dict):
                return False
            issuer, iat, exp = claims.get(_ISS), claims.get(_IAT), claims.get(_EXP)
            if type(issuer) is not str or type(iat) is not int or type(exp) is not int:
                return False
            if _claims_head(issuer, iat, exp) != head:
                return False
            _check_claims(entry, issuer, _timestamp(claims, _IAT), _timestamp(claims, _EXP), at=self._at,
                          clock_skew=self._clock_skew)
        except VerificationError:
            return False
        return True


def _check_claims(entry: TrustEntry, issuer: str, issued_at: datetime, expires_at: datetime, *, at: datetime,
                  clock_skew: timedelta) -> None:
    """The claims against the signer's trust entry and the verifier's clock."""
    cert = entry.certificate
    if not cert.not_valid_before_utc <= issued_at <= cert.not_valid_after_utc:
        raise VerificationError("dsc-not-valid", "signer certificate not valid at the issue time")
    if entry.country != issuer:
        raise VerificationError("wrong-issuer", "issuer claim differs from the signer's country")
    if expires_at <= at:
        raise VerificationError("expired", expires_at.isoformat())
    if issued_at > at + clock_skew:
        raise VerificationError("not-yet-valid", issued_at.isoformat())


def verify_hc1(text: str, trust_list: TrustList, *, now: datetime,
               clock_skew: timedelta = CLOCK_SKEW) -> DecodedHcert:
    """Decode `HC1:` text and verify it against the trust list at `now`; returns it if every check passes."""
    at = utc(now)
    decoded = decode_hc1(text)
    entries = trust_list.entries_for(decoded.kid)
    if not entries:
        raise VerificationError("unknown-kid", decoded.kid.hex())
    signed = cose.sig_structure(decoded.protected, decoded.payload_bytes)
    entry = next((e for e in entries
                  if cose.verify(_public_key(e.certificate), decoded.alg, signed, decoded.signature)), None)
    if entry is None:
        raise VerificationError("bad-signature", f"alg {decoded.alg}, kid {decoded.kid.hex()}")
    _check_claims(entry, decoded.issuer, decoded.issued_at, decoded.expires_at, at=at, clock_skew=clock_skew)
    _check_key_usage(entry.certificate, decoded.payload)
    try:
        validate_payload(decoded.payload)
    except SchemaError as exc:
        raise VerificationError("schema", "; ".join(exc.problems)) from None
    return decoded
