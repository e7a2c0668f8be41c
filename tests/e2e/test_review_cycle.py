"""End to end with a reviewer's correction: one Airflow cycle (`dag.test()`), in which the first district's
reviewer corrects one flagged record through the review page's API (others refused), then approves the gate
through Airflow's REST API; the corrected record is validated and matched again and `issue_reviewed` signs
its certificate, whose lineage shows the correction. No personal data in logs or XComs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from embedded import REPO
from sqlalchemy import select

from tests.e2e.test_issuance_cycle import _assert_no_personal_data
from tests.environment import prepare_environment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_correction_in_review_is_revalidated_rematched_and_certified(tmp_path: Path) -> None:
    from vaxpass.config import settings_from_mapping
    from vaxpass.lineage import missing_links
    from vaxpass.lineage.chain import lineage_chain
    from vaxpass.signing.hcert import verify_hc1
    from vaxpass.signing.trustlist import TrustList
    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, DoseRecord, MatchDecision, ReviewAction, SigningKey

    env = prepare_environment(tmp_path, metadata_url=None, ops_url=None)
    result = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "e2e" / "run_cycle.py"), str(result),
                           str(tmp_path / "airflow" / "passwords.json"), "correct"], env=env, cwd=REPO, text=True,
                          capture_output=True, timeout=900)
    (tmp_path / "cycle.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-4000:]
    outcome = json.loads(result.read_text())
    assert not outcome["errors"], outcome["errors"]
    assert outcome["state"] == "success", (tmp_path / "cycle.log").read_text()[-6000:]
    [gate] = [g for g in outcome["gates"] if "correction" in g]
    correction = gate["correction"]
    assert correction["reviewer_status"] == 200, correction
    assert correction["admin_status"] == 403 and correction["anonymous_status"] == 401
    if "outsider_status" in correction:
        assert correction["outsider_status"] == 403
    assert gate["reviewer_status"] == 200  # the gate approved through Airflow's REST API

    s = settings_from_mapping({k: v for k, v in env.items() if k.startswith("VAXPASS_")})
    with session_scope(s.db_url) as session:
        old = session.get(DoseRecord, correction["record_id"])
        assert old is not None and old.status == "superseded"
        new = session.scalar(select(DoseRecord).filter_by(site_code=old.site_code, source_key=old.source_key,
                                                          version=old.version + 1))
        assert new is not None and new.status == "matched" and new.raw_record_id == old.raw_record_id
        assert new.quality_run_id is not None
        decision = session.scalar(select(MatchDecision).filter_by(dose_record_id=new.id))
        assert decision is not None and decision.outcome == "MATCHED" and decision.method == "cccd"
        action = session.scalar(select(ReviewAction).filter_by(dose_record_id=old.id))
        assert action is not None and (action.status, action.outcome, action.new_dose_record_id) == (
            "applied", "matched", new.id)
        cert = session.scalar(select(Certificate).filter_by(dose_record_id=new.id, status="current"))
        assert cert is not None and cert.person_id == new.person_id
        signer = session.get(SigningKey, cert.kid)
        assert signer is not None
        uvci, hc1, der = cert.uvci, cert.hc1, signer.certificate_der
    from cryptography import x509

    trust = TrustList.from_certificates([x509.load_der_x509_certificate(der)], country="VN")
    decoded = verify_hc1(hc1, trust, now=datetime.now(UTC))
    assert decoded.payload["v"][0]["ci"] == uvci
    chain = lineage_chain(s.db_url, uvci)
    assert chain is not None
    reviews = {link["ref"].split(":")[0]: link for link in chain["links"]["review"]}
    assert reviews["review_action"]["action"] == "correct"
    assert reviews["review_action"]["reviewer"] == f"rv_{correction['district']}"
    fields = set(reviews["review_action"]["fields"].split(","))
    assert "national_id" in fields and fields <= {"dob", "full_name", "national_id", "sex"}
    assert reviews["review_item"]["decision"] == "correct"
    assert missing_links(s.db_url) == {}
    _assert_no_personal_data(tmp_path, env, outcome)
