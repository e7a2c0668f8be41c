"""Fixtures of the deployment tests: the Celery topology on PostgreSQL and Redis (tests/deploy/topology.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, PG_STORE_DRIVER, database_factory, with_driver
from tests.deploy.topology import CeleryTopology, running


@pytest.fixture
def celery_topology(tmp_path: Path) -> Iterator[Callable[..., CeleryTopology]]:
    """Start a topology (fresh metadata and ops databases) with the given options; every process is stopped
    and both databases dropped after the test, whatever happened."""
    dbs = database_factory("PostgreSQL", PG_ADMIN_URL, create='CREATE DATABASE "{name}"',
                           drop='DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    make_db = next(dbs)
    try:
        with contextlib.ExitStack() as stack:
            def start(**options: object) -> CeleryTopology:
                topology = CeleryTopology(tmp=tmp_path, metadata_url=make_db(),
                                          ops_url=with_driver(make_db(), PG_STORE_DRIVER),
                                          **options)  # type: ignore[arg-type]
                return stack.enter_context(running(topology))

            yield start
    finally:
        next(dbs, None)  # drops the databases
