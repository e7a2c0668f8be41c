"""`vaxpass lineage ID`: the chain of a certificate as a tree and as JSON, with no personal data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.issuance.test_issue import ROWS, _cycle, _issue, signer  # noqa: F401 - the module-scoped signer fixture
from vaxpass.cli import main
from vaxpass.lineage.chain import lineage_chain, render_tree
from vaxpass.signing.keystore import Signer
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate


def test_chain_tree_and_json(tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                             capsys: pytest.CaptureFixture[str]) -> None:
    url = _cycle(tmp_path, ROWS)
    _issue(url, signer)
    with session_scope(url) as session:
        cert = session.scalars(select(Certificate).order_by(Certificate.id)).first()
        assert cert is not None
        uvci, cert_id = cert.uvci, cert.id
    chain = lineage_chain(url, uvci)
    assert chain is not None and chain == lineage_chain(url, str(cert_id))
    assert list(chain["links"]) == ["source_row", "extraction", "validation", "match", "confirmation",
                                  "signature", "dag_run"]
    assert chain["links"]["source_row"][0]["file"] == "d1.csv"
    tree = render_tree(chain)
    assert tree.startswith(f"certificate {uvci}") and "└── dag_run" in tree
    monkeypatch.setenv("VAXPASS_DB_URL", url)
    assert main(["lineage", uvci, "--json"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["certificate"]["uvci"] == uvci
    for personal in ("Nguyễn Văn An", "001090000001", "Trần Thị Đào", "001190000002", "0912345678"):
        assert personal not in printed and personal not in tree
    assert main(["lineage", "URN:UVCI:01:VN:NOPE"]) == 1
    assert lineage_chain(url, "URN:UVCI:01:VN:NOPE") is None
