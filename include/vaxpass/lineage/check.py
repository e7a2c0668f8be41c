"""The lineage completeness check run at the end of every cycle."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from vaxpass.errors import LineageError
from vaxpass.lineage.record import REQUIRED_KINDS
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, LineageChain


def missing_links(db_url: str, *, cycle_id: str | None = None) -> dict[str, list[str]]:
    """UVCI → the kinds of link its chain lacks, for the certificates of a cycle (or all of them).

    A certificate whose match went through review (outcome REVIEW) must also have the review link.
    """
    with session_scope(db_url) as session:
        certs_q = select(Certificate.id, Certificate.uvci)
        chains_q = select(LineageChain.certificate_id, LineageChain.links).join(
            Certificate, Certificate.id == LineageChain.certificate_id)
        if cycle_id is not None:
            certs_q = certs_q.where(Certificate.cycle_id == cycle_id)
            chains_q = chains_q.where(Certificate.cycle_id == cycle_id)
        certs = dict(session.execute(certs_q).tuples().all())
        kinds: dict[int, set[str]] = defaultdict(set)
        needs_review: set[int] = set()
        for cert_id, links in session.execute(chains_q).tuples():
            for link in links:
                kinds[cert_id].add(link["kind"])
                if link["kind"] == "match" and link["detail"].get("outcome") == "REVIEW":
                    needs_review.add(cert_id)
    missing: dict[str, list[str]] = {}
    for cert_id, uvci in certs.items():
        required = set(REQUIRED_KINDS) | ({"review"} if cert_id in needs_review else set())
        if lacking := sorted(required - kinds[cert_id]):
            missing[uvci] = lacking
    return missing


def check_lineage(db_url: str, *, cycle_id: str | None = None) -> int:
    """Raise LineageError when any certificate's chain is incomplete; else return how many were checked."""
    missing = missing_links(db_url, cycle_id=cycle_id)
    if missing:
        raise LineageError(missing)
    with session_scope(db_url) as session:
        query = select(Certificate.id)
        if cycle_id is not None:
            query = query.where(Certificate.cycle_id == cycle_id)
        return len(session.scalars(query).all())
