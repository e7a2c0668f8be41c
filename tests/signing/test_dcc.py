from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from vaxpass.errors import SchemaError
from vaxpass.signing.dcc import build_vaccination_payload, validate_payload
from vaxpass.signing.uvci import make_uvci
from vaxpass.vaccines import all_vaccines, lookup

EXAMPLES = Path(__file__).parent / "examples"


def _example_payloads() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json"))


def _payload_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document.get("JSON", document)  # upstream test data wraps the payload in "JSON"; these files don't


def _built(**changes: Any) -> dict[str, Any]:
    vaccine = lookup("Vero Cell")
    assert vaccine is not None
    args: dict[str, Any] = {
        "full_name": "Nguyễn Văn An", "dob": "1985-03-07", "vaccine": vaccine, "dose_number": 2,
        "total_doses": 2, "vaccination_date": "2021-10-02", "uvci": make_uvci(b"p1|v1"),
    }
    args.update(changes)
    return build_vaccination_payload(**args)


@pytest.mark.parametrize("path", _example_payloads(), ids=lambda p: p.stem)
def test_eu_examples_validate(path: Path) -> None:
    validate_payload(_payload_of(path))


def test_built_payload_shape_and_validity() -> None:
    payload = _built()
    assert payload["ver"] == "1.3.0"
    assert payload["nam"] == {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Văn An", "gnt": "VAN<AN"}
    entry = payload["v"][0]
    assert entry == {
        "tg": "840539006", "vp": "1157024006", "mp": "BBIBP-CorV", "ma": "ORG-100020693", "dn": 2, "sd": 2,
        "dt": "2021-10-02", "co": "VN", "is": "Ministry of Health of Viet Nam", "ci": entry["ci"],
    }
    validate_payload(payload)


def test_single_token_name_omits_given_names() -> None:
    payload = _built(full_name="Lý")
    assert payload["nam"] == {"fn": "Lý", "fnt": "LY"}
    validate_payload(payload)


@pytest.mark.parametrize("vaccine", all_vaccines(), ids=lambda v: v.key)
def test_every_catalogued_vaccine_gives_a_valid_payload(vaccine: Any) -> None:
    validate_payload(_built(vaccine=vaccine, total_doses=vaccine.series_doses, dose_number=1))


@pytest.mark.parametrize("dob", ["1985", "1985-03", "1985-03-07", ""])
def test_partial_dates_of_birth_are_allowed(dob: str) -> None:
    validate_payload(_built(dob=dob))


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda p: p["nam"].update(fnt="nguyen"), "$.nam.fnt"),
        (lambda p: p.update(dob="07/03/1985"), "$.dob"),
        (lambda p: p["v"][0].update(dt="2021-02-30"), "$.v[0].dt"),
        (lambda p: p["v"][0].update(dn=0), "$.v[0].dn"),
        (lambda p: p["v"][0].pop("ci"), "$.v[0]"),
        (lambda p: p["v"][0].update(mp="Inactivated-SARS-CoV-2-Vero-Cel"), "$.v[0].mp"),
        (lambda p: p["v"][0].update(ma="ORG-999"), "$.v[0].ma"),
        (lambda p: p["v"][0].update(co="XX"), "$.v[0].co"),
        (lambda p: p.pop("v"), "$"),
    ],
)
def test_schema_failures_name_the_field_not_the_value(mutate: Any, where: str) -> None:
    payload = copy.deepcopy(_built())
    mutate(payload)
    with pytest.raises(SchemaError) as info:
        validate_payload(payload)
    assert any(p.startswith(where) for p in info.value.problems), info.value.problems
    text = str(info.value)
    for personal in ("nguyen", "Nguyễn", "1985", "07/03"):
        assert personal not in text


def test_all_problems_are_collected() -> None:
    payload = _built()
    payload["nam"]["fnt"] = "nguyen"
    payload["nam"]["gnt"] = "van an"
    payload["v"][0]["mp"] = "unknown"
    with pytest.raises(SchemaError) as info:
        validate_payload(payload)
    assert len(info.value.problems) == 3


