"""End to end: synthetic Hanoi data → one Airflow cycle with `dag.test()` → verified certificates.

Each district gate is answered through Airflow's REST API by that district's reviewer, after another
district's reviewer (and the admin) were refused. Runs on SQLite, and with CI=true also with PostgreSQL as
both the Airflow metadata database and the ops store.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from embedded import REPO, run

from tests.environment import prepare_environment
from tests.interop.verifier import verify_independently
from tests.lineage.openlineage_events import check_openlineage_events

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _run_cycle(tmp: Path, env: dict[str, str]) -> dict:
    result = tmp / "result.json"
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "e2e" / "run_cycle.py"), str(result),
                           str(tmp / "airflow" / "passwords.json")], env=env, cwd=REPO, text=True,
                          capture_output=True, timeout=900)
    (tmp / "cycle.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(result.read_text())


def _check_cycle(tmp: Path, env: dict[str, str], outcome: dict) -> None:
    from vaxpass.config import settings_from_mapping
    from vaxpass.lineage import missing_links
    from vaxpass.signing.dcc import validate_payload
    from vaxpass.signing.hcert import verify_hc1
    from vaxpass.signing.trustlist import TrustList
    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, DoseRecord, Person

    assert not outcome["errors"], outcome["errors"]
    assert outcome["state"] == "success", (tmp / "cycle.log").read_text()[-6000:]
    assert outcome["gates"], "the synthetic faults must flag records for at least one district"
    for gate in outcome["gates"]:
        assert gate["reviewer_status"] == 200, gate
        assert gate["admin_status"] == 403, gate
        assert gate["again_status"] == 409, gate
        if "outsider" in gate:
            assert gate["outsider_status"] == 403, gate
    assert any("outsider" in g for g in outcome["gates"]), "needs two districts to show a 403"

    py = sys.executable
    run([py, "-m", "vaxpass.cli", "certificates", "export", "--format", "hc1", "--out", str(tmp / "hc1")], env,
        stdout=subprocess.DEVNULL)
    run([py, "-m", "vaxpass.cli", "trustlist", "export", "--out", str(tmp / "trust.json")], env,
        stdout=subprocess.DEVNULL)
    trust = TrustList.load(tmp / "trust.json")
    files = sorted((tmp / "hc1").glob("*.txt"))
    assert files
    now = datetime.now(UTC)
    for path in files:
        decoded = verify_hc1(path.read_text().strip(), trust, now=now)
        validate_payload(decoded.payload)
    # the CLI verifies one too, exit 0 only when valid
    ok = subprocess.run([py, "-m", "vaxpass.cli", "verify", str(files[0]), "--trustlist", str(tmp / "trust.json")],
                        env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "VALID" in ok.stdout

    # and an independent verifier (JavaScript, no vaxpass code) accepts every one against the exported trust list
    independent = verify_independently(tmp / "trust.json", files)
    assert [r["valid"] for r in independent] == [True] * len(files), [r for r in independent if not r["valid"]][:3]
    assert {r["payload"]["v"][0]["ci"] for r in independent} == {
        verify_hc1(f.read_text().strip(), trust, now=now).payload["v"][0]["ci"] for f in files}

    s = settings_from_mapping({k: v for k, v in env.items() if k.startswith("VAXPASS_")})
    assert missing_links(s.db_url) == {}
    _check_confirmations(s, files[0].read_text().strip(), trust, env)

    # Reconcile with the ground truth: every input person ends issued, flagged or quarantined, exactly once.
    truth = list(csv.DictReader((Path(env["VAXPASS_HOME"]) / "data" / "ground_truth.csv").open()))
    with session_scope(s.db_url) as session:
        records = session.query(DoseRecord).all()
        certified = {p for (p,) in session.query(Certificate.person_id).filter(Certificate.status == "current")}
        national_ids = {p.id: (p.national_id or p.passport_no) for p in session.query(Person)}
        assert len(files) == len(certified)
        status_of = {(r.site_code, r.source_key): r.status for r in records if r.status != "superseded"}
    assert len(status_of) == len(truth), "every source row is in the store exactly once"
    persons: dict[str, set[str]] = {}
    for row in truth:
        persons.setdefault(row["person_key"], set()).add(status_of[(row["site_code"], row["source_key"])])
    issued_ids = {national_ids[p] for p in certified}
    issued = flagged = quarantined = 0
    for person_key, statuses in persons.items():
        ident = person_key.split("-")[-1] if person_key.startswith("P-") else person_key
        if ident in issued_ids:
            issued += 1
        elif statuses & {"flagged", "in_review", "rejected", "held"}:  # waiting: review, or a held site batch
            flagged += 1
        else:
            assert statuses == {"quarantined"}, (person_key, statuses)
            quarantined += 1
    assert issued + flagged + quarantined == len(persons)
    assert issued > 0.5 * len(persons)
    _assert_no_personal_data(tmp, env, outcome)


def _check_confirmations(s: object, hc1: str, trust: object, env: dict[str, str]) -> None:
    """Each certificate's lineage names the signed facility confirmation of its dose, and the dose's inclusion
    proof verifies against the root in that PAdES-signed PDF (trusted through the exported root CA)."""
    from cryptography import x509

    from vaxpass.confirmation.confirm import check_inclusion
    from vaxpass.signing.hcert import verify_hc1

    uvci = verify_hc1(hc1, trust, now=datetime.now(UTC)).payload["v"][0]["ci"]  # type: ignore[arg-type]
    shown = subprocess.run([sys.executable, "-m", "vaxpass.cli", "lineage", uvci, "--json"], env=env,
                           capture_output=True, text=True, check=True).stdout
    [link] = json.loads(shown)["links"]["confirmation"]
    assert link["signer_kid"] and link["merkle_root"] and "proof" in link["inclusion"]
    root = tmp_root = Path(env["VAXPASS_HOME"]) / "root.pem"
    run([sys.executable, "-m", "vaxpass.cli", "pki", "export-root", "--out", str(tmp_root)], env,
        stdout=subprocess.DEVNULL)
    check = check_inclusion(s.db_url, link["dose_record_id"],  # type: ignore[attr-defined]
                            [x509.load_pem_x509_certificate(root.read_bytes())])
    assert check.ok


def _assert_no_personal_data(tmp: Path, env: dict[str, str], outcome: dict) -> None:
    """No name, ID number or phone of the input appears in XComs or in any log of the run."""
    import sqlite3

    data = Path(env["VAXPASS_HOME"]) / "data"
    con = sqlite3.connect(data / "registry.sqlite")
    needles = {n for row in con.execute("SELECT full_name, cccd, cmnd FROM persons") for n in row if n}
    dobs = {dob for (dob,) in con.execute("SELECT dob FROM persons")}
    con.close()
    for path in (data / "inbox").rglob("*.csv"):
        for row in csv.DictReader(path.open(encoding="utf-8")):
            needles.update(v for k, v in row.items() if k in ("Họ và tên", "Số CCCD/CMND", "Số điện thoại",
                                                               "Số hộ chiếu") and v and len(v) >= 8)
    assert len(needles) > 100 and outcome["xcoms"]
    texts = {"xcom": "\n".join(outcome["xcoms"]), "cycle.log": (tmp / "cycle.log").read_text()}
    reports = list((Path(env["VAXPASS_HOME"]) / "reports").glob("*.html"))
    assert reports, "finish_cycle writes the run report"
    report = reports[0].read_text()
    assert "Data Docs" in report and "data_docs/" in report and "Registry matching" in report
    assert f'{env["AIRFLOW__API__BASE_URL"]}/vaxpass/dashboard?cycle=' in report  # the cycle's dashboard
    docs = sorted((Path(env["VAXPASS_HOME"]) / "data_docs").rglob("*.html"))
    assert docs, "finish_cycle builds the cycle's Data Docs"
    for page in [*reports, *docs]:
        texts[str(page)] = page.read_text(errors="replace")
    for log in (tmp / "airflow" / "logs").rglob("*"):
        if log.is_file():
            texts[str(log)] = log.read_text(errors="replace")
    for where, text in texts.items():
        leaked = [n for n in needles if n in text]
        assert not leaked, f"personal data in {where}: {len(leaked)} value(s)"
    # OpenLineage: an event per task with its datasets, and no names, IDs, phones or dates of birth in any
    check_openlineage_events(Path(env["VAXPASS_HOME"]) / "openlineage", run_id=outcome["run_id"],
                             personal=needles | dobs)


def test_cycle_on_sqlite(tmp_path: Path) -> None:
    env = prepare_environment(tmp_path, metadata_url=None, ops_url=None)
    outcome = _run_cycle(tmp_path, env)
    _check_cycle(tmp_path, env, outcome)
    # A rerun of the whole cycle issues nothing new and drops nothing.
    from vaxpass.config import settings_from_mapping
    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, DoseRecord

    s = settings_from_mapping({k: v for k, v in env.items() if k.startswith("VAXPASS_")})
    with session_scope(s.db_url) as session:
        before = (session.query(Certificate).count(), session.query(DoseRecord).count())
    outcome2 = _run_cycle(tmp_path, env)
    assert outcome2["state"] == "success"
    with session_scope(s.db_url) as session:
        assert (session.query(Certificate).count(), session.query(DoseRecord).count()) == before


@pytest.mark.postgres
def test_cycle_on_postgres(tmp_path: Path, pg_databases: Callable[[], str]) -> None:
    env = prepare_environment(tmp_path, metadata_url=pg_databases(), ops_url=pg_databases())
    outcome = _run_cycle(tmp_path, env)
    _check_cycle(tmp_path, env, outcome)
