"""The evidence text `decide` writes from its known shape is exactly what `json.dumps` writes of the evidence dict
(built here as decide built it before it wrote the text itself), for every shape: no candidate shown (with and
without a compared pair), one, several, more than are shown, weights of 0.0 and -0.0, and a runner-up below the
lower threshold."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from vaxpass.registry.config import LEVELS, MatchConfig
from vaxpass.registry.decide import MODEL, decide, probability
from vaxpass.registry.linker import FIELDS, Candidates

# per record: its candidates (registry id, weight, level index per field), best first; and its best weight
RECORDS: list[tuple[list[tuple[int, float, tuple[int, ...]]], float]] = [
    ([], -math.inf),  # nothing compared
    ([], -12.371),  # compared, nothing at the lower threshold
    ([(10 ** 9 + 7, 21.37, (0, 0, 0, 0))], 21.37),
    ([(5, 0.0, (2, 5, 1, 2)), (6, -0.0, (3, 9, 5, 1)), (7, -9.0, (4, 8, 4, 1))], 0.0),
    ([(8, 5.0, (1, 1, 0, 0)), (9, 1e-7, (1, 1, 0, 0))], 5.0),  # ambiguous: the runner-up within the margin
    ([(11, 30.0, (0, 0, 0, 0)), (12, 2.5, (4, 3, 2, 0)), (13, -1.0, (4, 6, 3, 2)), (14, -7.99, (4, 7, 4, 1))],
     30.0),  # more candidates than are shown
    ([(15, 9.123456789, (3, 4, 0, 2))], 9.123456789),  # no ID: a probable match
]


def _candidates() -> Candidates:
    pairs = [(r, *c) for r, (cands, _) in enumerate(RECORDS) for c in cands]
    return Candidates(record=np.array([p[0] for p in pairs], dtype=np.int64),
                      registry_id=np.array([p[1] for p in pairs], dtype=np.int64),
                      weight=np.array([p[2] for p in pairs], dtype=np.float64),
                      levels={f: np.array([p[3][i] for p in pairs], dtype=np.int8) for i, f in enumerate(FIELDS)},
                      best_weight=np.array([best for _, best in RECORDS], dtype=np.float64), compared=len(pairs))


def _expected(config: MatchConfig, r: int) -> dict[str, Any]:
    cands, best = RECORDS[r]
    shown = [c for c in cands if c[1] >= config.lower][:config.max_candidates]
    if not shown:
        return {"model": MODEL, "thresholds": config.summary(),
                "best_weight": round(best, 2) if math.isfinite(best) else None, "candidates": []}
    gap = cands[0][1] - (cands[1][1] if len(cands) > 1 else -math.inf)
    listed = []
    for n, (rid, w, levels) in enumerate(shown, start=1):
        fields = {f: {"level": LEVELS[f][lv], "weight": float(config.weights[f][LEVELS[f][lv]])}
                  for f, lv in zip(FIELDS, levels, strict=True)}
        listed.append({"registry_id": rid, "rank": n, "weight": round(w, 2), "probability": round(probability(w), 6),
                       "fields": fields})
    return {"model": MODEL, "thresholds": config.summary(), "candidates": listed,
            "runner_up_gap": round(gap, 2) if math.isfinite(gap) else None}


def test_evidence_text_is_json_dumps_of_the_evidence() -> None:
    config = MatchConfig()
    decisions = decide(_candidates(), len(RECORDS), config)
    assert [d.outcome for d in decisions] == ["NO_MATCH", "NO_MATCH", "MATCHED", "REVIEW", "REVIEW", "MATCHED",
                                              "MATCHED"]
    for r, d in enumerate(decisions):
        expected = _expected(config, r)
        assert d.evidence_text == json.dumps(expected)
        assert d.evidence == expected
        assert d.candidate_registry_ids == [c["registry_id"] for c in expected["candidates"]]
    assert [d.reason for d in decisions[2:]] == ["identity_confirmed", "id_name_dob_disagree",
                                                 "ambiguous_candidates", "identity_confirmed", "probable_match"]
    assert '"weight": -0.0' in decisions[3].evidence_text and '"best_weight": null' in decisions[0].evidence_text
