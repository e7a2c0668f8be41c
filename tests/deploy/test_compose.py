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
    assert env["VAXPASS_DB_URL"].startswith("postgresql+psycopg://")  # psycopg 3: the bulk writes go by COPY
    mounts = " ".join(compose["services"]["airflow-scheduler"]["volumes"])
    for folder in ("./dags", "./plugins", "./include", "./data_quality"):
        assert folder in mounts


def test_no_secret_values_in_the_file() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for name in ("POSTGRES_PASSWORD", "VAXPASS_KEY_PASSPHRASE", "VAXPASS_PSEUDONYM_KEY", "FERNET_KEY", "JWT_SECRET"):
        for value in re.findall(rf"^\s*[A-Z_]*{name}:\s*(\S+)", text, flags=re.MULTILINE):
            assert value.startswith("${"), (name, value)


AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer")


def test_official_topology_commands_and_health(compose: dict) -> None:
    """Each Airflow 3 component runs its own command from the one image, with a health check, after the
    init service migrated both databases — as in Airflow's official compose file."""
    services = compose["services"]
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-worker": "celery worker",
                        "airflow-triggerer": "triggerer"}
    images = {services[name]["image"] for name in (*AIRFLOW_SERVICES, "airflow-init")}
    assert len(images) == 1
    for name in (*AIRFLOW_SERVICES, "postgres", "redis"):
        assert "healthcheck" in services[name], name
        assert services[name].get("restart") == "always", name
    for name in AIRFLOW_SERVICES:
        needs = services[name]["depends_on"]
        assert needs["airflow-init"]["condition"] == "service_completed_successfully", name
        assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy", name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init and "vaxpass db upgrade" in init


def test_workers_scale(compose: dict) -> None:
    """`--scale airflow-worker=N` needs a worker with no fixed name and no published port."""
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker
    env = worker["environment"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("${")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"].startswith("${")
    assert env["DUMB_INIT_SETSID"] == "0"  # the warm shutdown reaches Celery, not only the init process


def test_every_component_shares_settings_and_folders(compose: dict) -> None:
    services = compose["services"]
    reference = services["airflow-scheduler"]["environment"]
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = services[name]["environment"]
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY",
                    "AIRFLOW__API_AUTH__JWT_SECRET", "VAXPASS_DB_URL", "VAXPASS_PSEUDONYM_KEY"):
            assert env[key] == reference[key], (name, key)
        mounts = " ".join(services[name]["volumes"])
        for folder in ("./dags:", "./plugins:", "./include:", "./data_quality:", "/opt/vaxpass"):
            assert folder in mounts, (name, folder)


def test_settings_come_from_the_environment_and_are_documented(compose: dict) -> None:
    """Every value that differs between deployments is a `${VARIABLE}`; secrets have no default (`:?`);
    docs/production.md lists every variable the file reads."""
    text = (REPO / "docker-compose.yml").read_text()
    variables = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    secret_markers = ("PASSWORD", "SECRET", "FERNET", "PASSPHRASE", "PSEUDONYM_KEY")
    for name in variables:
        if any(m in name for m in secret_markers) and not name.endswith("_DIR"):
            assert re.search(rf"\$\{{{name}:\?", text), f"{name} is a secret: no default allowed"
    docs = (REPO / "docs" / "production.md").read_text()
    undocumented = sorted(v for v in variables if f"`{v}`" not in docs)
    assert not undocumented, undocumented
    env = compose["services"]["airflow-scheduler"]["environment"]
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "VAXPASS_DB_URL", "VAXPASS_REGISTRY_URL"):
        assert "${" in env[key], key
