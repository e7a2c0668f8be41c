"""The run report links the cycle's dashboard (when Airflow's URL is known) next to its Data Docs."""

from __future__ import annotations

from pathlib import Path

from tests.factories import make_store, site
from vaxpass.reports import dashboard_url, write_run_report

RUN_ID = "manual__2026-11-27T08:44:36.658189+00:00"


def test_report_links_the_cycles_dashboard(tmp_path: Path) -> None:
    url = make_store(tmp_path, [site()], cycle_id=RUN_ID)
    docs = tmp_path / "data_docs" / "c" / "index.html"
    path = write_run_report(url, cycle_id=RUN_ID, stats={"data_docs": str(docs)}, out_dir=tmp_path / "reports",
                            web_url="http://airflow.example:8080/")
    page = path.read_text()
    link = "http://airflow.example:8080/vaxpass/dashboard?cycle=manual__2026-11-27T08%3A44%3A36.658189%2B00%3A00"
    assert dashboard_url("http://airflow.example:8080/", RUN_ID) == link
    assert f'<a href="{link}">Run dashboard of this cycle</a>' in page
    assert '<a href="http://airflow.example:8080/vaxpass/lineage">' in page
    assert '<a href="../data_docs/c/index.html">Data Docs' in page
    without = write_run_report(url, cycle_id=RUN_ID, stats={}, out_dir=tmp_path / "other").read_text()
    assert "/vaxpass/dashboard" not in without
