"""The explorer's graph of a real chain: layers in flow order, the certificate between its signature and the
DAG run, review and confirmation links placed where they belong, link kinds added later shown too, and the
match evidence summarised without the registry's row ids. Search by UVCI part, id and person."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from tests.issuance.test_issue import ROWS, _cycle, _issue, signer  # noqa: F401 - the module-scoped signer fixture
from vaxpass.lineage.chain import lineage_chain
from vaxpass.lineage.graph import graph
from vaxpass.lineage.record import add_links
from vaxpass.lineage.search import find_certificates
from vaxpass.signing.keystore import Signer
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, FacilityConfirmation


def test_graph_layers_follow_the_flow(tmp_path: Path, signer: Signer) -> None:  # noqa: F811
    url = _cycle(tmp_path, ROWS)
    _issue(url, signer)
    with session_scope(url) as session:
        cert = session.scalars(select(Certificate).order_by(Certificate.id)).first()
        assert cert is not None
        uvci = cert.uvci
        added = [("review", "review_item:7", {
            "district": "001", "reviewer": "rv_001", "decision": "accept",
            "before": {"status": "in_review", "person_id": None}, "after": {"status": "matched",
                                                                            "person_id": cert.person_id}}),
            ("revocation", "crl:1", {"listed": False})]
        add_links(session, cert.id, added)
        add_links(session, cert.id, added[1:])  # a rerun adds nothing twice
    chain = lineage_chain(url, uvci)
    assert chain is not None
    layers = graph(chain)
    assert [layer.kind for layer in layers] == ["source_row", "extraction", "validation", "match", "review",
                                                "confirmation", "revocation", "signature", "certificate",
                                                "dag_run"]
    by_kind = {layer.kind: layer for layer in layers}
    assert by_kind["certificate"].nodes[0].ref == uvci
    review = dict(by_kind["review"].nodes[0].lines)
    assert review["reviewer"] == "rv_001" and review["after"] == f"status=matched, person_id={cert.person_id}"
    with session_scope(url) as session:  # the site head's signed list this certificate's dose is in
        root = session.scalars(select(FacilityConfirmation.merkle_root)).one()
    assert dict(by_kind["confirmation"].nodes[0].lines)["merkle_root"] == root[:16] + "…"
    match = dict(by_kind["match"].nodes[0].lines)
    assert {"outcome", "method", "score", "candidates"} <= set(match)
    shown = json.dumps([layer.nodes[0].lines for layer in layers], ensure_ascii=False)
    assert "registry_id" not in shown
    for personal in ("Nguyễn Văn An", "001090000001", "Trần Thị Đào", "1990-05-12"):
        assert personal not in shown

    assert [c["uvci"] for c in find_certificates(url, uvci[-10:].lower())] == [uvci]
    assert find_certificates(url, str(chain["certificate"]["id"]))[0]["uvci"] == uvci  # the exact id first
    assert uvci in [c["uvci"] for c in find_certificates(url, chain["certificate"]["person"])]
    assert find_certificates(url, "%") == [] and find_certificates(url, "  ") == []
