"""Run one `vaxpass_issuance` cycle with `dag.test()` and answer each district gate through Airflow's REST API.

Run as a separate process (Airflow reads its configuration at import): the test sets AIRFLOW_HOME, the
metadata database, the users and VAXPASS_* in the environment. A background thread polls the pending
human-in-the-loop requests as the data engineer, tries each gate first as another district's reviewer (which
must be refused with 403) and then answers it as the district's own reviewer. What happened is written as
JSON to the path given as the first argument.

`correct` approves like `approve`, but first makes one correction on the first gate's district through the
review page's API (vaxpass's plugin, mounted in the same api-server app) as that district's reviewer — after
another district's reviewer and the admin were refused — so the cycle proves correction → validation →
matching → certificate.

    python run_cycle.py RESULT.json PASSWORDS.json [approve|reject|correct]
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any


def main(result_path: Path, passwords: dict[str, str], decision: str) -> int:
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    from airflow.api_fastapi.app import create_app
    from airflow.dag_processing.dagbag import DagBag
    from fastapi.testclient import TestClient

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("vaxpass_issuance")
    client = TestClient(create_app())
    result: dict[str, Any] = {"gates": [], "errors": []}
    done = threading.Event()

    def token(user: str) -> dict[str, str]:
        resp = client.post("/auth/token", json={"username": user, "password": passwords[user]})
        assert resp.status_code == 201, (user, resp.status_code, resp.text)
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def answer_gates() -> None:
        try:
            engineer = token("engineer")
            answered: set[tuple[str, str, int]] = set()
            while not done.is_set():
                resp = client.get("/api/v2/dags/~/dagRuns/~/hitlDetails",
                                  params={"response_received": False}, headers=engineer)
                for detail in resp.json().get("hitl_details", []):
                    ti = detail["task_instance"]
                    key = (ti["dag_run_id"], ti["task_id"], ti["map_index"])
                    if key in answered:
                        continue
                    answered.add(key)
                    result["gates"].append(_answer(client, token, detail, passwords, decision))
                time.sleep(0.5)
        except Exception as exc:  # reported to the test, which fails on it
            result["errors"].append(repr(exc))

    thread = threading.Thread(target=answer_gates, daemon=True)
    thread.start()
    try:
        dag_run = dag.test()
        result["state"] = str(dag_run.state)
        result["run_id"] = dag_run.run_id
        result["xcoms"] = _xcoms(dag_run.run_id)
    finally:
        done.set()
        thread.join(timeout=10)
        result_path.write_text(json.dumps(result, indent=2))
    return 0


def _xcoms(run_id: str) -> list[str]:
    """Every XCom value of the run, as stored (the test scans them for personal data)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(XComModel.task_id, XComModel.key, XComModel.value)
                               .where(XComModel.run_id == run_id)).all()
    return [f"{task_id}/{key}: {json.dumps(value, default=str, ensure_ascii=False)}" for task_id, key, value in rows]


def _answer(client: Any, token: Any, detail: dict[str, Any], passwords: dict[str, str],
            decision: str) -> dict[str, Any]:
    ti = detail["task_instance"]
    url = (f"/api/v2/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
           f"{ti['map_index']}/hitlDetails")
    assignees = [u["id"] for u in detail["assigned_users"]]
    outsiders = [u for u in passwords if u.startswith("rv_") and u not in assignees]
    body = {"chosen_options": ["Reject" if decision == "reject" else "Approve"], "params_input": {}}
    record: dict[str, Any] = {"task_id": ti["task_id"], "map_index": ti["map_index"], "assignees": assignees,
                              "subject": detail["subject"]}
    if outsiders:
        record["outsider"] = outsiders[0]
        record["outsider_status"] = client.patch(url, json=body, headers=token(outsiders[0])).status_code
    record["admin_status"] = client.patch(url, json=body, headers=token("engineer")).status_code
    if decision == "correct" and not _corrected:
        record["correction"] = _correct_one(client, token, assignees[0], outsiders[0] if outsiders else None)
        _corrected.append(record["correction"]["record_id"])
    resp = client.patch(url, json=body, headers=token(assignees[0]))
    record["reviewer_status"] = resp.status_code
    record["again_status"] = client.patch(url, json=body, headers=token(assignees[0])).status_code
    return record


_corrected: list[int] = []


def _correct_one(client: Any, token: Any, reviewer: str, outsider: str | None) -> dict[str, Any]:
    """As the district's reviewer, correct the district's first open record to the identity of a registry person
    no record names yet (what a reviewer supplies after calling the person). Statuses and ids only are returned:
    no personal data in the result."""
    import sqlite3

    from sqlalchemy import select

    from vaxpass.config import settings_from_mapping
    from vaxpass.store import session_scope
    from vaxpass.store.models import DoseRecord

    district = reviewer.removeprefix("rv_")
    listing = client.get(f"/vaxpass/review/api/{district}/records", headers=token(reviewer))
    assert listing.status_code == 200, (listing.status_code, listing.text[:300])
    record_id = listing.json()[0]["record_id"]
    s = settings_from_mapping({k: v for k, v in os.environ.items() if k.startswith("VAXPASS_")})
    with session_scope(s.db_url) as session:
        used = set(session.scalars(select(DoseRecord.national_id).where(DoseRecord.national_id.is_not(None))))
    con = sqlite3.connect(s.registry_url.removeprefix("sqlite:///"))
    rows = con.execute("SELECT cccd, full_name, dob, sex FROM persons ORDER BY registry_id").fetchall()
    con.close()
    cccd, name, dob, sex = next(r for r in rows if r[0] not in used and r[2] < "2003")
    url = f"/vaxpass/review/api/{district}/records/{record_id}/decision"
    body = {"action": "correct", "fields": {"national_id": cccd, "full_name": name, "dob": dob, "sex": sex},
            "note": "e2e"}
    out: dict[str, Any] = {"record_id": record_id, "district": district,
                           "admin_status": client.post(url, json=body, headers=token("engineer")).status_code}
    if outsider:
        out["outsider_status"] = client.post(url, json=body, headers=token(outsider)).status_code
    out["anonymous_status"] = client.post(url, json=body).status_code
    resp = client.post(url, json=body, headers=token(reviewer))
    out["reviewer_status"] = resp.status_code
    return out


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()),
                  sys.argv[3] if len(sys.argv) > 3 else "approve"))
