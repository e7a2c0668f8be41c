"""How the DAGs resolve a site's `conn_id` (sites.json) to the URL vaxpass reads: from an Airflow Connection,
at task run time only. vaxpass never sees Airflow; it gets this function as its connection resolver.

Connection types: `postgres`, `mysql` (MariaDB too) and `sqlite` give a SQLAlchemy URL; `http`/`https` give a
FHIR base URL (`host` with or without scheme, `port`, and an optional `base_path` in the extras). A missing
connection raises, and the site fails with reason `connection-unresolved` — a secret is never defaulted.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql",
            "mariadb": "mysql+pymysql"}


def resolve_connection(conn_id: str) -> str:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    kind = (conn.conn_type or "").lower()
    if kind in _DRIVERS:
        query = {"charset": "utf8mb4"} if _DRIVERS[kind].startswith("mysql") else {}
        url = URL.create(_DRIVERS[kind], username=conn.login or None, password=conn.password or None,
                         host=conn.host or None, port=conn.port or None, database=conn.schema or None, query=query)
        return url.render_as_string(hide_password=False)
    if kind == "sqlite":
        return f"sqlite:///{conn.host}"
    if kind in ("http", "https", "fhir"):
        host = conn.host or ""
        if "://" not in host:
            scheme = conn.schema if conn.schema in ("http", "https") else ("http" if kind == "http" else "https")
            host = f"{scheme}://{host}"
        if conn.port:
            host = f"{host.rstrip('/')}:{conn.port}"
        return host.rstrip("/") + str(conn.extra_dejson.get("base_path", ""))
    raise ValueError(f"connection {conn_id}: unsupported type {kind!r}")
