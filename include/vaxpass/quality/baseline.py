"""The same suite judged by plain vectorised pandas, without Great Expectations.

Not used by the flow. It is the named baseline for benchmarks (GE's cost over pandas on the same judged
frame) and a cross-check in the tests: for every rule it must fail exactly the rows GE fails. It understands
only the expectation types the suite may use (`suite.SUPPORTED_TYPES`), with GE's semantics: a missing value
is not evaluated, except by `not_be_null`; `match_regex` searches (the suite anchors its patterns).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaxpass.quality.engine import RuleOutcome
from vaxpass.quality.prepare import prepare
from vaxpass.quality.report import QualityReport
from vaxpass.quality.suite import STATIC_PARAMETERS, SuiteSpec, default_suite_dir, load_suite
from vaxpass.quality.validate import assemble_report, record_ids, run_parameters


def _value(v: Any, params: dict[str, Any]) -> Any:
    return params[v["$PARAMETER"]] if isinstance(v, dict) and "$PARAMETER" in v else v


def _judge(kind: str, kw: dict[str, Any], work: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(evaluated mask, failed mask) of one expectation."""
    if kind.startswith("expect_column_pair_"):
        a, b = work[kw["column_A"]], work[kw["column_B"]]
        present = (a.notna() & b.notna()).to_numpy()
        if kind == "expect_column_pair_values_to_be_equal":
            ok = a == b
        else:
            ok = a >= b if kw.get("or_equal") else a > b
        return present, present & ~ok.fillna(False).to_numpy(dtype=bool)
    col = work[kw["column"]]
    present = col.notna().to_numpy()
    if kind == "expect_column_values_to_not_be_null":
        return np.ones(len(col), dtype=bool), ~present
    if kind == "expect_column_values_to_be_in_set":
        ok = col.isin(kw["value_set"])
    elif kind == "expect_column_values_to_not_be_in_set":
        ok = ~col.isin(kw["value_set"])
    elif kind == "expect_column_values_to_be_between":
        ok = pd.Series(True, index=col.index)
        if kw.get("min_value") is not None:
            ok &= col >= kw["min_value"]
        if kw.get("max_value") is not None:
            ok &= col <= kw["max_value"]
    elif kind in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        found = col.str.contains(kw["regex"], regex=True).fillna(False).astype(bool)
        ok = found if kind.endswith("_match_regex") and "_not_" not in kind else ~found
    else:
        raise ValueError(f"baseline does not know {kind}")
    return present, present & ~ok.fillna(False).to_numpy(dtype=bool)


def judge_with_pandas(spec: SuiteSpec, work: pd.DataFrame, parameters: dict[str, Any]) -> list[RuleOutcome]:
    """One outcome per rule of `spec`, in suite order, for the judged frame `work`."""
    params = {**STATIC_PARAMETERS, **parameters}
    outcomes = []
    for exp in spec.definition["expectations"]:
        kw = {k: _value(v, params) for k, v in exp["kwargs"].items()}
        present, failed = _judge(exp["type"], kw, work)
        rows = np.flatnonzero(failed)
        outcomes.append(RuleOutcome(rule=exp["meta"]["rule"], evaluated=int(present.sum()), failed_rows=rows,
                                    success=rows.size == 0))
    return outcomes


def validate_with_pandas(df: pd.DataFrame, *, run_date: date, suite_dir: Path | None = None,
                         history: pd.DataFrame | None = None) -> QualityReport:
    """`validate_dose_records` with pandas as the judge; `ge_success` is then "no rule failed"."""
    spec = load_suite(suite_dir if suite_dir is not None else default_suite_dir())
    ids = record_ids(df)
    work = prepare(df, run_date=run_date, history=history, intervals=spec.intervals)
    outcomes = judge_with_pandas(spec, work, run_parameters(run_date))
    return assemble_report(spec, ids, outcomes, all(o.success for o in outcomes))
