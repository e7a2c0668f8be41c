"""Lineage details are written as JSON text built with the stored evidence and proofs put in as text: the text
must be exactly what `json.dumps` writes of the decoded detail (what the JSON column stored before)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vaxpass.lineage.record import _dumps_with

EVIDENCE = {"name": 0.93, "dob": "exact", "link_key": "ab\u00e9", "fields": ["a", 1, None, True], "nested": {"x": []}}


@pytest.mark.parametrize("raw_value", [EVIDENCE, {}, [], ["00ff", "ee11"], {"only": None}])
def test_splices_the_raw_text_where_json_dumps_would_write_the_value(raw_value: Any) -> None:
    raw = json.dumps(raw_value)
    flat = {"outcome": "MATCHED", "method": "exact", "reason": None, "score": 1.0, "evidence": raw_value}
    assert _dumps_with({**flat, "evidence": None}, raw) == json.dumps(flat)
    nested = {"site": "HN-001-01", "records": 3, "inclusion": {"leaf_hash": "ff", "tree_size": 3, "proof": raw_value}}
    two_deep = {**nested, "inclusion": {**nested["inclusion"], "proof": None}}
    assert _dumps_with(two_deep, raw, depth=2) == json.dumps(nested)
