"""The production topology without Docker: CeleryExecutor on PostgreSQL and Redis, two workers, one cycle.

The same components docker-compose.yml runs (scheduler, dag-processor, triggerer, api-server, Celery workers),
as subprocesses on this machine. A cycle is triggered and its district gates answered through the REST API;
the tasks must have run on both workers and the certificates must be right.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.deploy.checks import check_certificates, reconcile, save_report
from tests.deploy.topology import CeleryTopology

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(1800)]


def test_a_cycle_runs_on_two_celery_workers(celery_topology: Callable[..., CeleryTopology]) -> None:
    topology = celery_topology(persons=300, sites=4)
    run_id = topology.trigger()
    state, gates = topology.wait_for_run(run_id, timeout=600)
    tis = topology.task_instances(run_id)
    save_report(topology.tmp / "report.json", {"state": state, "gates": gates, "task_instances": tis})
    assert state == "success", tis

    assert gates and all(g["status"] == 200 for g in gates), gates
    ran = [t for t in tis if t["state"] == "success" and t["hostname"]]
    hosts = {t["hostname"].split("@")[0] for t in ran}
    assert hosts == {"w1", "w2"}, {(t["task_id"], t["map_index"]): t["hostname"] for t in ran}
    assert {t["task_id"] for t in ran} >= {"start_cycle", "extract", "validate", "match", "issue_clean",
                                           "issue_reviewed", "finish_cycle"}

    # the workers preloaded Great Expectations before forking (config/airflow_local_settings.py,
    # vaxpass.preload): every validate task process found it already imported
    logs = topology.task_logs(run_id, "validate")
    assert len(logs) == sum(t["task_id"] == "validate" for t in tis), len(logs)
    assert all("great_expectations preloaded by the worker: True" in log for log in logs), logs[:1]

    counts = check_certificates(topology)
    tally = reconcile(topology)
    assert tally["issued"] == counts["current"]
