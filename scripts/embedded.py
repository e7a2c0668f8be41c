"""The embedded mode's Airflow environment, shared by `make run` (demo.py) and the end-to-end tests.

Builds the environment variables for an Airflow home inside the project: SQLite metadata (or a given URL),
LocalExecutor, SimpleAuthManager with vaxpass's three roles, and the VAXPASS_* settings.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = REPO / "config"

# SimpleAuthManager roles: VIEWER < USER < OP < ADMIN. Reviewers need USER to answer a gate; managers read.
ENGINEER, MANAGER = "engineer", "manager"


def reviewer_name(district_code: str) -> str:
    return f"rv_{district_code}"


def users_for(districts: list[str]) -> dict[str, str]:
    users = {ENGINEER: "ADMIN", MANAGER: "VIEWER"}
    users.update({reviewer_name(d): "USER" for d in sorted(districts)})
    return users


def ensure_passwords(path: Path, users: dict[str, str]) -> dict[str, str]:
    """Random passwords for every user, kept across runs (a second `make run` prints the same ones)."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for user in users:
        known.setdefault(user, secrets.token_urlsafe(12))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(known, indent=2))
    return known


def ensure_secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def airflow_env(*, airflow_home: Path, vaxpass_home: Path, users: dict[str, str], metadata_url: str | None = None,
                ops_url: str | None = None, port: int = 8080) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url or f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__API_AUTH__JWT_SECRET": ensure_secret(airflow_home / "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": ensure_secret(airflow_home / "api_secret"),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "VAXPASS_HOME": str(vaxpass_home),
        # config/airflow_local_settings.py: preloads Great Expectations and the stages into the scheduler
        # before its LocalExecutor forks the task workers (vaxpass.preload)
        "PYTHONPATH": os.pathsep.join(p for p in (str(CONFIG), env.get("PYTHONPATH", "")) if p),
    })
    if ops_url:
        env["VAXPASS_DB_URL"] = ops_url
    env.update(openlineage_env(env, vaxpass_home))
    return env


def openlineage_env(env: dict[str, str], vaxpass_home: Path) -> dict[str, str]:
    """Airflow's OpenLineage provider: one JSON file per event under `$VAXPASS_HOME/openlineage/` by default,
    or a Marquez (any OpenLineage HTTP) endpoint when `VAXPASS_OPENLINEAGE_URL` is set. An explicit
    `AIRFLOW__OPENLINEAGE__TRANSPORT` in the environment wins over both."""
    out = {"AIRFLOW__OPENLINEAGE__NAMESPACE": env.get("AIRFLOW__OPENLINEAGE__NAMESPACE", "vaxpass")}
    if env.get("AIRFLOW__OPENLINEAGE__TRANSPORT"):
        return out
    if url := env.get("VAXPASS_OPENLINEAGE_URL"):
        transport = {"type": "http", "url": url, "endpoint": "api/v1/lineage"}
    else:
        events = vaxpass_home / "openlineage"
        events.mkdir(parents=True, exist_ok=True)
        # One file per event (append=False): tasks run in parallel processes, and one shared file could
        # interleave their lines.
        transport = {"type": "file", "log_file_path": str(events / "event"), "append": False}
    out["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
    return out


def run(cmd: list[str], env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, check=True, text=True, cwd=REPO, **kwargs)  # type: ignore[call-overload]
