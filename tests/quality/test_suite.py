"""The suite file: where it is, its version, its rules, and what happens when it is broken."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from vaxpass.geo import PROVINCE_CODES
from vaxpass.quality import (
    RuleExecutionError,
    SuiteError,
    default_suite_dir,
    load_suite,
    validate_dose_records,
)
from vaxpass.quality.prepare import BEYOND_LATIN
from vaxpass.quality.suite import SUITE_FILE

from .test_rules import RUN_DATE, base_row, frame

REPO = Path(__file__).resolve().parents[2]


def copy_suite(tmp_path: Path) -> Path:
    target = tmp_path / "data_quality"
    shutil.copytree(default_suite_dir(), target)
    return target


def edit(suite_dir: Path, change: Any) -> None:
    path = suite_dir / SUITE_FILE
    definition = json.loads(path.read_text(encoding="utf-8"))
    change(definition)
    path.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")


def test_default_suite_dir_is_the_repository_folder() -> None:
    assert default_suite_dir() == REPO / "data_quality"
    assert (default_suite_dir() / SUITE_FILE).is_file()


def test_rules_are_unique_documented_and_bilingual() -> None:
    spec = load_suite(default_suite_dir())
    codes = [r.code for r in spec.rules]
    assert len(codes) == len(set(codes)) == len(spec.definition["expectations"])
    readme = (default_suite_dir() / "README.md").read_text(encoding="utf-8")
    assert [c for c in codes if f"`{c}`" not in readme] == []
    for rule in spec.rules:
        assert rule.severity in {"error", "warning"}
        assert rule.reason_vi != rule.reason_en
        assert unicodedata.is_normalized("NFC", rule.reason_vi)


def test_province_codes_are_the_63_of_circular_07_2016() -> None:
    assert len(PROVINCE_CODES) == len(set(PROVINCE_CODES)) == 63
    assert PROVINCE_CODES[0] == "001" and "079" in PROVINCE_CODES and PROVINCE_CODES[-1] == "096"


def test_suite_version_is_stable_and_follows_the_file(tmp_path: Path) -> None:
    df = frame([base_row(0)])
    first = validate_dose_records(df, run_date=RUN_DATE)
    assert validate_dose_records(df, run_date=RUN_DATE).suite_version == first.suite_version
    assert len(first.suite_version) == 12 and first.suite_name == "dose_records"

    copied = copy_suite(tmp_path)
    assert load_suite(copied).version == first.suite_version  # same content, same version
    edit(copied, lambda d: None)  # re-serialised without indentation: same rules, same version
    assert load_suite(copied).version == first.suite_version

    def tighten(d: dict[str, Any]) -> None:
        rule = next(e for e in d["expectations"] if e["meta"]["rule"] == "dose_number_range")
        rule["kwargs"]["max_value"] = 4

    edit(copied, tighten)
    changed = validate_dose_records(frame([base_row(0) | {"dose_number": 5}]), run_date=RUN_DATE,
                                    suite_dir=copied)
    assert changed.suite_version != first.suite_version
    assert {f.rule for f in changed.failures} == {"dose_number_range"}


def test_a_reason_edit_changes_the_version(tmp_path: Path) -> None:
    copied = copy_suite(tmp_path)
    before = load_suite(copied).version
    edit(copied, lambda d: d["expectations"][0]["meta"].update(reason_en="Name is missing"))
    assert load_suite(copied).version != before


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["expectations"][0].pop("meta"), "meta lacks rule"),
    (lambda d: d["expectations"][1]["meta"].pop("reason_vi"), "meta lacks reason_vi"),
    (lambda d: d["expectations"][0].update(type="expect_table_row_count_to_equal"), "type must be one of"),
    (lambda d: d["expectations"][0].update(severity="fatal"), "severity must be one of"),
    (lambda d: d["expectations"].append(d["expectations"][0]), "appears more than once"),
    (lambda d: d.pop("expectations"), "expectations"),
])
def test_malformed_suite_raises_with_every_problem(tmp_path: Path, change: Any, message: str) -> None:
    copied = copy_suite(tmp_path)
    edit(copied, change)
    with pytest.raises(SuiteError, match=message):
        validate_dose_records(frame([base_row(0)]), run_date=RUN_DATE, suite_dir=copied)


def test_invalid_expectation_arguments_raise_instead_of_being_dropped(tmp_path: Path) -> None:
    copied = copy_suite(tmp_path)
    edit(copied, lambda d: d["expectations"][2]["kwargs"].pop("column"))  # GE alone would only log this
    with pytest.raises(SuiteError, match="dob_missing"):
        validate_dose_records(frame([base_row(0)]), run_date=RUN_DATE, suite_dir=copied)


def test_a_rule_on_an_unknown_column_raises(tmp_path: Path) -> None:
    copied = copy_suite(tmp_path)
    edit(copied, lambda d: d["expectations"][0]["kwargs"].update(column="no_such_column"))
    with pytest.raises(RuleExecutionError, match="full_name_missing"):
        validate_dose_records(frame([base_row(0)]), run_date=RUN_DATE, suite_dir=copied)


def test_missing_suite_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="cannot read"):
        validate_dose_records(frame([base_row(0)]), run_date=RUN_DATE, suite_dir=tmp_path)


def test_latin_text_is_nfc_by_construction() -> None:
    """The NFC check normalises only text with characters beyond the Latin blocks; this is why that is safe."""
    import re

    latin = [chr(c) for c in [*range(0x20, 0x250), *range(0x1E00, 0x1F00)] if unicodedata.category(chr(c)) != "Cn"]
    assert not any(re.search(BEYOND_LATIN, ch) for ch in latin)
    assert all(unicodedata.combining(ch) == 0 and unicodedata.is_normalized("NFC", ch) for ch in latin)
    # no pair of them composes or reorders: text made of them only is already NFC
    assert all(unicodedata.is_normalized("NFC", a + b) for a in latin for b in latin)
    assert re.search(BEYOND_LATIN, unicodedata.normalize("NFD", "Nguyễn"))
