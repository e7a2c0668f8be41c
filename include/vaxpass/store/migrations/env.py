"""Alembic environment: runs vaxpass's migrations against the URL given in the config."""

from alembic import context
from sqlalchemy import create_engine

from vaxpass.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          version_table="vaxpass_alembic_version")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
