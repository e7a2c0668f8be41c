"""The frame Great Expectations judges: the dose records cleaned to fixed types, plus derived columns.

Everything here is vectorised pandas and decides nothing: it only puts each rule's evidence into one column (or
a pair of columns) so that one expectation of the suite can judge it. Conventions, relied on by the suite:

* text is stripped, blank turned into missing; free text the suite matches with a regex stays a (pyarrow)
  string column, short codes and states are categoricals, digits and dates are floats (GE copies the whole
  frame once per expectation, and that copy costs far less for categoricals and floats than for strings);
* a rule that does not apply to a row (a CCCD check on a CMND number, a range check on a missing date) sees a
  missing value there, which Great Expectations does not count as evaluated;
* dates are float `YYYYMMDD` numbers: they compare like dates, and Great Expectations only takes its vectorised
  path for `int`/`float` columns (for `datetime64[us]`, pandas 3's default, it falls back to a per-row
  `Series.map` and cannot compare against the suite's ISO-date strings at all);
* `*_state` columns say why a required value is absent: `missing` (nothing given) or `unparseable` (text was
  given, extraction could not read it), from the value and its `*_raw` column.

A missing input column is treated as all-null; wrong input types (an `int64` national_id read from Excel, floats,
dates as objects) are turned into text first and then judged like any other text.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from vaxpass.quality.history import DoseIntervals, history_evidence, identity_key, run_ymd_of

STR = pd.StringDtype("pyarrow", na_value=np.nan)

ROW = "_row"  # the index of the judged frame: the record's position in the input frame

_MIDNIGHT = ["", " 00:00:00", "T00:00:00"]  # what may follow an ISO date (a date stored as a timestamp)
_SEPARATORS = r"[ .\-()]"  # what people type inside phone numbers: spaces, dots, dashes, brackets
# Text with no character outside Basic Latin … Latin Extended-B and Latin Extended Additional (where every
# precomposed Vietnamese letter lives) is NFC by construction; only the rest needs the per-row normalisation.
BEYOND_LATIN = "[^\x00-\u024f\u1e00-\u1eff]"


def text(df: pd.DataFrame, column: str) -> pd.Series:
    """The column as stripped text, blank → missing; an absent column is all missing."""
    if column not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype=STR)
    s = df[column]
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype(object)
    elif pd.api.types.is_integer_dtype(s.dtype):
        s = s.astype("Int64")
    elif pd.api.types.is_float_dtype(s.dtype):
        # Excel reads an ID column as float: 1.0e11 → "100000000000", never "100000000000.0"
        whole = s.notna() & np.isfinite(s) & (s == np.floor(s)) & (s.abs() < 2**53)
        out = s.astype(STR)
        out[whole] = s[whole].astype("int64").astype(STR)
        s = out
    elif pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = s.dt.strftime("%Y-%m-%d")
    out = s.astype(STR).str.strip()
    return out.mask(out == "")


def _category(codes: np.ndarray, categories: list[str], index: pd.Index) -> pd.Series:
    """Low-cardinality text as a categorical (code -1 = missing). Great Expectations copies the judged frame
    once per expectation, and a categorical column costs a fraction of a string column to copy."""
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=index)


def ymd_of(value: pd.Series) -> pd.Series:
    """ISO date text → float YYYYMMDD (NaN when absent or not a real calendar date)."""
    iso = value.str.slice(0, 10).where(value.str.slice(10).isin(_MIDNIGHT))
    parsed = pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce")
    return (parsed.dt.year * 10000 + parsed.dt.month * 100 + parsed.dt.day).astype("float64")


def _state(value_ok: pd.Series, value_given: pd.Series, raw_given: pd.Series, bad: str = "unparseable") -> pd.Series:
    """`ok` when the value is usable, else `missing` when nothing was given at all, else `bad`."""
    given = value_given.to_numpy(dtype=bool) | raw_given.to_numpy(dtype=bool)
    codes = np.where(value_ok.to_numpy(dtype=bool), 0, np.where(given, 1, 2))
    return _category(codes, ["ok", bad, "missing"], value_ok.index)


def _dose_number(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Dose number as float (NaN unless a whole number) and whether some value was given at all."""
    s = df["dose_number"] if "dose_number" in df.columns else pd.Series(np.nan, index=df.index)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        given = s.notna()
        num = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=df.index)
    else:
        raw = text(df, "dose_number")
        given = raw.notna()
        num = pd.to_numeric(raw, errors="coerce").astype("float64")
    return num.where(np.isfinite(num) & (num == np.floor(num))), given


def _is_nfc(value: pd.Series) -> np.ndarray:
    """True where the text is in Unicode NFC (or missing)."""
    beyond = value.str.contains(BEYOND_LATIN, regex=True).fillna(False).astype(bool)
    suspect = value[beyond]
    is_nfc = np.ones(len(value), dtype=bool)
    is_nfc[beyond.to_numpy()] = (suspect.str.normalize("NFC") == suspect).to_numpy(dtype=bool)
    return is_nfc


def _name_form(name: pd.Series, as_typed: pd.Series) -> pd.Series:
    """`nfc`, `other` (the name, or the name as the source typed it, is not in Unicode NFC, e.g. decomposed
    diacritics) or missing. Extraction normalises names, so the source's own text (`full_name_raw`) tells
    whether the site's software writes NFC."""
    is_nfc = _is_nfc(name) & _is_nfc(as_typed)
    codes = np.where(name.isna().to_numpy(), -1, np.where(is_nfc, 0, 1))
    return _category(codes, ["nfc", "other"], name.index)


