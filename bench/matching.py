"""Registry matching at scale: vaxpass's matcher against a plain Splink 5 model (DuckDB), same data, same run.

    python -m bench.matching --records 200000 --registry 1000000
    python -m bench.matching --records 1000000 --registry 5000000 --no-splink
    python -m bench.matching --fit --registry 300000 --seed 101     # regenerate the shipped weights

The data set comes from `vaxpass.synth.generate` (seeded): a registry of `--registry` persons and about
`--records` dose records, 3 % of the vaccinated residents missing from the registry, foreigners, and the usual
faults. Every site's rows go to one CSV (the delivery formats are the extract stage's business, not this
benchmark's); rows the quality stage quarantines (`bad_row` in the ground truth) are left out, the rest are
normalised with `vaxpass.extract.normalise.normalise_row`. Each system runs in its own subprocess, so time and
peak memory (ru_maxrss) are its own. Scored against the ground truth: precision, recall and F1 of the automatic
matches (a missed match goes to review). Writes `bench/results/matching-<records>-<registry>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
DOSES_PER_PERSON = 2.55  # measured on the generator's defaults (records per vaccinated person)
UNREGISTERED_OF_VACCINATED = 0.03
FOREIGN_OF_VACCINATED = 0.005


# ---------------------------------------------------------------------------------------------------- data set

class _OneCsv:
    """Stands in for synth's per-site writers: every site's rows into one `doses.csv`."""

    def __init__(self, out_dir: Path, sites: Any, export_date: date) -> None:
        from vaxpass.domain import SOURCE_HEADERS

        self._f = (out_dir / "doses.csv").open("w", encoding="utf-8", newline="")
        csv.writer(self._f, lineterminator="\n").writerow(SOURCE_HEADERS.values())

    def __enter__(self) -> _OneCsv:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def add(self, rows_by_site: dict[int, list[tuple[str, ...]]]) -> None:
        writer = csv.writer(self._f, lineterminator="\n")
        for s in sorted(rows_by_site):
            writer.writerows(rows_by_site[s])


def make_data(work: Path, *, records: int, registry: int, seed: int) -> Path:
    """Generate (once per parameters) and return the data folder."""
    from vaxpass.synth import dataset

    data = work / f"data-{records}-{registry}-{seed}"
    if (data / "summary.json").exists():
        return data
    share = records / (registry * DOSES_PER_PERSON * (1 + UNREGISTERED_OF_VACCINATED + FOREIGN_OF_VACCINATED))
    dataset.SiteFiles = _OneCsv  # type: ignore[misc,assignment]
    t = time.perf_counter()
    summary = dataset.generate(data, persons=registry, seed=seed, vaccinated_share=min(1.0, share),
                               unregistered_share=share * UNREGISTERED_OF_VACCINATED,
                               foreign_share=share * FOREIGN_OF_VACCINATED, progress=True)
    sys.stderr.write(f"generated {summary.dose_records} records, registry {registry} "
                     f"in {time.perf_counter() - t:.0f} s\n")
    return data


def load_records(data: Path) -> dict[str, list[Any]]:
    """The normalised identity fields of every record validation would pass on (cached as a pickle)."""
    cache = data / "records.pickle"
    if cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)  # type: ignore[no-any-return]
    from vaxpass.extract.normalise import normalise_row

    quarantined = {r["source_key"] for r in csv.DictReader((data / "ground_truth.csv").open(encoding="utf-8"))
                   if "bad_row" in r["faults"].split(";")}
    cols: dict[str, list[Any]] = {k: [] for k in ("source_key", "full_name", "dob", "sex", "national_id",
                                                  "nationality", "passport_no")}
    with (data / "doses.csv").open(encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        for row in reader:
            if row[0] in quarantined:
                continue
            rec = normalise_row(dict(zip(header, row, strict=True)))
            if not rec["full_name"] or rec["dob"] is None:
                continue
            cols["source_key"].append(row[0])
            for k in ("full_name", "dob", "sex", "national_id", "nationality", "passport_no"):
                cols[k].append(rec[k])
    with cache.open("wb") as f:
        pickle.dump(cols, f)
    return cols


def load_truth(data: Path) -> dict[str, int]:
    """source_key -> registry id (0 when the person is not in the registry)."""
    with (data / "ground_truth.csv").open(encoding="utf-8") as f:
        return {r["source_key"]: int(r["registry_id"] or 0) for r in csv.DictReader(f)}


# ---------------------------------------------------------------------------------------------------- workers

def _citizens(cols: dict[str, list[Any]]) -> list[int]:
    return [i for i, nat in enumerate(cols["nationality"]) if nat == "VN"]


def run_ours(data: Path, out: Path) -> dict[str, Any]:
    from vaxpass.registry import RecordIdentity, SqlRegistry, match_identities

    cols = load_records(data)
    idx = _citizens(cols)
    recs = [RecordIdentity(cols["full_name"][i], cols["dob"][i], cols["sex"][i], cols["national_id"][i])
            for i in idx]
    start = time.perf_counter()
    decisions = match_identities(recs, SqlRegistry(f"sqlite:///{data / 'registry.sqlite'}"))
    seconds = time.perf_counter() - start
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source_key", "outcome", "registry_id", "reason"])
        for i, d in zip(idx, decisions, strict=True):
            first = d.candidate_registry_ids[0] if d.candidate_registry_ids else ""
            w.writerow([cols["source_key"][i], d.outcome, first, d.reason])
    return {"seconds": round(seconds, 2)}


def run_splink(data: Path, out: Path, threshold: float = 0.9) -> dict[str, Any]:
    """A plain Splink 5 model as the notes describe it: link_only, standard comparisons, blocking rules, u by
    random sampling, EM on two blocking rules; the best candidate per record at or above `threshold`."""
    import sqlite3

    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from vaxpass.registry.compare import fold_name

    cols = load_records(data)
    idx = _citizens(cols)
    start = time.perf_counter()
    con = sqlite3.connect(data / "registry.sqlite")
    reg = pd.read_sql("SELECT registry_id, cccd, cmnd, full_name, dob, sex FROM persons", con)
    con.close()
    nid = [cols["national_id"][i] or "" for i in idx]
    rec = pd.DataFrame({
        "unique_id": np.arange(len(idx), dtype=np.int64), "full_name": [cols["full_name"][i] for i in idx],
        "dob": [cols["dob"][i].isoformat() for i in idx], "sex": [cols["sex"][i] for i in idx],
        "cccd": [v if len(v) == 12 else None for v in nid], "cmnd": [v if len(v) == 9 else None for v in nid]})
    reg = reg.rename(columns={"registry_id": "unique_id"})

    def shape(df: pd.DataFrame) -> pd.DataFrame:
        folded = df["full_name"].map(fold_name)
        words = folded.str.split(" ")
        return pd.DataFrame({"unique_id": df["unique_id"], "full_name": folded, "family": words.str[0],
                             "given": words.str[-1], "dob": df["dob"], "month_day": df["dob"].str[5:],
                             "sex": df["sex"], "cccd": df["cccd"], "cmnd": df["cmnd"]})

    left, right = shape(rec), shape(reg)
    db = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("full_name", [0.95, 0.88]),
            cl.ExactMatch("given"),
            cl.DamerauLevenshteinAtThresholds("dob", [1, 2]),
            cl.ExactMatch("sex"),
            cl.DamerauLevenshteinAtThresholds("cccd", [1]),
            cl.ExactMatch("cmnd"),
        ],
        blocking_rules_to_generate_predictions=[block_on("cccd"), block_on("cmnd"), block_on("dob"),
                                                block_on("given", "month_day")],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker([db.register(left, dataset_display_name="records"),
                     db.register(right, dataset_display_name="registry")], settings)
    t_train = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match([block_on("cccd")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("cccd"))
    train = time.perf_counter() - t_train
    t_pred = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    predict = time.perf_counter() - t_pred
    left_is_rec = pred["source_dataset_l"] == "records"
    pred["rec"] = np.where(left_is_rec, pred["unique_id_l"], pred["unique_id_r"])
    pred["reg"] = np.where(left_is_rec, pred["unique_id_r"], pred["unique_id_l"])
    rec_col, reg_col = "rec", "reg"
    best = pred.sort_values("match_probability", ascending=False).drop_duplicates(rec_col)
    chosen = dict(zip(best[rec_col].tolist(), best[reg_col].tolist(), strict=True))
    seconds = time.perf_counter() - start
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source_key", "outcome", "registry_id", "reason"])
        for pos, i in enumerate(idx):
            rid = chosen.get(pos)
            w.writerow([cols["source_key"][i], "MATCHED" if rid is not None else "NO_MATCH", rid or "", ""])
    return {"seconds": round(seconds, 2), "train_seconds": round(train, 2), "predict_seconds": round(predict, 2)}


# ---------------------------------------------------------------------------------------------------- scoring

def score(pred_path: Path, truth: dict[str, int]) -> dict[str, Any]:
    tp = fp = review = review_right_first = no_match = 0
    positives = 0
    with pred_path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        true_id = truth[r["source_key"]]
        positives += true_id > 0
        if r["outcome"] == "MATCHED":
            if int(r["registry_id"]) == true_id:
                tp += 1
            else:
                fp += 1
        elif r["outcome"] == "REVIEW":
            review += 1
            review_right_first += bool(r["registry_id"]) and int(r["registry_id"]) == true_id
        else:
            no_match += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / positives if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"records": len(rows), "in_registry": positives, "auto_matched": tp + fp, "true_matches": tp,
            "false_matches": fp, "review": review, "review_right_candidate_first": review_right_first,
            "no_match": no_match, "precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5)}


def _worker(system: str, data: Path, out: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "bench.matching", "--worker", system, "--data", str(data),
                           "--out", str(out)], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"{system} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _table(result: dict[str, Any]) -> str:
    lines = ["| system | time (s) | peak memory (GB) | auto-matches | precision | recall | F1 | review | no match |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in result["systems"].items():
        lines.append(f"| {name} | {r['seconds']:.1f} | {r['peak_rss_gb']:.2f} | {r['auto_matched']} | "
                     f"{r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['review']} | {r['no_match']} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- fitting

def fit(data: Path) -> dict[str, dict[str, float]]:
    """m per level from the true pairs among the blocked candidates, u from random record-registry pairs."""
    import sqlite3

    from vaxpass.registry.config import LEVELS
    from vaxpass.registry.linker import FIELDS, _block, compare_pairs
    from vaxpass.registry.prepare import Vocab, prepare_records, prepare_registry

    cols = load_records(data)
    idx = _citizens(cols)
    truth = load_truth(data)
    vocab = Vocab()
    rec = prepare_records(vocab, full_name=[cols["full_name"][i] for i in idx], dob=[cols["dob"][i] for i in idx],
                          sex=[cols["sex"][i] for i in idx], national_id=[cols["national_id"][i] for i in idx])
    con = sqlite3.connect(data / "registry.sqlite")
    rows = con.execute("SELECT registry_id, cccd, cmnd, full_name, dob, sex FROM persons ORDER BY registry_id")
    rid, cccd, cmnd, name, dob, sex = (list(c) for c in zip(*rows.fetchall(), strict=True))
    con.close()
    reg = prepare_registry(vocab, cccd=cccd, cmnd=cmnd, full_name=name, dob=dob, sex=sex)
    pos_of = {r: p for p, r in enumerate(rid)}
    true_j = np.array([pos_of.get(truth[cols["source_key"][i]], -1) for i in idx])
    i, j = _block(rec, reg)
    is_true = true_j[i] == j
    m_levels = compare_pairs(rec, reg, i[is_true], j[is_true])
    blocked_share = is_true.sum() / max(1, (true_j >= 0).sum())
    rng = np.random.default_rng(5)
    ri, rj = rng.integers(0, rec.n, 2_000_000), rng.integers(0, reg.n, 2_000_000)
    u_levels = compare_pairs(rec, reg, ri, rj)
    out: dict[str, dict[str, float]] = {}
    for f in FIELDS:
        k = len(LEVELS[f])
        m = (np.bincount(m_levels[f], minlength=k) + 0.5) / (len(m_levels[f]) + 0.5 * k)
        u = (np.bincount(u_levels[f], minlength=k) + 0.5) / (len(u_levels[f]) + 0.5 * k)
        w = np.clip(np.log2(m / u), -20, 25)
        out[f] = {lv: round(float(x), 2) for lv, x in zip(LEVELS[f], w, strict=True)}
        if "missing" in LEVELS[f]:
            out[f]["missing"] = 0.0
    sys.stderr.write(f"true pairs blocked: {blocked_share:.5f}\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--registry", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vaxpass-bench-matching")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument("--fit", action="store_true", help="print weights fitted on this (training) data set")
    parser.add_argument("--worker", choices=("ours", "splink"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        measured = (run_ours if args.worker == "ours" else run_splink)(args.data, args.out)
        measured["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 3)
        sys.stdout.write(json.dumps(measured) + "\n")
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    data = make_data(args.workdir, records=args.records, registry=args.registry, seed=args.seed)
    if args.fit:
        sys.stdout.write(json.dumps(fit(data), indent=1) + "\n")
        return 0
    load_records(data)
    truth = load_truth(data)
    result: dict[str, Any] = {"records_requested": args.records, "registry": args.registry, "seed": args.seed,
                              "summary": json.loads((data / "summary.json").read_text()), "systems": {}}
    systems = ["vaxpass"] + ([] if args.no_splink else ["splink"])
    for system in systems:
        pred = args.workdir / f"pred-{system}-{args.records}-{args.registry}.csv"
        run = _worker("ours" if system == "vaxpass" else "splink", data, pred)
        result["systems"][system] = {**run, **score(pred, truth)}
        sys.stderr.write(f"{system}: {json.dumps(result['systems'][system])}\n")
    if "splink" in result["systems"]:
        ours, theirs = result["systems"]["vaxpass"], result["systems"]["splink"]
        result["time_ratio"] = round(ours["seconds"] / theirs["seconds"], 3) if theirs["seconds"] else math.nan
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"matching-{args.records}-{args.registry}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(_table(result))
    sys.stdout.write(_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
