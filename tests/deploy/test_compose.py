"""docker-compose.yml: valid against the Compose Specification, and the production topology DESIGN.md §6 names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_valid_against_compose_spec(compose: dict) -> None:
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    jsonschema.validate(compose, schema)


def test_services_and_executor(compose: dict) -> None:
    assert {"postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-worker", "airflow-triggerer", "airflow-init"} <= set(compose["services"])
    env = compose["services"]["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["VAXPASS_DB_URL"].startswith("postgresql")
    mounts = " ".join(compose["services"]["airflow-scheduler"]["volumes"])
    for folder in ("./dags", "./plugins", "./include", "./data_quality"):
        assert folder in mounts


def test_no_secret_values_in_the_file() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for name in ("POSTGRES_PASSWORD", "VAXPASS_KEY_PASSPHRASE", "VAXPASS_PSEUDONYM_KEY", "FERNET_KEY", "JWT_SECRET"):
        for value in re.findall(rf"^\s*[A-Z_]*{name}:\s*(\S+)", text, flags=re.MULTILINE):
            assert value.startswith("${"), (name, value)
