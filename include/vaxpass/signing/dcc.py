"""The EU DCC JSON payload (schema 1.3): building a vaccination certificate's payload and validating payloads.

Validation checks the bundled combined schema (with date formats) and, because the schema only names its value
sets, also that every coded field holds a code of the bundled value set. Problem texts name the field and the
rule broken, never the value, so they can be logged without leaking personal data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from functools import cache
from operator import itemgetter
from typing import Any

import fastjsonschema
from jsonschema import FormatChecker, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from vaxpass.errors import SchemaError
from vaxpass.signing.names import icao_transliterate, split_vietnamese_name
from vaxpass.signing.valuesets import is_known, spec_text
from vaxpass.vaccines import Vaccine

SCHEMA_VERSION = "1.3.0"
DISEASE_COVID19 = "840539006"

# field of an entry -> value set that holds its codes
_CODED_FIELDS: dict[str, dict[str, str]] = {
    "v": {"tg": "disease-agent-targeted", "vp": "vaccine-prophylaxis", "mp": "vaccine-medicinal-product",
          "ma": "vaccine-mah-manf", "co": "country-2-codes"},
    "t": {"tg": "disease-agent-targeted", "co": "country-2-codes"},
    "r": {"tg": "disease-agent-targeted", "co": "country-2-codes"},
}
# schema keywords whose schema-side value is safe and useful in a message
_SHOWN_KEYWORDS = {"pattern", "maxLength", "minLength", "minimum", "maximum", "type", "format", "minItems",
                   "maxItems", "enum", "const"}


def build_vaccination_payload(
    *,
    full_name: str,
    dob: str,
    vaccine: Vaccine,
    dose_number: int,
    total_doses: int,
    vaccination_date: str,
    uvci: str,
    issuer: str = "Ministry of Health of Viet Nam",
    country: str = "VN",
) -> dict[str, Any]:
    """A DCC vaccination payload for one dose; the name is split family-first and transliterated (ICAO 9303).

    The payload is not validated here: `encode_hc1` (or `validate_payload`) does that before signing.
    """
    family, given = split_vietnamese_name(full_name)
    nam: dict[str, str] = {"fn": family, "fnt": icao_transliterate(family)}
    if given:
        nam["gn"] = given
        nam["gnt"] = icao_transliterate(given)
    return {
        "ver": SCHEMA_VERSION,
        "nam": nam,
        "dob": dob,
        "v": [{
            "tg": DISEASE_COVID19,
            "vp": vaccine.vp,
            "mp": vaccine.mp,
            "ma": vaccine.ma,
            "dn": dose_number,
            "sd": total_doses,
            "dt": vaccination_date,
            "co": country,
            "is": issuer,
            "ci": uvci,
        }],
    }


@cache
def _validator() -> Validator:
    """The compiled validator for the bundled schema, built once (the draft is the one `$schema` names)."""
    schema = json.loads(spec_text("DCC.combined-schema.json"))
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator: Validator = cls(schema, format_checker=FormatChecker())
    return validator


@cache
def _fast_check() -> Callable[[Any], Any]:
    """The same schema compiled to Python code by fastjsonschema (about 30x faster than jsonschema's
    interpreter): the fast path for the valid payloads of bulk issuance. Its format checks are jsonschema's own,
    and a payload it rejects goes through jsonschema for the full list of problems; tests hold the two to
    the same verdict."""
    schema = json.loads(spec_text("DCC.combined-schema.json"))
    checker = FormatChecker()
    formats = {name: functools.partial(_conforms, checker, name) for name in ("date", "date-time")}
    check: Callable[[Any], Any] = fastjsonschema.compile(schema, formats=formats)
    return check


def _conforms(checker: FormatChecker, name: str, value: Any) -> bool:
    return checker.conforms(value, name)


def payload_conforms(payload: Any) -> bool:
    """Whether the payload satisfies the schema (fast; no problem list)."""
    try:
        _fast_check()(payload)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _describe(error: ValidationError) -> str:
    """A problem text with the field path and the rule, without the offending (possibly personal) value."""
    where = error.json_path
    if error.validator == "required":
        return f"{where}: {error.message}"  # names only the missing property
    if error.validator == "oneOf" and where == "$":
        return "$: needs exactly one of v, t, r (with ver, nam, dob)"
    if error.validator == "additionalProperties":
        return f"{where}: unexpected properties"
    if error.validator in _SHOWN_KEYWORDS:
        return f"{where}: fails {error.validator} {error.validator_value!r}"
    return f"{where}: fails {error.validator}"


def _value_set_problems(payload: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for group, fields in _CODED_FIELDS.items():
        entries = payload.get(group)
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            for field, value_set_name in fields.items():
                code = entry.get(field)
                if isinstance(code, str) and not is_known(value_set_name, code):
                    problems.append(f"$.{group}[{i}].{field}: not a code of value set {value_set_name}")
    return problems


# The leaves of a vaccination payload that change from person to person, each with its schema rule. In the
# schema every other constraint on such a payload (required members, oneOf v/t/r, anyOf fnt/gnt, the coded
# fields and their value sets, ver, co, is) depends only on which members are present and on the values that
# are the same for every certificate of one vaccine: its "shape".
_VARYING_LEAVES: dict[tuple[str, str], str] = {
    ("nam", "fn"): "person_name", ("nam", "fnt"): "person_name", ("nam", "gn"): "person_name",
    ("nam", "gnt"): "person_name", ("v", "dn"): "vaccination_entry", ("v", "sd"): "vaccination_entry",
    ("v", "dt"): "vaccination_entry", ("v", "ci"): "vaccination_entry"}
_ENTRY_CONSTANTS = ("tg", "vp", "mp", "ma", "co", "is")
_ENTRY_LEAVES = tuple(leaf for group, leaf in _VARYING_LEAVES if group == "v")
_ENTRY_KEYS = frozenset(_ENTRY_CONSTANTS) | frozenset(_ENTRY_LEAVES)
# the values of those keys of an entry, as a tuple (one C call: `validate_payload` runs twice per certificate)
_entry_constants, _entry_leaves = itemgetter(*_ENTRY_CONSTANTS), itemgetter(*_ENTRY_LEAVES)
_ONLY_TEXT, _REMEMBERED_KINDS = frozenset({str}), frozenset({str, int})
_NAME_KEYS = frozenset(leaf for group, leaf in _VARYING_LEAVES if group == "nam")
_TOP_KEYS = frozenset({"ver", "nam", "dob", "v"})
_MAX_SHAPES = 4096
_valid_shapes: set[tuple[str, ...]] = set()


@cache
def _leaf_checks() -> dict[tuple[str, str], Callable[[Any], Any]]:
    """One compiled check per varying leaf, from that leaf's own subschema in the bundled schema (with the
    schema's `$defs`, so references resolve), so the rules are the schema's, not restated here."""
    schema = json.loads(spec_text("DCC.combined-schema.json"))
    checker = FormatChecker()
    formats = {name: functools.partial(_conforms, checker, name) for name in ("date", "date-time")}

    def compiled(subschema: dict[str, Any]) -> Callable[[Any], Any]:
        check: Callable[[Any], Any] = fastjsonschema.compile({"$defs": schema["$defs"], **subschema},
                                                             formats=formats)
        return check

    checks = {(group, leaf): compiled(schema["$defs"][defn]["properties"][leaf])
              for (group, leaf), defn in _VARYING_LEAVES.items()}
    checks[("", "dob")] = compiled(schema["properties"]["dob"])
    return checks


def _shape(payload: Any) -> tuple[str, ...] | None:
    """The shape of a one-entry vaccination payload (members present and the per-vaccine values), or None for
    anything else, which always takes the full check."""
    if type(payload) is not dict or payload.keys() != _TOP_KEYS:
        return None
    nam, entries = payload["nam"], payload["v"]
    if type(nam) is not dict or type(entries) is not list or len(entries) != 1 or type(entries[0]) is not dict:
        return None
    entry = entries[0]
    if entry.keys() != _ENTRY_KEYS or not nam.keys() <= _NAME_KEYS:
        return None
    constants = (payload["ver"], *_entry_constants(entry))
    if not _ONLY_TEXT.issuperset(map(type, constants)):
        return None
    return (*constants, *sorted(nam))


_MAX_PASSED_LEAVES = 1 << 16
# (group, leaf, type, value) of leaves that passed their rule: the rules are pure functions of the value, so a
# name, a date or a UVCI checked before signing is not checked again when the pre-issuance check re-validates
# the decoded payload, nor are the family names and dates that thousands of certificates share.
_passed_leaves: set[tuple[str, str, type, Any]] = set()


def _leaf_passes(group: str, leaf: str, value: Any) -> bool:
    kind = type(value)
    key = (group, leaf, kind, value) if kind is str or kind is int else None
    if key is not None and key in _passed_leaves:
        return True
    try:
        _leaf_checks()[(group, leaf)](value)
    except fastjsonschema.JsonSchemaException:
        return False
    if key is not None:
        _remember(_passed_leaves, key, _MAX_PASSED_LEAVES)
    return True


def _remember(passed: set[Any], key: Any, limit: int) -> None:
    """Add `key` to a set of things that passed, emptied when it reaches `limit` (bounds the memory)."""
    if len(passed) >= limit:
        passed.clear()
    passed.add(key)


_MAX_PASSED_PAYLOADS = 1 << 16
# The varying leaves (with their exact types) of whole payloads that passed: the pre-issuance check validates the
# decoded payload of every certificate just signed, which is equal to the payload validated before signing.
_passed_payloads: set[tuple[Any, ...]] = set()


def _varying(payload: dict[str, Any], shape: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The payload's shape and varying leaves, each with its type (1, 1.0 and True are equal keys otherwise),
    or None when a leaf is of a kind that is not remembered."""
    nam = payload["nam"]
    leaves = (payload["dob"], *_entry_leaves(payload["v"][0]), *map(nam.__getitem__, sorted(nam)))
    kinds = tuple(map(type, leaves))
    if not _REMEMBERED_KINDS.issuperset(kinds):
        return None
    return (shape, leaves, kinds)


