"""Evidence text written from its known shape is exactly what `json.dumps` writes, for every shape decide makes
and for any other (which goes to `json.dumps`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vaxpass.registry.decide import MODEL, EvidenceText

THRESHOLDS = {"upper": 4.0, "lower": -8.0, "margin": 6.0, "prior": -20.0}
FIELDS = {"id": {"level": "cccd_exact", "weight": 11.25}, "name": {"level": "folded", "weight": 5.0},
          "dob": {"level": "exact", "weight": -0.0}, "sex": {"level": "missing", "weight": 0.0}}


def _candidate(rank: int, weight: float) -> dict[str, Any]:
    return {"registry_id": 10 ** 9 + rank, "rank": rank, "weight": weight, "probability": 1 / 3, "fields": FIELDS}


@pytest.mark.parametrize("evidence", [
    {"model": MODEL, "thresholds": THRESHOLDS, "best_weight": -12.37, "candidates": []},
    {"model": MODEL, "thresholds": THRESHOLDS, "best_weight": None, "candidates": []},
    {"model": MODEL, "thresholds": THRESHOLDS, "candidates": [_candidate(1, 21.37)], "runner_up_gap": None},
    {"model": MODEL, "thresholds": THRESHOLDS, "candidates": [_candidate(1, 1e-7), _candidate(2, -3.0)],
     "runner_up_gap": 3.0},
    {"model": MODEL, "thresholds": THRESHOLDS, "candidates": [_candidate(1, 2.0)], "runner_up_gap": float("inf")},
    {"model": MODEL, "thresholds": THRESHOLDS, "candidates": [{"registry_id": 1, "note": "Nguyễn"}],
     "runner_up_gap": 1.5},  # another candidate shape
    {"model": "other/v2", "thresholds": THRESHOLDS, "best_weight": 1.0, "candidates": []},
    {"model": MODEL, "thresholds": THRESHOLDS, "best_weight": 1.0, "candidates": [], "link_key": "p00"},
])
def test_evidence_text_is_json_dumps(evidence: dict[str, Any]) -> None:
    text = EvidenceText()
    assert text(evidence) == json.dumps(evidence)
    assert text(evidence) == json.dumps(evidence)  # the shared parts, now from the memo
