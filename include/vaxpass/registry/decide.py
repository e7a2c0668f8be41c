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
from functools import cached_property
from typing import Any, cast

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
    evidence_text: str  # the evidence as stored: the text `json.dumps(evidence)` writes
    candidate_registry_ids: list[int]

    @cached_property
    def evidence(self) -> dict[str, Any]:
        """The evidence as a dict, parsed when asked for: matching stores the text as it is (tens of thousands
        of decisions a run) and only the review reads the dict of the few it shows."""
        return cast(dict[str, Any], json.loads(self.evidence_text))


def probability(weight: float) -> float:
    return 1.0 / (1.0 + math.pow(2.0, -weight)) if weight > -1000 else 0.0


def _number(x: float | None) -> str:
    """A float or None as `json.dumps` writes it."""
    return "null" if x is None else float.__repr__(x) if math.isfinite(x) else json.dumps(x)


class _FieldEvidence:
    """Per candidate, its fields' evidence text (`{field: {level, weight}}` as `json.dumps` writes it) and what
    its levels say (see `_reading`): both once per combination of levels, which few candidates do not share."""

    def __init__(self, config: MatchConfig, levels: dict[str, np.ndarray]) -> None:
        self._config = config
        self._cache: dict[int, tuple[str, tuple[str, str, str]]] = {}
        code = np.zeros(len(levels[FIELDS[0]]), dtype=np.int64)
        for f in FIELDS:
            code = code * 16 + levels[f].astype(np.int64)
        self.codes: list[int] = code.tolist()

    def __call__(self, code: int) -> tuple[str, tuple[str, str, str]]:
        found = self._cache.get(code)
        if found is None:
            shift = 4 * len(FIELDS)
            fields: dict[str, dict[str, Any]] = {}
            for f in FIELDS:
                shift -= 4
                lv = LEVELS[f][(code >> shift) & 15]
                fields[f] = {"level": lv, "weight": float(self._config.weights[f][lv])}
            found = self._cache[code] = (json.dumps(fields), _reading({f: v["level"] for f, v in fields.items()}))
        return found


def decide(cands: Candidates, n_records: int, config: MatchConfig) -> list[Decision]:
    """One decision per record position 0..n_records-1.

    The evidence is written as text here, from its known shape (`{"model", "thresholds", "best_weight",
    "candidates": []}` without a candidate shown, else `{"model", "thresholds", "candidates": [{"registry_id",
    "rank", "weight", "probability", "fields"}, …], "runner_up_gap"}`), byte for byte what `json.dumps` of those
    dicts writes: building the dicts and encoding them again took a third of matching's own Python time."""
    starts = np.searchsorted(cands.record, np.arange(n_records + 1))
    head = f'{{"model": {json.dumps(MODEL)}, "thresholds": {json.dumps(config.summary())}, '
    field_evidence = _FieldEvidence(config, cands.levels)
    codes = field_evidence.codes
    weights: list[float] = cands.weight.tolist()
    registry_ids: list[int] = cands.registry_id.tolist()
    best_weights: list[float] = cands.best_weight.tolist()
    bounds: list[int] = starts.tolist()
    lower, upper, margin, most = config.lower, config.upper, config.margin, config.max_candidates
    out: list[Decision] = []
    tails: dict[tuple[float, int], str] = {}

    def tail(k: int) -> str:
        """A candidate's text after its id and rank, once per weight and combination of levels (a weight is the
        prior plus one level weight per field, so few recur); 0.0 is not cached (-0.0 would be found for it)."""
        w, code = weights[k], codes[k]
        found = tails.get((w, code))
        if found is None:
            found = (f'"weight": {_number(round(w, 2))}, "probability": {_number(round(probability(w), 6))}, '
                     f'"fields": {field_evidence(code)[0]}}}')
            if w:
                tails[w, code] = found
        return found

    for r in range(n_records):
        lo, hi = bounds[r], bounds[r + 1]
        shown = [k for k in range(lo, hi) if weights[k] >= lower][:most]
        if not shown:
            best = best_weights[r]
            shown_best = round(best, 2) if math.isfinite(best) else None
            text = f'{head}"best_weight": {_number(shown_best)}, "candidates": []}}'
            out.append(Decision("NO_MATCH", "probabilistic", "no_match", probability(best), text, []))
            continue
        w1 = weights[lo]
        gap = w1 - (weights[lo + 1] if hi - lo > 1 else -math.inf)
        listed = ", ".join([f'{{"registry_id": {registry_ids[k]!r}, "rank": {n}, {tail(k)}'
                            for n, k in enumerate(shown, start=1)])
        text = (f'{head}"candidates": [{listed}], '
                f'"runner_up_gap": {_number(round(gap, 2) if math.isfinite(gap) else None)}}}')
        method, if_matched, if_weak = field_evidence(codes[shown[0]])[1]
        ids = [registry_ids[k] for k in shown]
        if w1 >= upper and gap >= margin:
            out.append(Decision("MATCHED", method, if_matched, probability(w1), text, ids))
            continue
        reason = "ambiguous_candidates" if w1 >= upper else if_weak
        out.append(Decision("REVIEW", method, reason, probability(w1), text, ids))
    return out


def _reading(levels: dict[str, str]) -> tuple[str, str, str]:
    """What the best candidate's levels say: the method, the reason if it is matched, the reason if its weight
    stays below the upper threshold."""
    id_level = levels["id"]
    method = _METHODS.get(id_level, "probabilistic")
    confirmed = method != "probabilistic" and all(levels[f] in ok for f, ok in CONFIRMING.items())
    bad = [f for f in FIELDS if levels[f] not in AGREEING[f]]
    weak = f"{'_'.join(bad)}_disagree" if bad else ("id_missing" if id_level == "missing" else "weak_evidence")
    return method, "identity_confirmed" if confirmed else "probable_match", weak
