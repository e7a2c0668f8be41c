"""Quality throughput: the Great Expectations suite against the same rules in plain vectorised pandas.

    python -m bench.quality_throughput --rows 1000000

Both sides get the same synthetic batch (`tests/quality/test_scale.py::make_batch`: realistic records, eight
faults at 5 % each) in the same run and return the same `QualityReport` with one `RowFailure` per record and
broken rule: `vaxpass.quality.validate_dose_records` (GE judges) against `vaxpass.quality.baseline.
validate_with_pandas` (pandas judges). Both include preparing the judged frame, the dose-history evidence and the
row-level results. The reports must be equal, else the run fails. Writes `bench/results/quality-<rows>.json`
with best-of-`--repeat` seconds per side and the ratio (goal: GE ≤ 3 × pandas).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from tests.quality.test_scale import make_batch

from vaxpass.quality import QualityReport, validate_dose_records
from vaxpass.quality.baseline import validate_with_pandas

RESULTS = Path(__file__).parent / "results"
RUN_DATE = date(2023, 1, 1)


def best_of(repeat: int, fn: Callable[[], QualityReport]) -> tuple[float, QualityReport]:
    times, report = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        report = fn()
        times.append(time.perf_counter() - start)
    assert report is not None
    return min(times), report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    df, _ = make_batch(args.rows, seed=args.seed)
    validate_dose_records(df.head(1000), run_date=RUN_DATE)  # GE's one-off set-up, outside the timing
    ge_s, ge = best_of(args.repeat, lambda: validate_dose_records(df, run_date=RUN_DATE))
    pd_s, base = best_of(args.repeat, lambda: validate_with_pandas(df, run_date=RUN_DATE))
    if ge.failures != base.failures or ge.rule_stats != base.rule_stats:
        sys.stderr.write("GE and pandas disagree: the benchmark compares different work\n")
        return 1
    result: dict[str, Any] = {
        "rows": args.rows, "repeat": args.repeat, "row_failures": len(ge.failures),
        "blocked_records": len(ge.blocked_ids), "rules": len(ge.rule_stats),
        "great_expectations_seconds": round(ge_s, 3), "pandas_seconds": round(pd_s, 3),
        "ratio": round(ge_s / pd_s, 2), "goal_ratio": 3.0,
        "great_expectations_rows_per_second": round(args.rows / ge_s), "pandas_rows_per_second": round(args.rows / pd_s),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"python": platform.python_version(), "processor": platform.machine(),
                    "cpus": os.cpu_count()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"quality-{args.rows}.json").write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
