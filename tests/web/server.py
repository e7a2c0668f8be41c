"""A real Airflow api-server with vaxpass's plugin, on a free port, over a home where one cycle has run
through the vaxpass stages (extract → validate → match → issue → district batches opened)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from embedded import REPO

CYCLE_ID = "web_cycle_1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AirflowServer:
    """The running api-server: its URL, its environment, and a signed-in client per user."""

    base_url: str
    env: dict[str, str]
    passwords: dict[str, str]
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        if user not in self._tokens:
            resp = httpx.post(f"{self.base_url}/auth/token",
                              json={"username": user, "password": self.passwords[user]}, timeout=30)
            assert resp.status_code == 201, (user, resp.status_code, resp.text)
            self._tokens[user] = resp.json()["access_token"]
        return self._tokens[user]

    def client(self, user: str | None) -> httpx.Client:
        """A client signed in as `user` (Bearer token), or anonymous when None."""
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, follow_redirects=False)


def run_cycle_stages(env: dict[str, str], cycle_id: str = CYCLE_ID) -> dict[str, object]:
    """One cycle through the vaxpass stages without a scheduler: what the DAG's tasks call, in order."""
    from vaxpass.config import settings_from_mapping
    from vaxpass.pipeline import stages

    s = settings_from_mapping({k: v for k, v in env.items() if k.startswith("VAXPASS_")})
    now = datetime.now(UTC)
    sites = stages.start_cycle(s, cycle_id=cycle_id, dag_id="vaxpass_issuance", run_after=now)
    for site in sites:
        stages.extract(s, cycle_id=cycle_id, site_code=site)
        stages.validate(s, cycle_id=cycle_id, site_code=site, run_date=now.date())
    matched = stages.match(s, cycle_id=cycle_id)
    for site in sites:
        stages.confirm(s, cycle_id=cycle_id, site_code=site, signed_at=now)
    issued = stages.issue(s, cycle_id=cycle_id, dag_id="vaxpass_issuance", task_id="issue_clean", issued_at=now)
    batches = stages.open_review(s, cycle_id=cycle_id)
    return {"sites": sites, "matched": matched, "issued": issued, "batches": batches}


@contextmanager
def airflow_server(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """`airflow api-server` in its own process group; yields its base URL once it answers."""
    with log.open("w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "api-server", "--port", str(port),
                                 "--host", "127.0.0.1"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"api-server exited with {proc.returncode}: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"api-server did not answer in 120 s: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def passwords(env: dict[str, str]) -> dict[str, str]:
    return json.loads((Path(env["AIRFLOW_HOME"]) / "passwords.json").read_text())
