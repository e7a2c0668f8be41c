"""docker-compose.yml's topology without Docker: Airflow with the CeleryExecutor on this machine's PostgreSQL
and Redis, every component a subprocess in its own process group.

`airflow db migrate`, then scheduler, dag-processor, triggerer, api-server (a free port) and Celery workers
with distinct names. Both workers run on one host here, so each reports its own name as the task instance's
hostname (`[core] hostname_callable`, see `worker_name.py`); on separate machines the real hostnames differ.
The broker is a Redis database shared with other runs (another engineer's, a CI run on the same machine) and
a queue named for this topology only: nothing is flushed, so two topologies never drop each other's messages;
Celery's results go to the Airflow metadata database on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from embedded import REPO, airflow_env, ensure_passwords, reviewer_name, users_for

DAG_ID = "vaxpass_issuance"
REDIS_URL = os.environ.get("VAXPASS_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _result_backend(metadata_url: str) -> str:
    return "db+" + metadata_url.replace("postgresql+psycopg2://", "postgresql://", 1)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the Celery worker's pool, task supervisors and task processes)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, grace: float = 15.0) -> None:
        if self.alive():
            self.kill_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill_group(signal.SIGKILL)  # stragglers of the group, even when the leader is gone
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        self.handle.close()


@dataclass
class CeleryTopology:
    """One Airflow deployment: prepare() the data and databases, start() the components, stop() them all."""

    tmp: Path
    metadata_url: str
    ops_url: str
    persons: int = 300
    sites: int = 4
    seed: int = 11
    worker_names: tuple[str, ...] = ("w1", "w2")
    concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    queue: str = field(default_factory=lambda: f"vaxpass-{secrets.token_hex(4)}")
    env: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def vaxpass_home(self) -> Path:
        return self.tmp / "vaxpass"

    @property
    def data_dir(self) -> Path:
        return self.vaxpass_home / "data"

    def prepare(self) -> None:
        """Synthetic data, `vaxpass init`, district reviewers, Airflow users and `airflow db migrate`."""
        py = sys.executable
        env0 = airflow_env(airflow_home=self.tmp / "airflow", vaxpass_home=self.vaxpass_home, users={},
                           ops_url=self.ops_url)
        self._run([py, "-m", "vaxpass.cli", "synth", "--out", str(self.data_dir), "--persons", str(self.persons),
                   "--sites", str(self.sites), "--seed", str(self.seed), "--no-progress"], env0)
        districts = sorted({s["district_code"] for s in json.loads((self.data_dir / "sites.json").read_text())})
        users = users_for(districts)
        self.passwords = ensure_passwords(self.tmp / "airflow" / "passwords.json", users)
        self.env = airflow_env(airflow_home=self.tmp / "airflow", vaxpass_home=self.vaxpass_home, users=users,
                               metadata_url=self.metadata_url, ops_url=self.ops_url, port=self.port)
        from cryptography.fernet import Fernet

        self.env.update({
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), self.env["PYTHONPATH"]) if p),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": _result_backend(self.metadata_url),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            # only the cycles the test triggers: no scheduled run when the DAG first appears
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            **self.extra_env,
        })
        self._run([py, "-m", "vaxpass.cli", "init"], self.env)
        for district in districts:
            self._run([py, "-m", "vaxpass.cli", "reviewer", "add", "--user", reviewer_name(district),
                       "--district", district], self.env)
        self._run([str(BIN / "airflow"), "db", "migrate"], self.env)

    def _run(self, cmd: list[str], env: dict[str, str]) -> None:
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-4000:])

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.tmp / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("ab")
        popen = subprocess.Popen([str(BIN / "airflow"), *args], env=env or self.env, cwd=REPO, stdout=handle,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes[name] = Process(name, popen, log, handle)
        return self.processes[name]

    def start_worker(self, name: str) -> Process:
        env = self.env | {"AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.deploy.worker_name.hostname",
                          "VAXPASS_TEST_WORKER_NAME": name}
        return self.spawn(name, ["celery", "worker", "-H", f"{name}@%h", "-q", self.queue, "-c",
                                 str(self.concurrency), "--skip-serve-logs", "--without-mingle",
                                 "--without-gossip"], env)

    def start(self) -> None:
        self.spawn("api-server", ["api-server", "--port", str(self.port), "--workers", "1"])
        self.spawn("scheduler", ["scheduler", "--skip-serve-logs"])
        self.spawn("dag-processor", ["dag-processor"])
        self.spawn("triggerer", ["triggerer", "--skip-serve-logs"])
        for name in self.worker_names:
            self.start_worker(name)
        self.wait(lambda: self._get_public("/api/v2/monitor/health"), 180, "the api-server to answer")
        self.wait(lambda: self.get("/api/v2/dags/" + DAG_ID).status_code == 200, 180, "the DAG to be parsed")

    def stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            proc.stop()

    # --- REST API ---------------------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _get_public(self, path: str) -> bool:
        try:
            return httpx.get(self.base + path, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    @staticmethod
    def _retrying(call: Callable[[], httpx.Response], attempts: int = 4) -> httpx.Response:
        """An idempotent request (a token, a GET) retried when the api-server does not answer in time: on a
        loaded machine its single worker can stall for over 30 s, and one slow answer must not fail a test
        whose subject is the cycle, not the API's latency."""
        for attempt in range(attempts):
            try:
                return call()
            except (httpx.TimeoutException, httpx.ConnectError):
                if attempt == attempts - 1:
                    raise
                time.sleep(2 * (attempt + 1))
        raise AssertionError("unreachable")

    def token(self, user: str) -> dict[str, str]:
        resp = self._retrying(lambda: httpx.post(
            self.base + "/auth/token", json={"username": user, "password": self.passwords[user]}, timeout=30))
        assert resp.status_code == 201, (user, resp.status_code, resp.text)
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def get(self, path: str, user: str = "engineer", **kwargs: Any) -> httpx.Response:
        headers = self.token(user)
        return self._retrying(lambda: httpx.get(self.base + path, headers=headers, timeout=30, **kwargs))

    def trigger(self) -> str:
        resp = httpx.post(f"{self.base}/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None},
                          headers=self.token("engineer"), timeout=30)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["dag_run_id"])

    def run_state(self, run_id: str) -> str:
        return str(self.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"])

    def answer_gates(self, run_id: str, decision: str = "Approve") -> list[dict[str, Any]]:
        """Answer every pending gate of the run as its district's own reviewer (through PATCH …/hitlDetails)."""
        answered = []
        resp = self.get("/api/v2/dags/~/dagRuns/~/hitlDetails", params={"response_received": False})
        for detail in resp.json().get("hitl_details", []):
            ti = detail["task_instance"]
            if ti["dag_run_id"] != run_id:
                continue
            url = (f"{self.base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/"
                   f"{ti['map_index']}/hitlDetails")
            reviewer = detail["assigned_users"][0]["id"]
            patched = httpx.patch(url, json={"chosen_options": [decision], "params_input": {}},
                                  headers=self.token(reviewer), timeout=30)
            answered.append({"map_index": ti["map_index"], "reviewer": reviewer, "status": patched.status_code})
        return answered

    def wait_for_run(self, run_id: str, timeout: float = 600,
                     on_poll: Callable[[], None] | None = None) -> tuple[str, list[dict[str, Any]]]:
        """Poll the run until it ends, answering its gates as they open; returns the state and the answers."""
        gates: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(run_id)
            if state in ("success", "failed"):
                return state, gates
            gates += self.answer_gates(run_id)
            if on_poll:
                on_poll()
            self.assert_alive()
            time.sleep(2)
        raise AssertionError(f"run {run_id} still {self.run_state(run_id)} after {timeout}s; {self.task_states(run_id)}")

    def assert_alive(self, skip: frozenset[str] = frozenset()) -> None:
        dead = [p.name for p in self.processes.values() if not p.alive() and p.name not in skip]
        assert not dead, f"components died: {dead}; see {self.tmp / 'logs'}"

    @staticmethod
    def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    # --- the Airflow metadata database --------------------------------------------------------------------------
    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.metadata_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT task_id, map_index, rendered_map_index, state, hostname, "
                                         "try_number, duration "
                                         "FROM task_instance "
                                         "WHERE dag_id = :d AND run_id = :r ORDER BY task_id, map_index"),
                                    {"d": DAG_ID, "r": run_id}).mappings().all()
        finally:
            engine.dispose()
        return [dict(r) for r in rows]

    def _log_folder(self, run_id: str, task_id: str) -> Path:
        return self.tmp / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"

    def task_logs(self, run_id: str, task_id: str) -> list[str]:
        """The local log files of a task's instances (every component runs on this machine)."""
        return [p.read_text(errors="replace") for p in sorted(self._log_folder(run_id, task_id).rglob("*.log"))]

    def task_log(self, run_id: str, task_id: str, map_index: int, attempt: int) -> str:
        """One try's local log file ('' until it is written)."""
        path = self._log_folder(run_id, task_id) / f"map_index={map_index}" / f"attempt={attempt}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def task_states(self, run_id: str) -> list[tuple[str, int, str | None]]:
        return [(t["task_id"], t["map_index"], t["state"]) for t in self.task_instances(run_id)]


@contextlib.contextmanager
def running(topology: CeleryTopology) -> Iterator[CeleryTopology]:
    """Prepare and start the topology; every process group is torn down on the way out, failure or not."""
    try:
        topology.prepare()
        topology.start()
        yield topology
    finally:
        topology.stop()
