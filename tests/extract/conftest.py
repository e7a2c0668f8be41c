"""Fixtures for extraction tests: a site store, real site databases on loopback, a connection resolver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import database_factory
from tests.factories import make_store, site
from vaxpass.domain import SiteConfig, SourceConfig
from vaxpass.extract import ExtractionSummary, extract_site
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord

MARIADB_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


class Env:
    """An ops store, a data root and a landing zone for one test; `run` extracts a site into them."""

    def __init__(self, tmp: Path, sites: list[SiteConfig], connections: dict[str, str] | None = None) -> None:
        self.tmp, self.data, self.landing = tmp, tmp / "data", tmp / "landing"
        self.url = make_store(tmp, sites)
        self.connections = dict(connections or {})

    def resolve(self, conn_id: str) -> str:
        """The tests' resolver: a dict of connection ids (the DAG's reads Airflow Connections)."""
        return self.connections[conn_id]

    def run(self, s: SiteConfig, cycle_id: str = "cycle-1", **kw: Any) -> ExtractionSummary:
        return extract_site(self.url, cycle_id=cycle_id, site=s, data_dir=self.data, landing_dir=self.landing,
                            connections=self.resolve, **kw)

    def records(self, site_code: str | None = None) -> list[DoseRecord]:
        with session_scope(self.url) as session:
            q = select(DoseRecord).order_by(DoseRecord.source_key, DoseRecord.version)
            if site_code:
                q = q.where(DoseRecord.site_code == site_code)
            return list(session.scalars(q))


def with_source(s: SiteConfig, **kw: Any) -> SiteConfig:
    return replace(s, source=SourceConfig(**kw))


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path, [site()])


@pytest.fixture
def mariadb_databases() -> Iterator[Callable[[], str]]:
    """A factory of fresh MariaDB databases, dropped afterwards; skips locally without MariaDB, fails in CI."""
    yield from database_factory(
        "MariaDB", MARIADB_ADMIN_URL, url_suffix="?charset=utf8mb4",
        create="CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        drop="DROP DATABASE IF EXISTS `{name}`")
