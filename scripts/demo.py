"""`make run`: the embedded demo. Generates a synthetic Hanoi data set, sets up vaxpass and an Airflow home
inside the project, starts `airflow standalone` on localhost:8080, triggers one issuance cycle, and shows the
certificates that come out and the district gates that wait for their reviewers. Safe to run again: it keeps
the data, keys and passwords, reuses a running Airflow and triggers one more cycle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from embedded import (
    BIN,
    ENGINEER,
    REPO,
    airflow_env,
    ensure_passwords,
    reviewer_name,
    run,
    users_for,
)

VAXPASS_HOME = REPO / ".vaxpass"
AIRFLOW_HOME = REPO / ".airflow"
BASE = "http://localhost:8080"
DAG = "vaxpass_issuance"
PIDFILE = AIRFLOW_HOME / "standalone.pid"


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def api(method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    req = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body is not None
                                 else None, headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (value := check()) is not None:
                return value
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError):
            pass
        time.sleep(2)
    raise SystemExit(f"timed out waiting for {what}; see {AIRFLOW_HOME / 'standalone.log'}")


def stop() -> int:
    """End the `airflow standalone` this demo started (its whole process group: scheduler, api-server, …)."""
    if not PIDFILE.exists():
        say("Airflow was not started by `make run` (no standalone.pid).")
        return 0
    pid = int(PIDFILE.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(30):
            time.sleep(1)
            os.killpg(pid, 0)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PIDFILE.unlink()
    say("Airflow stopped.")
    return 0


def main() -> int:
    data = VAXPASS_HOME / "data"
    cli = [str(BIN / "vaxpass"), "--home", str(VAXPASS_HOME)]
    base_env = airflow_env(airflow_home=AIRFLOW_HOME, vaxpass_home=VAXPASS_HOME, users={})
    if not (data / "sites.json").exists():
        say("Generating the demo data set (synthetic Hanoi sites and population registry)…")
        run(cli + ["synth", "--out", str(data), "--persons", "3000", "--seed", "2026"], base_env)
    districts = sorted({s["district_code"] for s in json.loads((data / "sites.json").read_text())})
    users = users_for(districts)
    passwords = ensure_passwords(AIRFLOW_HOME / "passwords.json", users)
    env = airflow_env(airflow_home=AIRFLOW_HOME, vaxpass_home=VAXPASS_HOME, users=users)
    run(cli + ["init"], env)
    for district in districts:
        run(cli + ["reviewer", "add", "--user", reviewer_name(district), "--district", district], env,
            stdout=subprocess.DEVNULL)
    run([str(BIN / "airflow"), "db", "migrate"], env, stdout=subprocess.DEVNULL)

    try:
        api("GET", "/api/v2/monitor/health")
        say("Airflow is already running on localhost:8080.")
    except (urllib.error.URLError, ConnectionError):
        say("Starting Airflow (airflow standalone) on localhost:8080…")
        log = (AIRFLOW_HOME / "standalone.log").open("ab")
        proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, cwd=REPO, stdout=log, stderr=log,
                                start_new_session=True)
        PIDFILE.write_text(str(proc.pid))  # `make stop` ends this process group
        wait_for("the Airflow API", lambda: api("GET", "/api/v2/monitor/health"), 240)

    token = api("POST", "/auth/token", body={"username": ENGINEER, "password": passwords[ENGINEER]})["access_token"]
    wait_for("the DAG to be parsed", lambda: api("GET", f"/api/v2/dags/{DAG}", token), 240)
    api("PATCH", f"/api/v2/dags/{DAG}", token, {"is_paused": False})
    # One cycle at a time (max_active_runs=1): follow a cycle that is already running (the scheduler starts
    # one when the DAG is first unpaused; an earlier `make run` may have one waiting at its gates).
    active = api("GET", f"/api/v2/dags/{DAG}/dagRuns?state=running&state=queued&order_by=-run_after", token)
    if active["dag_runs"]:
        run_id = active["dag_runs"][0]["dag_run_id"]
        say(f"Cycle {run_id} is already running; following it…")
    else:
        run_id = api("POST", f"/api/v2/dags/{DAG}/dagRuns", token, {"logical_date": None})["dag_run_id"]
        say(f"Triggered cycle {run_id}; waiting for the clean records' certificates…")

    def issued() -> Any:
        ti = api("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/issue_clean", token)
        if ti["state"] in ("failed", "upstream_failed"):
            raise SystemExit(f"issue_clean {ti['state']}: see the task log in the UI")
        return ti if ti["state"] == "success" else None

    wait_for("issue_clean", issued, 900)
    out = VAXPASS_HOME / "export"
    run(cli + ["certificates", "export", "--format", "hc1", "--out", str(out / "hc1")], env)
    run(cli + ["certificates", "export", "--format", "png", "--limit", "20", "--out", str(out / "png")], env,
        stdout=subprocess.DEVNULL)
    run(cli + ["certificates", "export", "--format", "pdf", "--limit", "20", "--out", str(out / "pdf")], env,
        stdout=subprocess.DEVNULL)
    run(cli + ["trustlist", "export", "--out", str(out / "trustlist.json")], env)
    run(cli + ["revocation", "export", "--out", str(out / "revocations.json")], env, stdout=subprocess.DEVNULL)
    run(cli + ["pki", "export-root", "--out", str(out / "root.pem")], env, stdout=subprocess.DEVNULL)
    sample = [out / "hc1" / f"{pdf.stem}.txt" for pdf in sorted((out / "pdf").glob("*.pdf"))[:1]]
    if sample:
        say(f"\nOne of them, {sample[0].name}:\n  {sample[0].read_text().strip()[:120]}…")
        say(f"Verify it:  .venv/bin/vaxpass verify {sample[0]} --trustlist {out / 'trustlist.json'}")
        say(f"Its signed PDF (and QR image) verify too:  .venv/bin/vaxpass verify {out / 'pdf' / sample[0].stem}.pdf "
            f"--trustlist {out / 'trustlist.json'} --root {out / 'root.pem'}")

    def gates() -> Any:
        pending = api("GET", "/api/v2/dags/~/dagRuns/~/hitlDetails?response_received=false", token)
        return pending if pending["total_entries"] else None

    try:
        pending = wait_for("the district gates", gates, 120)
    except SystemExit:
        pending = {"hitl_details": []}
    say("\nDistrict gates waiting under Browse → Required Actions:")
    for d in pending["hitl_details"]:
        say(f"  - {d['subject']}  (reviewers: {', '.join(u['id'] for u in d['assigned_users'])})")
    say(f"\nAirflow UI: {BASE}  — users and passwords (also in {AIRFLOW_HOME / 'passwords.json'}):")
    for user, role in users.items():
        say(f"  {user:<12} {role:<7} {passwords[user]}")
    say("\nSign in as a district's reviewer to approve its batch; `make stop` stops Airflow.")
    return 0


if __name__ == "__main__":
    sys.exit(stop() if sys.argv[1:] == ["stop"] else main())
