"""Validation at scale: synthetic batches built with numpy, Great Expectations against plain pandas.

`make_batch` is the generator the quality benchmark can reuse: realistic valid records plus faults injected at a
known rate, so that a few rule counts are known exactly.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from datetime import date

import numpy as np
import pandas as pd
import pytest

from vaxpass.geo import PROVINCE_CODES
from vaxpass.quality import QualityReport, validate_dose_records
from vaxpass.quality.baseline import validate_with_pandas

log = logging.getLogger(__name__)
RUN_DATE = date(2023, 1, 1)

_FAMILY = np.array(["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"])
_MIDDLE = np.array(["Văn", "Thị", "Hữu", "Minh", "Thu", "Ngọc", "Đức"])
_GIVEN = np.array(["An", "Bình", "Châu", "Dũng", "Hà", "Hương", "Khánh", "Lan", "Long", "Mai", "Nam", "Phúc"])
_VACCINES = np.array([["AstraZeneca", "EU/1/21/1529"], ["Pfizer", "EU/1/20/1528"], ["Vero Cell", "BBIBP-CorV"],
                      ["Moderna", "EU/1/20/1507"]])
FAULTS = ("dob_missing", "phone_missing", "vaccine_unknown", "cmnd", "cccd_century_sex", "dose_number_range",
          "full_name_nfc", "foreigner")


def make_batch(n: int, seed: int = 7, fault_rate: float = 0.05) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """`n` dose records and, per injected fault, the mask of the rows that carry it."""
    rng = np.random.default_rng(seed)

    def pick(values: np.ndarray) -> np.ndarray:
        return values[rng.integers(0, len(values), n)]

    def text(values: np.ndarray) -> pd.Series:
        return pd.Series(values.astype(str))

    dob = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 80 * 365, n), unit="D")
    vaccinated = pd.Timestamp("2021-03-08") + pd.to_timedelta(rng.integers(0, 600, n), unit="D")
    female = rng.random(n) < 0.5
    year = dob.year.to_numpy()
    century_sex = (year >= 2000) * 2 + female
    national_id = (text(pick(np.array(PROVINCE_CODES))) + text(century_sex) + text(year % 100).str.zfill(2)
                   + text(rng.integers(0, 10**6, n)).str.zfill(6))
    vaccine = _VACCINES[rng.integers(0, len(_VACCINES), n)]
    dose = rng.integers(1, 4, n)
    df = pd.DataFrame({
        "record_id": "r" + text(np.arange(n)), "site_code": "HN-001-01", "source_file": "doses.csv",
        "source_row": np.arange(n), "full_name": text(pick(_FAMILY)) + " " + pick(_MIDDLE) + " " + pick(_GIVEN),
        "dob": dob.strftime("%Y-%m-%d"), "dob_raw": dob.strftime("%d/%m/%Y"), "sex": np.where(female, "F", "M"),
        "sex_raw": np.where(female, "Nữ", "Nam"), "national_id": national_id,
        "phone": text(pick(np.array(["09", "03", "08", "07"]))) + text(rng.integers(0, 10**8, n)).str.zfill(8),
        "vaccine_raw": vaccine[:, 0], "vaccine_mp": vaccine[:, 1], "dose_number": pd.array(dose, dtype="Int64"),
        "dose_number_raw": dose.astype(str), "vaccination_date": vaccinated.strftime("%Y-%m-%d"),
        "vaccination_date_raw": vaccinated.strftime("%d/%m/%Y"), "lot": "AB" + text(rng.integers(10**5, 10**6, n)),
        "nationality": "VN", "passport_no": None,
    })
    faults = {name: rng.random(n) < fault_rate for name in FAULTS}
    df.loc[faults["dob_missing"], ["dob", "dob_raw"]] = None
    df.loc[faults["phone_missing"], "phone"] = None
    df.loc[faults["vaccine_unknown"], "vaccine_mp"] = None
    df.loc[faults["cmnd"], "national_id"] = df["national_id"].str.slice(3)
    flip = faults["cccd_century_sex"]
    df.loc[flip, "national_id"] = df.loc[flip, "national_id"].str.slice(0, 3) + "9" + df.loc[flip, "national_id"].str.slice(4)
    df.loc[faults["dose_number_range"], "dose_number"] = 9
    nfd = df["full_name"].map(lambda s: unicodedata.normalize("NFD", s))
    faults["full_name_nfc"] &= (nfd != df["full_name"]).to_numpy()  # an all-ASCII name has no NFD form
    df.loc[faults["full_name_nfc"], "full_name"] = nfd[faults["full_name_nfc"]]
    foreign = faults["foreigner"]
    df.loc[foreign, ["nationality", "national_id"]] = ["KR", None]
    df.loc[foreign, "passport_no"] = "M" + text(np.flatnonzero(foreign)).str.zfill(8).to_numpy()
    return df, faults


def counts(report: QualityReport) -> dict[str, int]:
    return {rule: s["failed"] for rule, s in report.rule_stats.items()}


def test_ge_and_pandas_agree_and_injected_faults_are_found() -> None:
    df, faults = make_batch(20_000, seed=11)
    ge = validate_dose_records(df, run_date=RUN_DATE)
    plain = validate_with_pandas(df, run_date=RUN_DATE)
    assert ge.failures == plain.failures
    assert ge.rule_stats == plain.rule_stats
    got = counts(ge)
    for rule in ("dob_missing", "phone_missing", "vaccine_unknown", "dose_number_range", "full_name_nfc"):
        assert got[rule] == faults[rule].sum(), rule
    flipped_cccd = faults["cccd_century_sex"] & ~faults["cmnd"] & ~faults["foreigner"] & ~faults["dob_missing"]
    assert got["cccd_century_sex"] == flipped_cccd.sum()
    assert got["duplicate_in_batch"] == 0 and got["passport_no_missing"] == 0
    assert ge.rule_stats["national_id_format"]["evaluated"] == (~faults["foreigner"]).sum()


@pytest.mark.slow
def test_100k_rows_time_against_pandas() -> None:
    df, _ = make_batch(100_000)
    validate_dose_records(df.iloc[:10], run_date=RUN_DATE)  # GE context and suite are built once per process
    ge_times, pandas_times = [], []
    for _ in range(2):
        start = time.perf_counter()
        ge = validate_dose_records(df, run_date=RUN_DATE)
        ge_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain = validate_with_pandas(df, run_date=RUN_DATE)
        pandas_times.append(time.perf_counter() - start)
    ratio = min(ge_times) / min(pandas_times)
    log.info("100k rows: GE %.2f s, pandas %.2f s, ratio %.2f, %d failures", min(ge_times), min(pandas_times),
             ratio, len(ge.failures))
    assert ge.failures == plain.failures
    # The goal (≤ 3× pandas) is for 1 M rows, where GE's fixed cost (≈ 0.4 s per validation) is amortised; at
    # 100 k on a loaded 2-core machine the ratio swings between 2 and 4, so this only catches a regression.
    assert ratio < 6, f"GE {min(ge_times):.2f}s vs pandas {min(pandas_times):.2f}s"