def fold_name(name: pd.Series) -> pd.Series:
    """The name without diacritics, case and anything but letters and digits (Đ/đ → d explicitly: no Unicode
    decomposition), so that "Nguyễn Văn An", "NGUYEN VAN AN" and its NFD form compare equal."""
    ascii_only = name.str.isascii().fillna(True).to_numpy(dtype=bool)
    folded = name.copy()
    rest = name[~ascii_only]
    if len(rest):
        folded[~ascii_only] = (rest.str.replace("Đ", "D").str.replace("đ", "d").str.normalize("NFD")
                               .str.replace(r"[\u0300-\u036f]", "", regex=True))
    return folded.str.lower().str.replace(r"[^0-9a-z]", "", regex=True)


def _century_sex_digit(dob_ymd: pd.Series, sex: pd.Series) -> pd.Series:
    """The CCCD digit G that date of birth and sex call for: 1900s M 0 / F 1, 2000s 2 / 3, … 2300s 8 / 9."""
    century = np.floor(dob_ymd / 1_000_000) - 19  # 1900s → 0
    female = (sex == "F").to_numpy(dtype=bool)
    known = sex.isin(["M", "F"]).to_numpy(dtype=bool) & (century >= 0).to_numpy() & (century <= 4).to_numpy()
    return (century * 2 + female).where(known)


def prepare(df: pd.DataFrame, *, run_date: date | None = None, history: pd.DataFrame | None = None,
            intervals: DoseIntervals | None = None) -> pd.DataFrame:
    """The judged frame for `df`, indexed by `_row` (0..n-1). See the module docstring and data_quality/README.

    `history` (columns `history.HISTORY_COLUMNS`) holds the stored records the dose-history rules compare with;
    without it they see the batch only. `intervals` defaults to `dose_intervals.json` of the repository's suite.
    """
    if intervals is None:
        from vaxpass.quality.suite import default_suite_dir, load_suite

        intervals = load_suite(default_suite_dir()).intervals
    df = df.reset_index(drop=True)
    idx = df.index
    name = text(df, "full_name")
    sex = text(df, "sex")
    nationality = text(df, "nationality")
    national_id = text(df, "national_id")
    passport = text(df, "passport_no")
    phone = text(df, "phone").str.replace(_SEPARATORS, "", regex=True)

    dob_text, vaccinated_text = text(df, "dob"), text(df, "vaccination_date")
    dob, vaccinated = ymd_of(dob_text), ymd_of(vaccinated_text)
    dose, dose_given = _dose_number(df)

    is_alpha2 = nationality.str.fullmatch(r"[A-Z]{2}").fillna(False).to_numpy(dtype=bool)
    is_vn = (nationality == "VN").to_numpy(dtype=bool)
    vn_id = national_id.where(is_vn)
    cccd = vn_id.where(vn_id.str.fullmatch(r"[0-9]{12}").fillna(False).astype(bool))
    identity = np.where(~is_alpha2, -1, np.where(is_vn & national_id.isna().to_numpy(), 1,
                                                 np.where(~is_vn & passport.isna().to_numpy(), 2, 0)))
    cccd_number = cccd.astype("float64")  # 12 digits: exact in a float64

    # the same dose (dose number and vaccination date) of the same person: the same national ID, else nationality
    # + passport number; or the same name (folded) and date of birth, which catches a copy typed with another ID
    person = identity_key(national_id, nationality, passport)
    dose_key = "|" + dose.astype("Int64").astype(STR) + "|" + vaccinated.astype("Int64").astype(STR)
    by_id = person + dose_key
    by_name = fold_name(name).mask(lambda s: s == "") + "|" + dob.astype("Int64").astype(STR) + dose_key
    occurrence = np.fmax((by_id.groupby(by_id, dropna=True, sort=False).cumcount() + 1).where(by_id.notna()),
                         (by_name.groupby(by_name, dropna=True, sort=False).cumcount() + 1).where(by_name.notna()))
    evidence = history_evidence(person, dose, vaccinated, text(df, "vaccine_mp"), text(df, "site_code"),
                                occurrence.fillna(1) == 1, run_ymd=run_ymd_of(run_date), history=history,
                                intervals=intervals)

    work = pd.DataFrame({
        "full_name_form": _name_form(name, text(df, "full_name_raw")),
        "dob_state": _state(dob.notna(), dob_text.notna(), text(df, "dob_raw").notna()),
        "dob_ymd": dob,
        "sex": sex.astype("category"),
        "sex_state": _state(sex.notna(), sex.notna(), text(df, "sex_raw").notna()),
        "vaccine_state": _state(text(df, "vaccine_mp").notna(), text(df, "vaccine_raw").notna(),
                                pd.Series(False, index=idx), bad="unknown"),
        "dose_number": dose,
        "dose_number_state": _state(dose.notna(), dose_given, text(df, "dose_number_raw").notna()),
        "vaccination_ymd": vaccinated,
        "vaccination_date_state": _state(vaccinated.notna(), vaccinated_text.notna(),
                                         text(df, "vaccination_date_raw").notna()),
        "nationality": nationality.astype("category"),
        "identity_state": _category(identity, ["ok", "national_id_missing", "passport_no_missing"], idx),
        "vn_national_id": vn_id,
        "cccd_province": cccd.str.slice(0, 3).astype("category"),
        "cccd_century_sex_digit": np.floor(cccd_number / 1e8) % 10,
        "expected_century_sex_digit": _century_sex_digit(dob, sex),
        "cccd_year_digits": np.floor(cccd_number / 1e6) % 100,
        "dob_year_digits": np.floor(dob / 10_000) % 100,
        "phone_compact": phone.mask(phone == ""),
        "lot": text(df, "lot"),
        "batch_occurrence": occurrence.astype("float64"),
        **evidence,
    }, index=idx)
    work.index.name = ROW
    return work
