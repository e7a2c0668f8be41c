"""One real api-server for the web tests of a session (starting one takes ~15 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.environment import prepare_environment
from tests.web.server import AirflowServer, airflow_server, free_port, passwords, run_cycle_stages


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    tmp = tmp_path_factory.mktemp("web")
    port = free_port()
    env = prepare_environment(tmp, metadata_url=None, ops_url=None, persons=300, seed=5, port=port)
    run_cycle_stages(env)
    with airflow_server(env, port, tmp / "api-server.log") as base_url:
        yield AirflowServer(base_url=base_url, env=env, passwords=passwords(env))
