"""Building the `Source` of a site from its configuration (the registry of source kinds)."""

from __future__ import annotations

from pathlib import Path

from vaxpass.domain import SiteConfig
from vaxpass.errors import SourceError
from vaxpass.extract.fhir_source import FhirSource
from vaxpass.extract.inbox import InboxSource
from vaxpass.extract.mapping import site_map
from vaxpass.extract.source import ConnectionResolver, Source
from vaxpass.extract.sql_source import SqlSource


def _resolve(site: SiteConfig, connections: ConnectionResolver | None) -> str:
    conn_id = site.source.conn_id or ""
    if connections is None:
        raise SourceError(site.code, conn_id, "no-connection-resolver",
                          "the site names a connection but the caller passed no resolver")
    try:
        return connections(conn_id)
    except Exception as exc:  # the resolver is the caller's (Airflow, a test): any failure fails this site
        raise SourceError(site.code, conn_id, "connection-unresolved", type(exc).__name__) from exc


def make_source(site: SiteConfig, data_dir: Path, connections: ConnectionResolver | None) -> Source:
    src = site.source
    columns = site_map(src.kind, src.column_map)
    if src.kind == "sql":
        if src.conn_id:
            url, label = _resolve(site, connections), src.conn_id
        else:
            url, label = f"sqlite:///file:{data_dir / src.path}?mode=ro&uri=true", src.path
        return SqlSource(site.code, url, label, columns, src.options)
    if src.kind == "fhir":
        if src.conn_id:
            return FhirSource(site.code, _resolve(site, connections), src.conn_id, columns, src.options)
        return FhirSource(site.code, data_dir / src.path, src.path, columns, src.options)
    return InboxSource(site.code, data_dir / src.path, src.path, src.options)
