"""A complete vaxpass + Airflow home for tests that run the real thing: synthetic data, `vaxpass init`,
the three roles' users with their passwords, district reviewers, Airflow's metadata database migrated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from embedded import airflow_env, ensure_passwords, reviewer_name, run, users_for


def prepare_environment(tmp: Path, *, metadata_url: str | None, ops_url: str | None, persons: int = 400,
                        seed: int = 11, port: int = 8080) -> dict[str, str]:
    """Build the homes under `tmp` (`tmp/vaxpass`, `tmp/airflow`) and return the environment to run in."""
    vaxpass_home = tmp / "vaxpass"
    data = vaxpass_home / "data"
    py = sys.executable
    base_env = {"VAXPASS_HOME": str(vaxpass_home)} | ({"VAXPASS_DB_URL": ops_url} if ops_url else {})
    env0 = airflow_env(airflow_home=tmp / "airflow", vaxpass_home=vaxpass_home, users={}, ops_url=ops_url)
    run([py, "-m", "vaxpass.cli", "synth", "--out", str(data), "--persons", str(persons), "--seed", str(seed),
         "--no-progress"], env0 | base_env, stdout=subprocess.DEVNULL)
    sites = json.loads((data / "sites.json").read_text())
    districts = sorted({s["district_code"] for s in sites})
    users = users_for(districts)
    ensure_passwords(tmp / "airflow" / "passwords.json", users)
    env = airflow_env(airflow_home=tmp / "airflow", vaxpass_home=vaxpass_home, users=users,
                      metadata_url=metadata_url, ops_url=ops_url, port=port)
    run([py, "-m", "vaxpass.cli", "init"], env, stdout=subprocess.DEVNULL)
    for district in districts:
        run([py, "-m", "vaxpass.cli", "reviewer", "add", "--user", reviewer_name(district), "--district", district],
            env, stdout=subprocess.DEVNULL)
    run([str(Path(py).parent / "airflow"), "db", "migrate"], env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    return env
