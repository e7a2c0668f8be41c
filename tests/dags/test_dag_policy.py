"""DAG policy: every DAG file imports cleanly and fast, and every DAG has tags, retries, an owner and docs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def bag_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Parse the DAG folder in a fresh process with its own AIRFLOW_HOME (Airflow reads its config at import)."""
    home = tmp_path_factory.mktemp("airflow")
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(DAGS)!r})
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        out = {{"errors": {{k: str(v) for k, v in bag.import_errors.items()}},
               "stats": [{{"file": s.file, "seconds": s.duration.total_seconds() if hasattr(s.duration, "total_seconds") else float(s.duration)}} for s in bag.dagbag_stats],
               "dags": {{}}}}
        for dag_id, dag in bag.dags.items():
            out["dags"][dag_id] = {{
                "tags": sorted(dag.tags), "doc_md": bool(dag.doc_md), "catchup": dag.catchup,
                "schedule": str(dag.schedule),
                "tasks": {{t.task_id: {{"retries": t.retries, "owner": t.owner}} for t in dag.tasks}}}}
        print(json.dumps(out))
    """)
    env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(DAGS))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_no_import_errors(bag_report: dict) -> None:
    assert bag_report["errors"] == {}
    assert "vaxpass_issuance" in bag_report["dags"]


def test_each_dag_file_parses_under_two_seconds(bag_report: dict) -> None:
    assert bag_report["stats"], "no DAG file was parsed"
    for stat in bag_report["stats"]:
        assert stat["seconds"] < 2.0, stat


def test_dags_follow_house_rules(bag_report: dict) -> None:
    for dag_id, dag in bag_report["dags"].items():
        assert dag["tags"], dag_id
        assert dag["doc_md"], dag_id
        assert dag["catchup"] is False, dag_id
        for task_id, task in dag["tasks"].items():
            if task_id == "watcher":  # it only reports that another task failed
                assert task["retries"] == 0, (dag_id, task_id)
            else:
                assert task["retries"] >= 1, (dag_id, task_id)
            assert task["owner"] not in ("", "airflow"), (dag_id, task_id)


def test_issuance_dag_shape(bag_report: dict) -> None:
    tasks = set(bag_report["dags"]["vaxpass_issuance"]["tasks"])
    assert tasks == {"start_cycle", "extract", "validate", "match", "confirm_clean", "issue_clean", "open_review",
                     "district_review", "confirm_reviewed", "issue_reviewed", "finish_cycle", "watcher"}
