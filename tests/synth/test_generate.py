"""The generated data set as other stages read it: the file contract, structure, determinism, ground truth."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
import unicodedata
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from tests.synth.readback import site_rows
from vaxpass.domain import SOURCE_HEADERS, load_sites
from vaxpass.geo import PROVINCE_CODES, district_by_code
from vaxpass.synth import FAULT_CODES, FaultRates, SynthSummary, generate
from vaxpass.synth.doses import PRODUCTS
from vaxpass.synth.faults import strip_diacritics
from vaxpass.synth.sources import site_kind

H = SOURCE_HEADERS
CANONICAL_VACCINES = {*PRODUCTS, "Spikevax"}


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _load(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The registry, and every row of every site (CSV, workbook, database, FHIR) joined with its ground truth."""
    with sqlite3.connect(out / "registry.sqlite") as conn:
        reg = pd.read_sql("SELECT * FROM persons", conn)
    rows = site_rows(out).rename(columns={v: k for k, v in H.items()})
    truth = pd.read_csv(out / "ground_truth.csv", dtype=str, keep_default_na=False)
    merged = rows.merge(truth, on=["site_code", "source_key"], how="outer", indicator=True, validate="1:1")
    assert (merged["_merge"] == "both").all(), "every site row has exactly one ground-truth row and vice versa"
    return reg, merged.drop(columns="_merge")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary, pd.DataFrame, pd.DataFrame]:
    out = tmp_path_factory.mktemp("faulty")
    summary = generate(out, persons=20_000, seed=11, progress=False, faults=FaultRates().scaled(2))
    return (out, summary, *_load(out))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary, pd.DataFrame, pd.DataFrame]:
    out = tmp_path_factory.mktemp("clean")
    summary = generate(out, persons=3_000, seed=12, progress=False, faults=FaultRates.none())
    return (out, summary, *_load(out))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate(tmp_path / name, persons=1_500, seed=seed, progress=False)
        runs[name] = _tree_hash(tmp_path / name)
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_faults_do_not_change_who_is_generated(tmp_path: Path) -> None:
    generate(tmp_path / "a", persons=1_500, seed=5, progress=False)
    generate(tmp_path / "b", persons=1_500, seed=5, progress=False, faults=FaultRates.none())
    assert (tmp_path / "a/registry.sqlite").read_bytes() == (tmp_path / "b/registry.sqlite").read_bytes()


