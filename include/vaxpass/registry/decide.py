"""From the linker's candidates to one decision per record: MATCHED, REVIEW or NO_MATCH, with its evidence.

Evidence holds comparison levels and weights only — never a name, number or date — so it can be stored with the
decision, shown to a district reviewer and kept in lineage. Reason codes:
- MATCHED: `identity_confirmed` (the CCCD or linked CMND agrees and so do name, date of birth and sex) or
  `probable_match` (the weights carry it, e.g. a missing or mistyped ID);
- REVIEW: `ambiguous_candidates` (the runner-up is within the margin), else the fields that disagree on the best
  candidate (`dob_disagree`, `name_sex_disagree`, …) or `weak_evidence`;
- NO_MATCH: `no_match` (no candidate reached the lower threshold; the district sees it as "not found").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vaxpass.registry.config import LEVELS, MatchConfig
from vaxpass.registry.linker import FIELDS, Candidates

MODEL = "fellegi-sunter/v1"
# Levels that count as agreement when naming what disagrees.
AGREEING = {"id": {"cccd_exact", "cmnd_exact", "missing"},
            "name": {"exact", "folded", "surname_variant", "reordered", "middle_dropped"},
            "dob": {"exact"}, "sex": {"exact", "missing"}}
_METHODS = {"cccd_exact": "cccd", "cmnd_exact": "cmnd"}
CONFIRMING = {"name": {"exact", "folded", "surname_variant", "reordered", "middle_dropped"},
              "dob": {"exact"}, "sex": {"exact"}}


@dataclass(frozen=True)
class Decision:
    outcome: str  # MATCHED | REVIEW | NO_MATCH
    method: str  # cccd | cmnd | probabilistic
    reason: str
    score: float  # the match probability of the best candidate
    evidence: dict[str, Any]
    candidate_registry_ids: list[int]


def probability(weight: float) -> float:
    return 1.0 / (1.0 + math.pow(2.0, -weight)) if weight > -1000 else 0.0


class _FieldEvidence:
    """{field: {level, weight}} per combination of levels, built once (evidence dicts are read only)."""

    def __init__(self, config: MatchConfig, levels: dict[str, np.ndarray]) -> None:
        self._config = config
        self._cache: dict[int, dict[str, dict[str, Any]]] = {}
        code = np.zeros(len(levels[FIELDS[0]]), dtype=np.int64)
        for f in FIELDS:
            code = code * 16 + levels[f].astype(np.int64)
        self._codes: list[int] = code.tolist()

    def __call__(self, k: int) -> dict[str, dict[str, Any]]:
        code = self._codes[k]
        found = self._cache.get(code)
        if found is None:
            found = {}
            for n, f in enumerate(reversed(FIELDS)):
                lv = LEVELS[f][(code >> (4 * n)) & 15]
                found[f] = {"level": lv, "weight": float(self._config.weights[f][lv])}
            found = {f: found[f] for f in FIELDS}
            self._cache[code] = found
        return found


def decide(cands: Candidates, n_records: int, config: MatchConfig) -> list[Decision]:
    """One decision per record position 0..n_records-1."""
    starts = np.searchsorted(cands.record, np.arange(n_records + 1))
    thresholds = config.summary()
    field_evidence = _FieldEvidence(config, cands.levels)
    weights: list[float] = cands.weight.tolist()
    registry_ids: list[int] = cands.registry_id.tolist()
    best_weights: list[float] = cands.best_weight.tolist()
    bounds: list[int] = starts.tolist()
    out: list[Decision] = []
    known: dict[float, tuple[float, float]] = {}
    readings: dict[int, tuple[str, str, str]] = {}

    def rounded(w: float) -> tuple[float, float]:
        """The weight and probability as evidence shows them, once per distinct weight (a weight is the prior
        plus one level weight per field, so few values recur); 0.0 is not cached (-0.0 would print alike)."""
        found = known.get(w)
        if found is None:
            found = (round(w, 2), round(probability(w), 6))
            if w:
                known[w] = found
        return found

    for r in range(n_records):
        lo, hi = bounds[r], bounds[r + 1]
        best = best_weights[r]
        shown = [k for k in range(lo, hi) if weights[k] >= config.lower][:config.max_candidates]
        if not shown:
            evidence: dict[str, Any] = {"model": MODEL, "thresholds": thresholds, "best_weight": round(best, 2)
                        if math.isfinite(best) else None, "candidates": []}
            out.append(Decision("NO_MATCH", "probabilistic", "no_match", probability(best), evidence, []))
            continue
        top = lo
        w1 = weights[top]
        w2 = weights[top + 1] if hi - lo > 1 else -math.inf
        gap = w1 - w2
        candidates: list[dict[str, Any]] = []
        for n, k in enumerate(shown):
            weight, chance = rounded(weights[k])
            candidates.append({"registry_id": registry_ids[k], "rank": n + 1, "weight": weight,
                               "probability": chance, "fields": field_evidence(k)})
        evidence = {"model": MODEL, "thresholds": thresholds, "candidates": candidates,
                    "runner_up_gap": round(gap, 2) if math.isfinite(gap) else None}
        fields: dict[str, dict[str, Any]] = candidates[0]["fields"]
        found = readings.get(id(fields))  # the fields dicts are shared per combination of levels
        if found is None:
            found = readings[id(fields)] = _reading(fields)
        method, if_matched, if_weak = found
        if w1 >= config.upper and gap >= config.margin:
            out.append(Decision("MATCHED", method, if_matched, probability(w1), evidence,
                                [registry_ids[k] for k in shown]))
            continue
        reason = "ambiguous_candidates" if w1 >= config.upper else if_weak
        out.append(Decision("REVIEW", method, reason, probability(w1), evidence, [registry_ids[k] for k in shown]))
    return out


def _reading(fields: dict[str, dict[str, Any]]) -> tuple[str, str, str]:
    """What the best candidate's levels say: the method, the reason if it is matched, the reason if its weight
    stays below the upper threshold."""
    id_level = fields["id"]["level"]
    method = _METHODS.get(id_level, "probabilistic")
    confirmed = method != "probabilistic" and all(fields[f]["level"] in ok for f, ok in CONFIRMING.items())
    bad = [f for f in FIELDS if fields[f]["level"] not in AGREEING[f]]
    weak = f"{'_'.join(bad)}_disagree" if bad else ("id_missing" if id_level == "missing" else "weak_evidence")
    return method, "identity_confirmed" if confirmed else "probable_match", weak


_NO_MATCH_KEYS = ("model", "thresholds", "best_weight", "candidates")
_CANDIDATES_KEYS = ("model", "thresholds", "candidates", "runner_up_gap")
_CANDIDATE_KEYS = ("registry_id", "rank", "weight", "probability", "fields")


def _number(x: float | None) -> str:
    """A finite float or None as `json.dumps` writes it."""
    return "null" if x is None else float.__repr__(x) if math.isfinite(x) else json.dumps(x)


class EvidenceText:
    """`json.dumps` of the evidence `decide` makes, written from its known shape: the parts many decisions share
    (the thresholds, each combination of field levels) are encoded once. Any other shape goes to `json.dumps`."""

    def __init__(self) -> None:
        self._shared: dict[int, tuple[object, str]] = {}  # id -> (the object, kept alive so ids stay unique; text)

    def _text(self, obj: object) -> str:
        found = self._shared.get(id(obj))
        if found is None:
            found = self._shared[id(obj)] = (obj, json.dumps(obj))
        return found[1]

    def __call__(self, evidence: dict[str, Any]) -> str:
        keys = tuple(evidence)
        if evidence.get("model") != MODEL:
            return json.dumps(evidence)
        head = f'{{"model": "{MODEL}", "thresholds": {self._text(evidence["thresholds"])}, '
        if keys == _NO_MATCH_KEYS and not evidence["candidates"]:
            return f'{head}"best_weight": {_number(evidence["best_weight"])}, "candidates": []}}'
        candidates = evidence.get("candidates")
        if keys != _CANDIDATES_KEYS or not all(tuple(c) == _CANDIDATE_KEYS for c in candidates):  # type: ignore[union-attr]
            return json.dumps(evidence)
        listed = ", ".join(
            f'{{"registry_id": {int.__repr__(c["registry_id"])}, "rank": {int.__repr__(c["rank"])}, '
            f'"weight": {_number(c["weight"])}, "probability": {_number(c["probability"])}, '
            f'"fields": {self._text(c["fields"])}}}' for c in candidates)  # type: ignore[union-attr]
        return f'{head}"candidates": [{listed}], "runner_up_gap": {_number(evidence["runner_up_gap"])}}}'
