"""Lineage details are written as JSON text built with the stored evidence and proofs put in as text: the text
must be exactly what `json.dumps` writes of the decoded detail (what the JSON column stored before)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from vaxpass.lineage.record import LineageContext, _dumps_with, _scalar

EVIDENCE = {"name": 0.93, "dob": "exact", "link_key": "ab\u00e9", "fields": ["a", 1, None, True], "nested": {"x": []}}


@pytest.mark.parametrize("raw_value", [EVIDENCE, {}, [], ["00ff", "ee11"], {"only": None}])
def test_splices_the_raw_text_where_json_dumps_would_write_the_value(raw_value: Any) -> None:
    raw = json.dumps(raw_value)
    flat = {"outcome": "MATCHED", "method": "exact", "reason": None, "score": 1.0, "evidence": raw_value}
    assert _dumps_with({**flat, "evidence": None}, raw) == json.dumps(flat)
    nested = {"site": "HN-001-01", "records": 3, "inclusion": {"leaf_hash": "ff", "tree_size": 3, "proof": raw_value}}
    two_deep = {**nested, "inclusion": {**nested["inclusion"], "proof": None}}
    assert _dumps_with(two_deep, raw, depth=2) == json.dumps(nested)


@pytest.mark.parametrize("value", ["HN-001-01", "Trạm \"Y tế\"\n\t\\ é", "", 0, -7, 2**70, 1.0, 0.93, None, True,
                                   False])
def test_a_scalar_is_encoded_as_json_dumps_encodes_it(value: Any) -> None:
    assert _scalar(value) == json.dumps(value)


def _context() -> LineageContext:
    """A context holding one record's rows as the queries return them (attribute rows), without a store."""
    context = LineageContext.__new__(LineageContext)
    context.raw = {11: SimpleNamespace(id=11, source_row=4, content_hash="c" * 64, source_name="Trạm \"1\".xlsx",
                                       sha256="f" * 64, extraction_run_id=3)}
    context.decision = {21: SimpleNamespace(id=31, dose_record_id=21, outcome="matched", method="exact",
                                            reason=None, score=1, evidence=json.dumps(EVIDENCE))}
    context.confirmation = {21: SimpleNamespace(
        dose_record_id=21, leaf_index=2, leaf_hash="ab" * 32, proof=json.dumps(["00ff", "ee11"]), id=41,
        site_code="HN-001-01", cycle_id="c1", sequence=1, signer_kid="k1", document_sha256="d" * 64,
        merkle_root="e" * 64, records=3)}
    context.reviews, context.actions, context._encoded = {}, {}, {}
    context.quality = {51: SimpleNamespace(id=51, suite_name="dose_records", suite_version="1.0")}
    return context


def test_links_are_the_text_json_dumps_writes_of_each_detail() -> None:
    record = SimpleNamespace(id=21, raw_record_id=11, quality_run_id=51, site_code="HN-001-01",
                             source_key="row-4", version=2, cycle_id="c1")
    cert_id, text = _context().chain(certificate_id=7, certified_dose_id=21, kid="k2", uvci="URN:UVCI:01:VN:X#Y",
                                     version=1, cycle_id="c1", records=[record], dag_id="d", task_id="t",
                                     alg="ES256")
    links = json.loads(text)
    assert cert_id == 7 and json.dumps(links) == text
    details = {link["kind"]: link["detail"] for link in links}
    assert details["source_row"] == {
        "site": "HN-001-01", "file": "Trạm \"1\".xlsx", "file_sha256": "f" * 64, "row": 4, "source_key": "row-4",
        "content_hash": "c" * 64, "dose_record_id": 21, "version": 2, "certified_dose": True}
    assert details["match"] == {"outcome": "matched", "method": "exact", "reason": None, "score": 1,
                                "evidence": EVIDENCE}
    assert details["confirmation"] == {
        "site": "HN-001-01", "cycle": "c1", "sequence": 1, "signer_kid": "k1", "document_sha256": "d" * 64,
        "merkle_root": "e" * 64, "records": 3, "dose_record_id": 21, "leaf_index": 2,
        "inclusion": {"leaf_hash": "ab" * 32, "tree_size": 3, "proof": ["00ff", "ee11"]}}
    assert details["signature"] == {"alg": "ES256", "uvci": "URN:UVCI:01:VN:X#Y", "version": 1}
    assert [link["kind"] for link in links] == ["source_row", "extraction", "validation", "match", "confirmation",
                                                "signature", "dag_run"]
    assert links[0]["ref"] == "raw_record:11" and links[-1]["ref"] == "cycle:c1"