def test_small_run_is_fast_and_rerun_replaces_output(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    generate(tmp_path, persons=1_000, seed=1, progress=False)
    assert time.perf_counter() - t0 < 5
    first = _tree_hash(tmp_path)
    generate(tmp_path, persons=1_000, seed=1, progress=False)
    assert _tree_hash(tmp_path) == first


def test_registry_schema_and_indexes(faulty: tuple) -> None:
    out = faulty[0]
    with sqlite3.connect(out / "registry.sqlite") as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(persons)")]
        assert cols == ["registry_id", "cccd", "cmnd", "full_name", "family_name", "middle_name", "given_name",
                        "dob", "sex", "province_code", "district_code"]
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM persons WHERE substr(cccd,1,6) = '001090'").fetchall()
        assert "persons_cccd_prefix" in str(plan)
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM persons WHERE cmnd = '012345678'").fetchall()
        assert "INDEX" in str(plan)


def test_cccd_matches_dob_sex_and_province(faulty: tuple) -> None:
    reg: pd.DataFrame = faulty[2]
    assert len(reg) == 20_000 and reg["cccd"].is_unique
    provinces = set(PROVINCE_CODES)
    for cccd, dob, sex, prov, cmnd in reg[["cccd", "dob", "sex", "province_code", "cmnd"]].itertuples(index=False):
        year = int(dob[:4])
        assert re.fullmatch(r"\d{12}", cccd)
        assert cccd[:3] == prov and prov in provinces
        assert int(cccd[3]) == (0 if year < 2000 else 2) + (sex == "F")
        assert cccd[4:6] == dob[2:4]
        if isinstance(cmnd, str):
            assert re.fullmatch(r"\d{9}", cmnd) and year < 1990
    assert 0.70 <= (reg["province_code"] == "001").mean() <= 0.80
    born_before_1990 = reg["dob"] < "1990-01-01"
    assert 0.25 <= reg.loc[born_before_1990, "cmnd"].notna().mean() <= 0.35
    assert reg["cmnd"].dropna().is_unique
    assert all(district_by_code(c) for c in reg["district_code"].unique())


def test_names_are_realistic_and_nfc(faulty: tuple) -> None:
    reg: pd.DataFrame = faulty[2]
    share = reg["family_name"].value_counts(normalize=True)
    assert 0.33 <= share["Nguyễn"] <= 0.43
    assert 0.08 <= share["Trần"] <= 0.14 and 0.07 <= share["Lê"] <= 0.12
    assert share.index[:3].tolist() == ["Nguyễn", "Trần", "Lê"]
    assert reg["given_name"].nunique() >= 120
    for full, fam, mid, giv in reg[["full_name", "family_name", "middle_name", "given_name"]].itertuples(index=False):
        assert unicodedata.is_normalized("NFC", full)
        assert full == " ".join(p for p in (fam, mid, giv) if isinstance(p, str))
    assert reg.loc[reg["sex"] == "F", "middle_name"].eq("Thị").mean() > 0.3
    assert reg.loc[reg["sex"] == "M", "middle_name"].eq("Văn").mean() > 0.25


def test_namesakes_share_name_and_birth_date(clean: tuple) -> None:
    reg: pd.DataFrame = clean[2]
    assert reg.duplicated(["full_name", "dob"], keep=False).sum() >= 4


def test_sites_json(faulty: tuple) -> None:
    out, summary = faulty[0], faulty[1]
    sites = load_sites(out / "sites.json")
    assert len(sites) == summary.sites == 10
    assert 2 <= len({s.district_code for s in sites}) <= 4
    for i, s in enumerate(sites):
        assert s.source.kind == site_kind(i)
        assert (out / s.source.path).is_file() if s.source.kind == "sql" else (out / s.source.path).is_dir()
        assert re.fullmatch(r"HN-\d{3}-\d{2}", s.code)
    assert {s.source.kind for s in sites} == {"inbox", "csv", "xlsx", "sql", "fhir"}


def test_counts_match_summary(faulty: tuple) -> None:
    out, summary, reg, rows = faulty
    assert len(rows) == summary.dose_records
    assert summary.registry_persons == len(reg)
    saved = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert saved["dose_records"] == summary.dose_records and saved["seed"] == 11
    assert saved["fault_rates"] == FaultRates().scaled(2).as_dict()
    counted = Counter(c for f in rows["faults"] if f for c in f.split(";"))
    assert {c: counted.get(c, 0) for c in FAULT_CODES} == summary.fault_counts
    assert summary.records_with_faults == (rows["faults"] != "").sum()
    persons = rows.groupby("person_key").first()
    assert summary.vaccinated_persons == len(persons)
    assert summary.foreigners == (persons["foreign"] == "1").sum() > 0
    assert summary.not_in_registry == ((persons["in_registry"] == "0") & (persons["foreign"] == "0")).sum() > 0
    assert 0.75 <= summary.vaccinated_in_registry / summary.registry_persons <= 0.85
    for site, keys in rows.groupby("site_code")["source_key"]:
        assert keys.is_unique and all(k.startswith(site + "-") for k in keys)


def test_clean_set_matches_registry(clean: tuple) -> None:
    reg, rows = clean[2], clean[3]
    assert (rows["faults"] == "").all()
    by_cccd = reg.set_index("cccd")
    inreg = rows[rows["in_registry"] == "1"].join(by_cccd, on="person_key", rsuffix="_reg")
    assert (inreg["national_id"] == inreg["person_key"]).all()
    assert (inreg["full_name"] == inreg["full_name_reg"]).all()
    assert (inreg["dob"] == pd.to_datetime(inreg["dob_reg"]).dt.strftime("%d/%m/%Y")).all()
    assert (inreg["sex"] == inreg["sex_reg"].map({"M": "Nam", "F": "Nữ"})).all()
    assert (inreg["registry_id"].astype(int) == inreg["registry_id_reg"]).all()
    outside = rows[rows["in_registry"] == "0"]
    assert not outside["national_id"].isin(reg["cccd"]).any()
    foreign = rows[rows["foreign"] == "1"]
    assert (foreign["national_id"] == "").all() and (foreign["passport_no"] != "").all()
    assert (foreign["nationality"] != "VN").all()
    assert (rows.loc[rows["foreign"] == "0", "passport_no"] == "").all()
    assert set(rows["vaccine"]) <= CANONICAL_VACCINES
    assert rows["phone"].str.fullmatch(r"0[35789]\d{8}").all()


def test_clean_dose_schedules(clean: tuple) -> None:
    rows: pd.DataFrame = clean[3]
    rows = rows.assign(day=pd.to_datetime(rows["vaccination_date"], format="%d/%m/%Y"),
                       born=pd.to_datetime(rows["dob"], format="%d/%m/%Y"),
                       n=rows["dose_number"].astype(int))
    assert (rows["n"] == rows["dose_number_true"].astype(int)).all()
    assert rows["day"].between(pd.Timestamp("2021-07-01"), pd.Timestamp("2022-06-30")).all()
    age = (rows["day"] - rows["born"]).dt.days / 365.2425
    assert age.between(12, 96).all()
    rows = rows.sort_values(["person_key", "n"])
    per_person = rows.groupby("person_key")
    assert (rows["n"] == per_person.cumcount() + 1).all(), "doses 1..k, each once"
    assert (per_person["day"].diff().dropna().dt.days >= 28).all()
    doses = per_person.size()
    assert doses.isin([2, 3]).mean() > 0.6 and doses.max() <= 4
    multi_site = per_person["site_code"].nunique().gt(1).sum() / (doses > 1).sum()
    assert 0.1 <= multi_site <= 0.3
    primary = rows[rows["n"] <= 2].groupby("person_key")["vaccine"].nunique()
    assert (primary == 1).mean() > 0.95  # Janssen persons have a one-dose primary series


def test_faults_appear_in_the_rows(faulty: tuple) -> None:
    reg, rows = faulty[2], faulty[3]
    rows = rows.join(reg.set_index("cccd"), on="person_key", rsuffix="_reg")
    faults = rows["faults"].str.split(";")

    def has(code: str, without: tuple[str, ...] = ()) -> pd.DataFrame:
        sel = faults.map(lambda f: code in f and not set(without) & set(f))
        picked = rows[sel & (rows["in_registry"] == "1")]
        assert len(picked) >= 5, code
        return picked

    for r in has("name_no_diacritics", ("bad_row",)).itertuples():
        assert r.full_name.isascii() and r.full_name != r.full_name_reg
    for r in has("name_nfd", ("bad_row", "name_typo", "name_dropped_middle", "name_western_order",
                              "name_tone_placement")).itertuples():
        assert not unicodedata.is_normalized("NFC", r.full_name)
        assert unicodedata.normalize("NFC", r.full_name) == r.full_name_reg
    for r in has("name_dropped_middle", ("bad_row", "name_no_diacritics", "name_nfd", "name_typo",
                                         "name_western_order", "name_tone_placement")).itertuples():
        assert r.full_name == f"{r.family_name} {r.given_name}"
    for r in has("name_tone_placement", ("bad_row", "name_no_diacritics", "name_nfd", "name_typo",
                                         "name_western_order", "name_dropped_middle")).itertuples():
        assert strip_diacritics(r.full_name) == strip_diacritics(r.full_name_reg)
        assert r.full_name != r.full_name_reg and unicodedata.is_normalized("NFC", r.full_name)
    for r in has("dob_day_month_swap", ("bad_row", "dob_typo")).itertuples():
        d = date.fromisoformat(r.dob_reg)
        assert r.dob == f"{d.month:02d}/{d.day:02d}/{d.year}"
    for r in has("dob_typo", ("bad_row", "dob_day_month_swap")).itertuples():
        assert r.dob[:6] == datetime.fromisoformat(r.dob_reg).strftime("%d/%m/")
        assert abs(int(r.dob[6:]) - int(r.dob_reg[:4])) == 1
    for r in has("old_cmnd", ("id_wrong_digit",)).itertuples():
        assert r.national_id == r.cmnd and len(r.national_id) == 9
    for r in has("id_missing").itertuples():
        assert r.national_id == ""
    for r in has("id_wrong_digit", ("old_cmnd",)).itertuples():
        assert sum(a != b for a, b in zip(r.national_id, r.person_key, strict=True)) == 1
    for r in has("sex_wrong").itertuples():
        assert r.sex == {"M": "Nữ", "F": "Nam"}[r.sex_reg]
    for r in has("phone_missing").itertuples():
        assert r.phone == ""
    for r in has("vaccine_name_variant", ("bad_row",)).itertuples():
        assert r.vaccine not in CANONICAL_VACCINES and r.vaccine
    for r in has("vaccine_unknown", ("bad_row",)).itertuples():
        assert r.vaccine not in CANONICAL_VACCINES
    for r in has("dose_order", ("bad_row",)).itertuples():
        assert r.dose_number != r.dose_number_true
    dups = rows[faults.map(lambda f: "duplicate_entry" in f)]
    assert len(dups) >= 5
    same_dose = rows.groupby(["site_code", "person_key", "dose_number_true"]).size()
    for r in dups.itertuples():
        assert same_dose[(r.site_code, r.person_key, r.dose_number_true)] >= 2
    clean = rows[rows["faults"] == ""]
    clean_reg = clean[clean["in_registry"] == "1"]
    assert (clean_reg["full_name"] == clean_reg["full_name_reg"]).all()
    assert (clean_reg["national_id"] == clean_reg["person_key"]).all()
    assert clean["vaccine"].isin(CANONICAL_VACCINES).all()


def _nfc(col: pd.Series) -> pd.Series:
    return col.map(lambda v: unicodedata.is_normalized("NFC", v))


def test_nfc_everywhere_except_nfd_rows(faulty: tuple) -> None:
    rows: pd.DataFrame = faulty[3]
    nfd = rows["faults"].str.contains("name_nfd")
    for column in rows.columns:
        assert _nfc(rows.loc[~nfd, column]).all(), column
    assert not _nfc(rows.loc[nfd, "full_name"]).any()


def _invalid(rows: pd.DataFrame) -> pd.Series:
    """What quality validation must reject: a required field blank, a dose that is not a number, an impossible
    date, a vaccination before Vietnam's first (8 March 2021) or in the future."""
    required = ["full_name", "dob", "vaccination_date", "vaccine", "dose_number"]
    blank = rows[required].eq("").any(axis=1)
    dose_nan = ~rows["dose_number"].str.fullmatch(r"\d+")
    born = pd.to_datetime(rows["dob"], format="%d/%m/%Y", errors="coerce")
    day = pd.to_datetime(rows["vaccination_date"], format="%d/%m/%Y", errors="coerce")
    out_of_range = ~day.between(pd.Timestamp("2021-03-08"), pd.Timestamp.today())
    return blank | dose_nan | born.isna() | day.isna() | out_of_range


def test_bad_rows_are_invalid_and_others_valid(faulty: tuple) -> None:
    rows: pd.DataFrame = faulty[3]
    bad = rows["faults"].str.contains("bad_row")
    assert bad.sum() >= 50
    invalid = _invalid(rows)
    assert invalid[bad].all()
    assert not invalid[~bad].any()
    no_dob_fault = ~rows["faults"].str.contains("bad_row|dob_")
    born = pd.to_datetime(rows.loc[no_dob_fault, "dob"], format="%d/%m/%Y")
    assert born.between(pd.Timestamp("1925-01-01"), pd.Timestamp("2009-07-01")).all()


def test_default_rates_give_about_a_quarter_faulty(tmp_path: Path) -> None:
    s = generate(tmp_path, persons=5_000, seed=3, progress=False)
    assert 0.17 <= s.records_with_faults / s.dose_records <= 0.27
    assert all(n > 0 for c, n in s.fault_counts.items() if c != "name_tone_placement")


def test_command_line_helpers(tmp_path: Path) -> None:
    import argparse

    from vaxpass.synth import add_arguments, run_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path), "--persons", "500", "--seed", "3", "--clean", "--no-progress",
                              "--end-date", "2022-03-31"])
    summary = run_from_args(args)
    assert summary.registry_persons == 500 and summary.records_with_faults == 0
    assert (tmp_path / "sites.json").exists()
    assert all(p.name == "doses_20220331.csv" for p in (tmp_path / "inbox").glob("*/*.csv"))


def test_the_demo_data_set_delivers_all_four_source_kinds(tmp_path: Path) -> None:
    """What `make run` generates (`vaxpass synth` with the default site count): CSV and Excel files in an inbox,
    a site database and a FHIR feed, each with rows — so one demo cycle extracts every kind."""
    generate(tmp_path, persons=400, seed=2026, progress=False)
    sites = load_sites(tmp_path / "sites.json")
    kinds = {s.source.kind: tmp_path / s.source.path for s in sites}
    assert {"inbox", "sql", "fhir"} <= set(kinds)
    inbox = kinds["inbox"]
    assert sorted(p.suffix for p in inbox.iterdir()) == [".csv", ".xlsx"]
    assert kinds["sql"].read_bytes()[:16] == b"SQLite format 3\x00"
    pages = sorted(kinds["fhir"].glob("page-*.json"))
    assert pages and json.loads(pages[0].read_text(encoding="utf-8"))["entry"]
