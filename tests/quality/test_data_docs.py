"""Data Docs per cycle: built from the site validations, linked from the cycle, and free of personal data."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

from vaxpass.pipeline.validate import build_cycle_data_docs, validate_site
from vaxpass.quality import validate_dose_records
from vaxpass.store import session_scope
from vaxpass.store.models import Cycle

from .test_rules import RUN_DATE, case_rows, frame
from .test_stage import A, B, add_records, dose, person, url  # noqa: F401  (url is a fixture)

PERSONAL_COLUMNS = ("full_name", "national_id", "phone", "passport_no", "lot", "dob", "dob_raw", "record_id")


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_data_docs_hold_counts_but_no_record(tmp_path: Path) -> None:
    df = frame(case_rows())
    report = validate_dose_records(df, run_date=RUN_DATE)
    assert report.docs_result is not None
    from vaxpass.quality.docs import build_data_docs

    index = build_data_docs(tmp_path / "docs", cycle_id="scheduled__2022-03-01T00:00:00+00:00",
                            run_time=datetime(2022, 3, 1, tzinfo=UTC), suite_name=report.suite_name,
                            results=[("HN-001-01", report.docs_result)])
    pages = sorted(index.parent.rglob("*.html"))
    assert index.is_file() and len(pages) == 2  # the index and the site's validation page
    page = next(p for p in pages if p != index).read_text(encoding="utf-8")
    text = visible_text(page)
    assert "full_name_missing" in text and "cccd_century_sex" in text  # the rules, by code and column
    personal = {str(v) for col in PERSONAL_COLUMNS for v in df[col].dropna() if len(str(v).strip()) >= 4}
    everything = "".join(p.read_text(encoding="utf-8") for p in pages)
    leaked = sorted(v for v in personal if v in everything)
    assert not leaked, leaked[:5]
    # GE renders no unexpected values and no row indexes: only counts and percentages
    assert "unexpected_index_list" not in everything and "partial_unexpected" not in everything
    # validation still works after the Data Docs context was built
    assert validate_dose_records(df, run_date=RUN_DATE).failures == report.failures


def test_cycle_data_docs_are_recorded_on_the_cycle(url: str, tmp_path: Path) -> None:  # noqa: F811
    add_records(url, "c1", A, [dose(), person(1) | {"phone": None}])
    add_records(url, "c1", B, [person(2) | {"vaccine_raw": "ABC", "vaccine_mp": None}])
    for code in (A, B):
        validate_site(url, cycle_id="c1", site_code=code, run_date=RUN_DATE)
    index = build_cycle_data_docs(url, cycle_id="c1", docs_root=tmp_path / "data_docs")
    assert index == tmp_path / "data_docs" / "c1" / "index.html" and index.is_file()
    with session_scope(url) as session:
        cycle = session.get(Cycle, "c1")
        assert cycle is not None and cycle.data_docs_path == str(index)
    pages = [p.name for p in index.parent.rglob("*.html") if p != index]
    assert sorted(pages) == [f"{A}.html", f"{B}.html"]
    assert "Trần Thị Mai" not in "".join(p.read_text(encoding="utf-8") for p in index.parent.rglob("*.html"))
    assert build_cycle_data_docs(url, cycle_id="no-such-cycle", docs_root=tmp_path) is None