def _passes_by_shape(payload: dict[str, Any], shape: tuple[str, ...] | None) -> bool:
    """Whether the payload's shape passed the full check before and this payload's varying leaves pass their
    rules: then the whole payload passes (the schema's other constraints are fixed by the shape)."""
    if shape is None or shape not in _valid_shapes:
        return False
    key = _varying(payload, shape)
    if key is not None and key in _passed_payloads:
        return True
    entry, nam = payload["v"][0], payload["nam"]
    if not (_leaf_passes("", "dob", payload["dob"])
            and all(_leaf_passes("v", leaf, entry[leaf]) for leaf in _ENTRY_LEAVES)
            and all(_leaf_passes("nam", leaf, value) for leaf, value in nam.items())):
        return False
    if key is not None:
        _remember(_passed_payloads, key, _MAX_PASSED_PAYLOADS)
    return True


def validate_payload(payload: dict[str, Any]) -> None:
    """Raise SchemaError listing every problem of the payload against schema 1.3 and the value sets.

    Bulk issuance validates thousands of payloads of a few shapes (one per vaccine and name layout): a payload
    of a shape that already passed the full check has only its person-specific leaves checked.
    """
    shape = _shape(payload)
    if _passes_by_shape(payload, shape):
        return
    problems: list[str] = []
    if not payload_conforms(payload):
        errors = sorted(_validator().iter_errors(payload), key=lambda e: (e.json_path, str(e.validator)))
        problems = [_describe(e) for e in errors] or ["$: fails the schema"]
    problems += _value_set_problems(payload)
    if problems:
        raise SchemaError(problems)
    if shape is not None and len(_valid_shapes) < _MAX_SHAPES:
        _valid_shapes.add(shape)
