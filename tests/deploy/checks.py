"""What a finished cycle must satisfy, read from the ops store and the synthetic ground truth."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.deploy.topology import CeleryTopology
from tests.interop.verifier import verify_independently

WAITING = {"flagged", "in_review", "rejected", "held"}


def store_counts(topology: CeleryTopology) -> dict[str, Any]:
    """Counts of the ops store (no personal data): dose records by status, certificates, UVCIs."""
    from sqlalchemy import func, select

    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, DoseRecord

    with session_scope(topology.ops_url) as session:
        by_status = dict(session.execute(select(DoseRecord.status, func.count()).group_by(DoseRecord.status))
                         .tuples().all())
        certificates = session.execute(select(Certificate.person_id, Certificate.version, Certificate.uvci,
                                              Certificate.status)).all()
    return {"records_by_status": by_status, "certificates": len(certificates),
            "current": sum(1 for c in certificates if c.status == "current"),
            "uvcis": len({c.uvci for c in certificates}),
            "person_versions": len({(c.person_id, c.version) for c in certificates}),
            "persons_certified": len({c.person_id for c in certificates})}


def check_certificates(topology: CeleryTopology) -> dict[str, Any]:
    """Every certificate verifies (vaxpass's verifier and the independent one), one per person and UVCIs
    unique, and exactly the persons with matched dose records hold one. Returns the store counts."""
    from sqlalchemy import select

    from vaxpass.signing.dcc import validate_payload
    from vaxpass.signing.hcert import verify_hc1
    from vaxpass.signing.trustlist import TrustList
    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, DoseRecord

    counts = store_counts(topology)
    assert counts["current"] > 0
    assert counts["uvcis"] == counts["certificates"], "a UVCI was issued twice"
    assert counts["person_versions"] == counts["certificates"]
    # one cycle, no corrections: exactly one certificate per person (a rerun issuing again would make a v2)
    assert counts["persons_certified"] == counts["certificates"] == counts["current"], counts
    with session_scope(topology.ops_url) as session:
        matched = set(session.scalars(select(DoseRecord.person_id).where(DoseRecord.status == "matched")))
        certified = set(session.scalars(select(Certificate.person_id).where(Certificate.status == "current")))
    assert certified == matched, (len(certified), len(matched))

    out, trust_path = topology.tmp / "hc1", topology.tmp / "trust.json"
    cli = [sys.executable, "-m", "vaxpass.cli"]
    for args in (["certificates", "export", "--format", "hc1", "--out", str(out)],
                 ["trustlist", "export", "--out", str(trust_path)]):
        subprocess.run(cli + args, env=topology.env, check=True, capture_output=True)
    files = sorted(out.glob("*.txt"))
    assert len(files) == counts["current"]
    trust, now = TrustList.load(trust_path), datetime.now(UTC)
    uvcis = set()
    for path in files:  # what `vaxpass verify` does, in one process
        decoded = verify_hc1(path.read_text().strip(), trust, now=now)
        validate_payload(decoded.payload)
        uvcis.add(decoded.payload["v"][0]["ci"])
    assert len(uvcis) == len(files)
    for path in files[:3]:  # and the command itself
        proc = subprocess.run(cli + ["verify", str(path), "--trustlist", str(trust_path)], env=topology.env,
                              capture_output=True, text=True)
        assert proc.returncode == 0 and "VALID" in proc.stdout, proc.stdout + proc.stderr
    independent = verify_independently(trust_path, files)
    assert all(r["valid"] for r in independent), [r for r in independent if not r["valid"]][:3]
    return counts


def reconcile(topology: CeleryTopology) -> dict[str, int]:
    """Every source row of the ground truth is in the store exactly once (as a dose record, quarantined or
    not), and every vaccinated person ends certified, waiting (review, held batch) or quarantined."""
    from sqlalchemy import select

    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, DoseRecord, Person

    truth = list(csv.DictReader((topology.data_dir / "ground_truth.csv").open()))
    with session_scope(topology.ops_url) as session:
        rows = session.execute(select(DoseRecord.site_code, DoseRecord.source_key, DoseRecord.status)).all()
        certified = set(session.scalars(select(Certificate.person_id).where(Certificate.status == "current")))
        idents = {p.id: (p.national_id or p.passport_no) for p in session.scalars(select(Person))}
    live = [(r.site_code, r.source_key) for r in rows if r.status != "superseded"]
    duplicates = [k for k, n in Counter(live).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} source rows stored twice, e.g. {duplicates[:3]}"
    status_of = {(r.site_code, r.source_key): r.status for r in rows if r.status != "superseded"}
    missing = [(t["site_code"], t["source_key"]) for t in truth if (t["site_code"], t["source_key"]) not in status_of]
    assert not missing, f"{len(missing)} source rows lost, e.g. {missing[:3]}"
    assert len(status_of) == len(truth), (len(status_of), len(truth))
    assert "new" not in status_of.values() and "valid" not in status_of.values(), Counter(status_of.values())

    persons: dict[str, set[str]] = {}
    for row in truth:
        persons.setdefault(row["person_key"], set()).add(status_of[(row["site_code"], row["source_key"])])
    issued_ids = {idents[p] for p in certified}
    tally = Counter()
    for person_key, statuses in persons.items():
        ident = person_key.split("-")[-1] if person_key.startswith("P-") else person_key
        if ident in issued_ids:
            tally["issued"] += 1
        elif statuses & WAITING:
            tally["waiting"] += 1
        else:
            assert statuses == {"quarantined"}, (statuses,)
            tally["quarantined"] += 1
    assert sum(tally.values()) == len(persons)
    assert tally["issued"] == len(certified), "a certificate for a person outside the ground truth"
    return {"source_rows": len(truth), "persons": len(persons), **tally}


def save_report(path: Path, report: dict[str, Any]) -> None:
    import json

    path.write_text(json.dumps(report, indent=2, default=str))
