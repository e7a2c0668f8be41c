"""Shared test fixtures: service availability rules, the repo's scripts on the path."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("VAXPASS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
# the ops store's driver on PostgreSQL (its bulk writes go by COPY through psycopg 3's row writer)
PG_STORE_DRIVER = "postgresql+psycopg"


def with_driver(url: str, driver: str) -> str:
    """`url` with its scheme (dialect+driver) replaced by `driver`."""
    return driver + "://" + url.split("://", 1)[1]


def database_factory(service: str, admin_url: str, *, create: str, drop: str,
                     url_suffix: str = "", driver: str | None = None) -> Iterator[Callable[[], str]]:
    """Yield a factory of fresh databases on a server (`create`/`drop` are SQL with a `{name}` slot), and drop
    them afterwards; their URLs use `driver` (else the admin URL's). Skips locally when the server is
    unreachable; fails in CI (CI=true), where it is required."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"vaxpass_t_{uuid.uuid4().hex[:10]}"
        try:
            with engine.connect() as conn:
                conn.execute(text(create.format(name=name)))
        except OperationalError as exc:
            if IN_CI:
                pytest.fail(f"{service} is required in CI (CI=true) but unreachable: {exc}")
            pytest.skip(f"{service} unreachable: {exc}")
        made.append(name)
        url = admin_url.rsplit("/", 1)[0] + f"/{name}{url_suffix}"
        return with_driver(url, driver) if driver else url

    yield make
    from sqlalchemy.orm import close_all_sessions

    from vaxpass.store.db import engine_for

    close_all_sessions()
    engine_for.cache_clear()  # pooled connections would keep a database from being dropped
    with engine.connect() as conn:
        for name in made:
            conn.execute(text(drop.format(name=name)))
    engine.dispose()


@pytest.fixture
def pg_databases() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases (URLs with the ops store's driver), dropped afterwards."""
    yield from database_factory("PostgreSQL", PG_ADMIN_URL, create='CREATE DATABASE "{name}"',
                                drop='DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', driver=PG_STORE_DRIVER)