def _mutations(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Payloads that differ from a valid one in one place each: a field dropped, emptied, mistyped, overlong,
    out of range, or a date that is not a calendar date."""
    import copy

    bad_values: list[Any] = ["", None, 0, -1, 1000, "x" * 81, "2021-02-30", "2021-13-01", "21-01-01", [], {},
                             "URN:UVCI:01:VN:ABC#?", "a b", True]
    out = []

    def walk(node: Any, path: list[Any]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, value in items:
            for bad in bad_values:
                variant = copy.deepcopy(payload)
                target = variant
                for step in path:
                    target = target[step]
                target[key] = bad
                out.append(variant)
            if isinstance(node, dict):
                variant = copy.deepcopy(payload)
                target = variant
                for step in path:
                    target = target[step]
                del target[key]
                out.append(variant)
            walk(value, [*path, key])

    walk(payload, [])
    return out


@pytest.mark.parametrize("path", _example_payloads(), ids=lambda p: p.stem)
def test_fast_schema_check_agrees_with_jsonschema(path: Path) -> None:
    """The compiled fast path never accepts what jsonschema rejects (nor the other way round)."""
    from vaxpass.signing.dcc import _validator, payload_conforms

    payload = _payload_of(path)
    variants = [payload, *_mutations(payload)]
    assert len(variants) > 100
    disagreements = [v for v in variants if payload_conforms(v) != _validator().is_valid(v)]
    assert disagreements == []


@pytest.mark.parametrize("path", _example_payloads(), ids=lambda p: p.stem)
def test_shape_fast_path_agrees_with_jsonschema(path: Path) -> None:
    """Once a payload's shape has passed the full check, a payload of that shape has only its person-specific
    leaves checked: over every one-field mutation (the shape's own fields included), `validate_payload`
    still accepts exactly what jsonschema plus the value sets accept."""
    from vaxpass.signing.dcc import _passes_by_shape, _shape, _valid_shapes, _validator, _value_set_problems

    for payload in (_payload_of(path), _built(), _built(full_name="Lê")):
        validate_payload(payload)  # primes the shape (for a vaccination payload)
        variants = _mutations(payload)
        assert len(variants) > 100
        for variant in variants:
            expected = _validator().is_valid(variant) and not _value_set_problems(variant)
            try:
                validate_payload(variant)
                accepted = True
            except SchemaError:
                accepted = False
            assert accepted == expected, variant
    assert _shape(_built()) in _valid_shapes  # the fast path was really taken for the built payloads
    assert _passes_by_shape(_built(full_name="Trần Thị Đào"), _shape(_built(full_name="Trần Thị Đào")))
    wrong_date = _built(vaccination_date="2021-02-30")
    assert not _passes_by_shape(wrong_date, _shape(wrong_date))


def test_remembered_leaves_are_kept_per_rule() -> None:
    """A leaf value that passed one rule (the UVCI's) is not taken as passed for another (the birth date's),
    and a remembered value is not confused with a value of another type."""
    payload = _built()
    validate_payload(payload)
    validate_payload(payload)  # second time from the remembered leaves
    with pytest.raises(SchemaError, match=r"\$\.dob"):
        validate_payload({**payload, "dob": payload["v"][0]["ci"]})
    with pytest.raises(SchemaError):
        validate_payload({**payload, "v": [{**payload["v"][0], "dn": str(payload["v"][0]["dn"])}]})


def test_a_remembered_payload_is_not_confused_with_an_equal_one_of_another_type() -> None:
    """A whole payload that passed is remembered (the pre-issuance check validates it again after decoding),
    but `True == 1`: a payload whose dose number is `True` is checked, and rejected."""
    payload = _built(dose_number=1)
    validate_payload(payload)
    validate_payload(payload)  # the second time from the remembered payload
    with pytest.raises(SchemaError, match=r"\$\.v\[0\]\.dn"):
        validate_payload({**payload, "v": [{**payload["v"][0], "dn": True}]})
