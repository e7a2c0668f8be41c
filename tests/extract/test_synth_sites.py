"""Every source kind synth makes (CSV + workbook inbox, SQLite database, FHIR pages) extracted in one cycle:
each ground-truth row is in the store exactly once under the same (site, source key); a rerun adds nothing."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.factories import make_store
from vaxpass.domain import load_sites
from vaxpass.extract import extract_site
from vaxpass.synth import FaultRates, generate


def test_all_kinds_in_one_cycle(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(data, persons=1_500, seed=7, progress=False, sites=7, faults=FaultRates.none())
    sites = load_sites(data / "sites.json")
    url = make_store(tmp_path, sites)
    summaries = [extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=tmp_path / "landing")
                 for s in sites]
    assert {s.source_kind for s in summaries} == {"inbox", "sql", "fhir", "xlsx", "csv"}
    assert all(s.status == "ok" and s.rows_quarantined == 0 for s in summaries), [s.problems for s in summaries]
    truth = {(r["site_code"], r["source_key"]) for r in csv.DictReader((data / "ground_truth.csv").open())}
    from sqlalchemy import select

    from vaxpass.store import session_scope
    from vaxpass.store.models import DoseRecord
    with session_scope(url) as session:
        keys = session.execute(select(DoseRecord.site_code, DoseRecord.source_key)).tuples().all()
        names = set(session.scalars(select(DoseRecord.full_name)).all())
    assert len(keys) == len(set(keys)) == len(truth) and set(keys) == truth
    assert "" not in names and None not in names
    again = [extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=tmp_path / "landing")
             for s in sites]
    assert sum(s.rows_new + s.files_new for s in again) == 0
