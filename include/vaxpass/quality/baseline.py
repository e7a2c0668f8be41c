"""The same suite judged by plain vectorised pandas, without Great Expectations.

Not used by the flow. It is the named baseline for benchmarks (GE's cost over pandas on the same judged
frame) and a cross-check in the tests: for every rule it must fail exactly the rows GE fails. The verdicts
come from `rows.failing_rows`, the vectorised twin `engine.run_suite` also takes its failing rows from.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from vaxpass.quality.engine import RuleOutcome
from vaxpass.quality.prepare import prepare
from vaxpass.quality.report import QualityReport
from vaxpass.quality.rows import failing_rows
from vaxpass.quality.suite import SuiteSpec, default_suite_dir, load_suite
from vaxpass.quality.validate import assemble_report, record_ids, run_parameters


def judge_with_pandas(spec: SuiteSpec, work: pd.DataFrame, parameters: dict[str, Any]) -> list[RuleOutcome]:
    """One outcome per rule of `spec`, in suite order, for the judged frame `work`."""
    return [RuleOutcome(rule=rule.code, evaluated=evaluated, failed_rows=rows, success=rows.size == 0)
            for rule, (evaluated, rows) in zip(spec.rules, failing_rows(spec, work, parameters), strict=True)]


def validate_with_pandas(df: pd.DataFrame, *, run_date: date, suite_dir: Path | None = None,
                         history: pd.DataFrame | None = None) -> QualityReport:
    """`validate_dose_records` with pandas as the judge; `ge_success` is then "no rule failed"."""
    spec = load_suite(suite_dir if suite_dir is not None else default_suite_dir())
    ids = record_ids(df)
    work = prepare(df, run_date=run_date, history=history, intervals=spec.intervals)
    outcomes = judge_with_pandas(spec, work, run_parameters(run_date))
    return assemble_report(spec, ids, outcomes, all(o.success for o in outcomes))
