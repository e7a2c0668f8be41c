"""A certificate's lineage chain as one document: what `vaxpass lineage ID` prints.

The chain is read from the ops store (the chain written at issuance, with any links a later stage added); the certificate itself appears with its
pseudonymous person id, never with personal data, so the output can be attached to a dispute or an audit.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select

from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, LineageChain

# The order the links are told in: from the source row to the signature.
ORDER = ("source_row", "extraction", "validation", "match", "review", "confirmation", "signature", "dag_run")


def lineage_chain(db_url: str, ident: str) -> dict[str, Any] | None:
    """The chain of the certificate with this UVCI or id (None when there is none)."""
    with session_scope(db_url) as session:
        clauses = [Certificate.uvci == ident]
        if ident.isdigit():
            clauses.append(Certificate.id == int(ident))
        cert = session.scalar(select(Certificate).where(or_(*clauses)))
        if cert is None:
            return None
        links: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for link in session.scalar(select(LineageChain.links).filter_by(certificate_id=cert.id)) or []:
            links[link["kind"]].append({"ref": link["ref"], **link["detail"]})
        return {
            "certificate": {"id": cert.id, "uvci": cert.uvci, "person": cert.person_id, "version": cert.version,
                            "status": cert.status, "kid": cert.kid, "issued_at": cert.issued_at.isoformat(),
                            "expires_at": cert.expires_at.isoformat(), "cycle": cert.cycle_id},
            # kinds not in ORDER (added by a later stage) come last rather than being dropped
            "links": {kind: links[kind] for kind in (*ORDER, *sorted(set(links) - set(ORDER))) if kind in links},
        }


def render_tree(chain: dict[str, Any]) -> str:
    """The chain as an indented tree, one line per link."""
    cert = chain["certificate"]
    lines = [f"certificate {cert['uvci']} (v{cert['version']}, {cert['status']}, person {cert['person']})"]
    kinds = list(chain["links"].items())
    for i, (kind, items) in enumerate(kinds):
        last_kind = i == len(kinds) - 1
        lines.append(("└── " if last_kind else "├── ") + kind)
        for j, item in enumerate(items):
            pad = "    " if last_kind else "│   "
            details = ", ".join(f"{k}={v}" for k, v in item.items() if k != "ref" and not isinstance(v, dict))
            lines.append(pad + ("└── " if j == len(items) - 1 else "├── ") + f"{item['ref']}: {details}")
    return "\n".join(lines)
