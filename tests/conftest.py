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


def _pg_admin():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_databases() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases, dropped afterwards. Skips locally without PostgreSQL; fails in
    CI (CI=true), where PostgreSQL is a required service."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    engine = _pg_admin()
    made: list[str] = []

    def make() -> str:
        name = f"vaxpass_t_{uuid.uuid4().hex[:10]}"
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except OperationalError as exc:
            if IN_CI:
                pytest.fail(f"PostgreSQL is required in CI (CI=true) but unreachable: {exc}")
            pytest.skip(f"PostgreSQL unreachable: {exc}")
        made.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    yield make
    from sqlalchemy.orm import close_all_sessions

    close_all_sessions()
    from vaxpass.store.db import engine_for

    engine_for.cache_clear()
    with engine.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
