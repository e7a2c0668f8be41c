"""Bad input never crashes validation: empty frames, all-null and absent columns, wrong types, absurd values."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vaxpass.errors import VaxpassError
from vaxpass.quality import (
    InvalidBatchError,
    default_suite_dir,
    empty_report,
    load_suite,
    validate_dose_records,
)
from vaxpass.quality.prepare import prepare, text

from .test_rules import RUN_DATE, base_row, frame


def rules_of(report: Any, record_id: str) -> set[str]:
    return {f.rule for f in report.failures if f.record_id == record_id}


@pytest.mark.parametrize("df", [pd.DataFrame(), frame([base_row(0)]).iloc[:0]], ids=["no-columns", "no-rows"])
def test_empty_frame_gives_a_clean_report(df: pd.DataFrame) -> None:
    rep = validate_dose_records(df, run_date=RUN_DATE)
    assert rep.evaluated == 0
    assert rep.failures == ()
    assert rep.blocked_ids == set()
    assert rep.ge_success is True
    assert all(s == {"evaluated": 0, "failed": 0} for s in rep.rule_stats.values())


def test_the_empty_report_is_what_great_expectations_says_of_an_empty_batch() -> None:
    spec = load_suite(default_suite_dir())
    assert empty_report(spec) == validate_dose_records(frame([base_row(0)]).iloc[:0], run_date=RUN_DATE)


def test_all_null_and_absent_columns() -> None:
    df = frame([base_row(i) for i in range(3)])
    for col in ("full_name", "dob", "national_id", "phone", "vaccine_mp"):
        df[col] = None
    df = df.drop(columns=["dob_raw", "lot", "sex", "sex_raw"])
    rep = validate_dose_records(df, run_date=RUN_DATE)
    expected = {"full_name_missing", "dob_missing", "national_id_missing", "phone_missing", "vaccine_unknown",
                "lot_missing", "sex_missing"}
    for i in range(3):
        assert rules_of(rep, f"case-{i:03d}") == expected


def test_only_record_ids() -> None:
    rep = validate_dose_records(pd.DataFrame({"record_id": ["a", "b"]}), run_date=RUN_DATE)
    assert rep.blocked_ids == {"a", "b"}
    assert "nationality_missing" in rules_of(rep, "a")


def test_int64_national_id_from_excel_loses_its_leading_zeros() -> None:
    df = frame([base_row(0), base_row(1) | {"nationality": "VN"}])
    df["national_id"] = np.array([1090000000, 101090000001], dtype="int64")  # 001090000000 read as a number
    rep = validate_dose_records(df, run_date=RUN_DATE)
    assert rules_of(rep, "case-000") == {"national_id_format"}
    assert rules_of(rep, "case-001") == {"cccd_province"}  # 12 digits, but province 101 does not exist


def test_float_national_id_with_nan_reads_as_whole_numbers() -> None:
    df = frame([base_row(0), base_row(1)])
    df["national_id"] = [79090000001.0, np.nan]
    assert text(df, "national_id").tolist()[0] == "79090000001"
    rep = validate_dose_records(df, run_date=RUN_DATE)
    assert rules_of(rep, "case-000") == {"national_id_format"}
    assert rules_of(rep, "case-001") == {"national_id_missing"}


def test_other_types_are_read_as_text() -> None:
    rows = [base_row(i) for i in range(4)]
    df = pd.DataFrame(rows)
    df["dose_number"] = ["1", "2", "x", None]  # strings instead of Int64
    df["dob"] = [date(1990, 5, 17), datetime(1990, 5, 17), "1990-05-17T00:00:00", 19900517]  # mixed objects
    df["vaccination_date"] = pd.to_datetime(["2021-08-01", "2021-08-02", "2021-08-03", None])
    df["phone"] = [912345678, 84912345678, None, 3.5]  # numbers
    df["full_name"] = ["Nguyễn Văn An", 42, b"bytes", ["a", "list"]]
    rep = validate_dose_records(df, run_date=RUN_DATE)
    assert rules_of(rep, "case-000") == {"phone_format"}  # the leading 0 is lost in a number
    assert rules_of(rep, "case-001") == set()
    assert rules_of(rep, "case-002") == {"dose_number_unparseable", "phone_missing"}
    # the raw texts were given, so a value extraction could not read is "unparseable", not "missing"
    assert rules_of(rep, "case-003") == {"dose_number_unparseable", "vaccination_date_unparseable",
                                         "dob_unparseable", "phone_format"}


def test_absurd_values_fail_their_rules() -> None:
    rows = [base_row(0) | {"dob": "3000-01-01", "national_id": "012345678"},
            base_row(1) | {"dose_number": 99},
            base_row(2) | {"dose_number": -1, "vaccination_date": "1900-01-01"},
            base_row(3) | {"dob": "0001-01-01", "vaccination_date": "9999-12-31", "national_id": "012345679"}]
    rep = validate_dose_records(frame(rows), run_date=RUN_DATE)
    assert rules_of(rep, "case-000") == {"dob_range", "dob_after_vaccination"}
    assert rules_of(rep, "case-001") == {"dose_number_range"}
    assert rules_of(rep, "case-002") == {"dose_number_range", "vaccination_date_range", "dob_after_vaccination"}
    assert rules_of(rep, "case-003") == {"dob_range", "vaccination_date_range"}


def test_non_integral_and_infinite_dose_numbers_are_unparseable() -> None:
    df = frame([base_row(0), base_row(1)])
    df["dose_number"] = [1.5, np.inf]
    rep = validate_dose_records(df, run_date=RUN_DATE)
    assert rules_of(rep, "case-000") == {"dose_number_unparseable"}
    assert rules_of(rep, "case-001") == {"dose_number_unparseable"}


def test_a_non_default_index_is_ignored() -> None:
    df = frame([base_row(0), base_row(1) | {"sex": "X"}])
    df.index = pd.Index(["x", "y"], name="record")
    rep = validate_dose_records(df, run_date=RUN_DATE)
    assert {(f.record_id, f.rule) for f in rep.failures} == {("case-001", "sex_invalid")}
    assert list(prepare(df).index) == [0, 1]


@pytest.mark.parametrize(("ids", "problem"), [
    (["a", None, "c"], "empty"),
    (["a", "b", "a"], "repeats"),
])
def test_unusable_record_ids_raise_a_vaxpass_error(ids: list[Any], problem: str) -> None:
    df = frame([base_row(i) for i in range(3)])
    df["record_id"] = ids
    with pytest.raises(InvalidBatchError, match=problem) as info:
        validate_dose_records(df, run_date=RUN_DATE)
    assert isinstance(info.value, VaxpassError)


def test_absent_record_id_column_raises() -> None:
    with pytest.raises(InvalidBatchError, match="absent"):
        validate_dose_records(frame([base_row(0)]).drop(columns=["record_id"]), run_date=RUN_DATE)
