"""Finding certificates for the lineage explorer: by UVCI (whole or a part), certificate id or pseudonymous
person id. Returns ids and statuses only, never personal data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, or_, select

from vaxpass.store import session_scope
from vaxpass.store.models import Certificate


def find_certificates(db_url: str, query: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Certificates whose UVCI contains `query` (case-insensitive), whose id is `query`, or whose person is
    `query`; exact hits (id, UVCI, person) first, then newest first."""
    text = query.strip()
    if not text:
        return []
    exact = [Certificate.uvci == text, Certificate.person_id == text]
    if text.isdigit():
        exact.append(Certificate.id == int(text))
    clauses = [func.upper(Certificate.uvci).contains(text.upper(), autoescape=True), *exact]
    with session_scope(db_url) as session:
        rows = session.execute(select(Certificate.id, Certificate.uvci, Certificate.version, Certificate.status,
                                      Certificate.person_id, Certificate.cycle_id, Certificate.issued_at)
                               .where(or_(*clauses))
                               .order_by(case((or_(*exact), 0), else_=1), Certificate.id.desc()).limit(limit)).all()
    return [{"id": r.id, "uvci": r.uvci, "version": r.version, "status": r.status, "person": r.person_id,
             "cycle": r.cycle_id, "issued_at": r.issued_at.isoformat()} for r in rows]
