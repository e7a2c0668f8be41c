"""Each rule on small examples: a valid record passes everything; each broken field fails exactly its rule.

All cases go through Great Expectations in one batch (GE costs about half a second per validation, whatever the
size), each case with its own record id and its own identity so that no two cases are duplicates of each other.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from vaxpass.quality import ERROR, WARNING, QualityReport, validate_dose_records

RUN_DATE = date(2022, 3, 1)
E, W = ERROR, WARNING


def base_row(i: int) -> dict[str, Any]:
    """A valid record: a man born in 1990 (on day i of the year, so that no two cases have the same name and
    date of birth) in Hà Nội, CCCD 001 0 90 + serial i, first AstraZeneca dose."""
    born = date(1990, 1, 1) + timedelta(days=i % 365)
    return {
        "record_id": f"case-{i:03d}", "site_code": "HN-001-01", "source_file": "doses.csv", "source_row": i,
        "full_name": "Nguyễn Văn An", "dob": born.isoformat(), "dob_raw": f"{born:%d/%m/%Y}", "sex": "M",
        "sex_raw": "Nam",
        "national_id": f"001090{i:06d}", "phone": "0912345678", "vaccine_raw": "AstraZeneca",
        "vaccine_mp": "EU/1/21/1529", "dose_number": 1, "dose_number_raw": "1", "vaccination_date": "2021-08-01",
        "vaccination_date_raw": "01/08/2021", "lot": "ABV5811", "nationality": "VN", "passport_no": None,
    }


CMND = "CMND"  # marker: replace the national_id by a 9-digit CMND (skips the CCCD structure checks)
NFD_NAME = unicodedata.normalize("NFD", "Nguyễn Văn An")

# (case id, changes to the valid row, expected {(rule, severity)})
CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
    ("valid", {}, set()),
    ("name-missing", {"full_name": None}, {("full_name_missing", E)}),
    ("name-blank", {"full_name": "   "}, {("full_name_missing", E)}),
    ("name-nfd", {"full_name": NFD_NAME}, {("full_name_nfc", W)}),
    ("name-nfc-with-dd", {"full_name": "Đặng Thị Thủy"}, set()),
    ("dob-missing", {"dob": None, "dob_raw": None}, {("dob_missing", E)}),
    ("dob-unparseable", {"dob": None, "dob_raw": "31/02/1990"}, {("dob_unparseable", E)}),
    ("dob-not-a-date", {"dob": "1990-02-30"}, {("dob_unparseable", E)}),
    ("dob-before-1900", {"dob": "1899-12-31", "national_id": CMND}, {("dob_range", E)}),
    ("dob-year-3000", {"dob": "3000-01-01", "national_id": CMND}, {("dob_range", E), ("dob_after_vaccination", E)}),
    ("dob-after-vaccination", {"dob": "2021-09-01", "national_id": CMND}, {("dob_after_vaccination", E)}),
    ("dob-on-vaccination-day", {"dob": "2021-08-01", "national_id": CMND}, set()),
    ("sex-missing", {"sex": None, "sex_raw": None}, {("sex_missing", E)}),
    ("sex-unparseable", {"sex": None, "sex_raw": "X"}, {("sex_unparseable", E)}),
    ("sex-invalid", {"sex": "X"}, {("sex_invalid", E)}),
    ("vaccine-missing", {"vaccine_raw": None, "vaccine_mp": None}, {("vaccine_missing", E)}),
    ("vaccine-unknown", {"vaccine_raw": "Vắc xin lạ", "vaccine_mp": None}, {("vaccine_unknown", E)}),
    ("dose-missing", {"dose_number": None, "dose_number_raw": None}, {("dose_number_missing", E)}),
    ("dose-unparseable", {"dose_number": None, "dose_number_raw": "hai"}, {("dose_number_unparseable", E)}),
    ("dose-0", {"dose_number": 0}, {("dose_number_range", E)}),
    ("dose-6", {"dose_number": 6}, set()),
    ("dose-7", {"dose_number": 7}, {("dose_number_range", E)}),
    ("dose-99", {"dose_number": 99}, {("dose_number_range", E)}),
    ("vdate-missing", {"vaccination_date": None, "vaccination_date_raw": None}, {("vaccination_date_missing", E)}),
    ("vdate-unparseable", {"vaccination_date": None, "vaccination_date_raw": "32/13/2021"},
     {("vaccination_date_unparseable", E)}),
    ("vdate-before-first-dose", {"vaccination_date": "2021-03-07"}, {("vaccination_date_range", E)}),
    ("vdate-first-dose-day", {"vaccination_date": "2021-03-08"}, set()),
    ("vdate-run-date", {"vaccination_date": "2022-03-01"}, set()),
    ("vdate-after-run-date", {"vaccination_date": "2022-03-02"}, {("vaccination_date_range", E)}),
    ("nationality-missing", {"nationality": None}, {("nationality_missing", E)}),
    ("nationality-not-alpha2", {"nationality": "Vietnam"}, {("nationality_format", E)}),
    ("vn-without-id", {"national_id": None}, {("national_id_missing", E)}),
    ("foreigner-with-passport", {"nationality": "KR", "national_id": None, "passport_no": "M12345678"}, set()),
    ("foreigner-without-passport", {"nationality": "KR", "national_id": None}, {("passport_no_missing", E)}),
    ("id-too-short", {"national_id": "12345"}, {("national_id_format", E)}),
    ("id-with-letters", {"national_id": "00109012345A"}, {("national_id_format", E)}),
    ("cmnd-9-digits", {"national_id": CMND}, set()),
    ("cccd-province-unknown", {"national_id": "999090000001"}, {("cccd_province", E)}),
    ("cccd-province-gap", {"national_id": "003090000001"}, {("cccd_province", E)}),
    ("cccd-hcmc", {"national_id": "079090000001"}, set()),
    ("cccd-g1-for-man-1990", {"national_id": "001190000001"}, {("cccd_century_sex", E)}),
    ("cccd-g2-for-man-1990", {"national_id": "001290000001"}, {("cccd_century_sex", E)}),
    ("cccd-woman-1990", {"national_id": "001190000002", "sex": "F", "sex_raw": "Nữ"}, set()),
    ("cccd-woman-2005", {"national_id": "001305000001", "sex": "F", "dob": "2005-01-09"}, set()),
    ("cccd-man-2005-g0", {"national_id": "001005000001", "dob": "2005-01-10"}, {("cccd_century_sex", E)}),
    ("cccd-year-mismatch", {"national_id": "001091000001"}, {("cccd_birth_year", E)}),
    ("phone-missing", {"phone": None}, {("phone_missing", W)}),
    ("phone-landline", {"phone": "0243826 1234"}, {("phone_format", W)}),
    ("phone-9-digits", {"phone": "091234567"}, {("phone_format", W)}),
    ("phone-plus84", {"phone": "+84 912 345 678"}, set()),
    ("phone-84", {"phone": "84912345678"}, set()),
    ("phone-dotted", {"phone": "0912.345.678"}, set()),
    ("lot-missing", {"lot": None}, {("lot_missing", W)}),
    ("lot-too-short", {"lot": "AB"}, {("lot_format", W)}),
    ("lot-with-dash", {"lot": "AB-1234"}, {("lot_format", W)}),
    ("lot-too-long", {"lot": "A" * 21}, {("lot_format", W)}),
]


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["dose_number"] = df["dose_number"].astype("Int64")
    return df


def case_rows() -> list[dict[str, Any]]:
    rows = []
    for i, (_, changes, _) in enumerate(CASES):
        row = base_row(i) | changes
        if row["national_id"] == CMND:
            row["national_id"] = f"012{i:06d}"
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def report() -> QualityReport:
    return validate_dose_records(frame(case_rows()), run_date=RUN_DATE)


@pytest.mark.parametrize(("i", "changes", "expected"), [(i, c[1], c[2]) for i, c in enumerate(CASES)],
                         ids=[c[0] for c in CASES])
def test_each_case_fails_exactly_its_rules(report: QualityReport, i: int, changes: dict[str, Any],
                                           expected: set[tuple[str, str]]) -> None:
    got = {(f.rule, f.severity) for f in report.failures if f.record_id == f"case-{i:03d}"}
    assert got == expected
    assert (f"case-{i:03d}" in report.blocked_ids) == any(sev == E for _, sev in expected)


def test_report_counts(report: QualityReport) -> None:
    assert report.evaluated == len(CASES)
    assert report.ge_success is False
    assert set(report.rule_stats) >= {rule for _, _, exp in CASES for rule, _ in exp}
    for rule, stats in report.rule_stats.items():
        failed = {f.record_id for f in report.failures if f.rule == rule}
        assert stats["failed"] == len(failed), rule
        assert 0 <= stats["failed"] <= stats["evaluated"] <= len(CASES), rule


def test_duplicates_in_batch_block_the_later_ones_only() -> None:
    first = base_row(1)
    again = base_row(1) | {"record_id": "again", "source_row": 2, "full_name": "Nguyễn Văn Ân"}
    third = base_row(1) | {"record_id": "third", "source_row": 3}
    next_dose = base_row(1) | {"record_id": "next-dose", "dose_number": 2, "vaccination_date": "2021-09-01"}
    foreign = base_row(2) | {"record_id": "kr-1", "nationality": "KR", "national_id": None, "passport_no": "M1"}
    foreign_again = foreign | {"record_id": "kr-2", "passport_no": " m1 "}
    other_country = foreign | {"record_id": "jp-1", "nationality": "JP", "full_name": "Sato Haruto"}
    rep = validate_dose_records(frame([first, again, third, next_dose, foreign, foreign_again, other_country]),
                                run_date=RUN_DATE)
    dup = {f.record_id for f in rep.failures if f.rule == "duplicate_in_batch"}
    assert dup == {"again", "third", "kr-2"}
    assert all(f.severity == E for f in rep.failures if f.rule == "duplicate_in_batch")
    assert rep.rule_stats["duplicate_in_batch"] == {"evaluated": 7, "failed": 3}


def test_a_copy_typed_with_another_id_is_a_duplicate_by_name_and_birth_date() -> None:
    first = base_row(1)
    with_cmnd = base_row(1) | {"record_id": "cmnd-copy", "national_id": "012345678", "full_name": "NGUYEN VAN AN"}
    other_person = base_row(1) | {"record_id": "other", "national_id": "001090000999", "full_name": "Lê Văn An"}
    rep = validate_dose_records(frame([first, with_cmnd, other_person]), run_date=RUN_DATE)
    assert {f.record_id for f in rep.failures if f.rule == "duplicate_in_batch"} == {"cmnd-copy"}


def test_cmnd_and_foreigners_skip_the_cccd_structure_checks() -> None:
    cmnd = base_row(1) | {"national_id": "012345678", "sex": "F"}  # a CCCD check would fail G for a woman
    foreigner = base_row(2) | {"nationality": "US", "national_id": "123", "passport_no": "X1234567"}
    rep = validate_dose_records(frame([cmnd, foreigner]), run_date=RUN_DATE)
    assert rep.failures == ()
    assert rep.ge_success is True
    for rule in ("cccd_province", "cccd_century_sex", "cccd_birth_year"):
        assert rep.rule_stats[rule] == {"evaluated": 0, "failed": 0}
    assert rep.rule_stats["national_id_format"] == {"evaluated": 1, "failed": 0}  # only the Vietnamese record


def test_reasons_name_no_personal_value(report: QualityReport) -> None:
    df = frame(case_rows())
    personal = {str(v) for col in ("full_name", "national_id", "phone", "passport_no", "lot", "dob", "dob_raw")
                for v in df[col].dropna() if len(str(v).strip()) >= 4}
    personal |= {"Nguyễn", "1990", "0912"}
    reasons = {f.reason_en for f in report.failures} | {f.reason_vi for f in report.failures}
    assert reasons
    leaks = {(value, reason) for reason in reasons for value in personal if value in reason}
    assert not leaks


def test_every_failure_has_both_reasons(report: QualityReport) -> None:
    for f in report.failures:
        assert f.reason_en and f.reason_vi and f.reason_en != f.reason_vi
    cccd = next(f for f in report.failures if f.rule == "cccd_century_sex")
    assert cccd.reason_en == "CCCD century digit does not match date of birth/sex"
    assert "CCCD" in cccd.reason_vi
