"""Accuracy on a small synthetic set (seeded, faults at the default rates): automatic matches must be right."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from bench.matching import _OneCsv, load_records, load_truth

from vaxpass.registry import RecordIdentity, SqlRegistry, match_identities
from vaxpass.synth import dataset


def test_precision_of_automatic_matches_on_synthetic_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset, "SiteFiles", _OneCsv)
    dataset.generate(tmp_path, persons=5000, seed=23, progress=False)
    cols = load_records(tmp_path)
    truth = load_truth(tmp_path)
    idx = [i for i, nat in enumerate(cols["nationality"]) if nat == "VN"]
    recs = [RecordIdentity(cols["full_name"][i], cols["dob"][i], cols["sex"][i], cols["national_id"][i])
            for i in idx]
    decisions = match_identities(recs, SqlRegistry(f"sqlite:///{tmp_path / 'registry.sqlite'}"))
    true_ids = [truth[cols["source_key"][i]] for i in idx]
    auto = [(d.candidate_registry_ids[0], t) for d, t in zip(decisions, true_ids, strict=True)
            if d.outcome == "MATCHED"]
    right = sum(a == t for a, t in auto)
    precision = right / len(auto)
    recall = right / sum(t > 0 for t in true_ids)
    assert precision >= 0.999, (len(auto) - right, len(auto))
    assert recall >= 0.99
    # residents missing from the registry are never matched automatically
    assert all(t > 0 for (_, t) in auto)
    # review decisions put the right person first most of the time
    review = [(d.candidate_registry_ids[0], t) for d, t in zip(decisions, true_ids, strict=True)
              if d.outcome == "REVIEW" and t > 0]
    assert sum(a == t for a, t in review) >= 0.8 * len(review)
    assert list(csv.reader((tmp_path / "doses.csv").open(encoding="utf-8")))[0][0] == "Mã mũi tiêm"
