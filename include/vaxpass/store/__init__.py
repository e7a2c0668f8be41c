"""The ops store: models, sessions and migrations. Knows no stage of the flow."""

from vaxpass.store.db import engine_for, migrate, session_scope

__all__ = ["engine_for", "migrate", "session_scope"]
