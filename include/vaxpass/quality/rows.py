"""Which rows each expectation of the suite fails, computed with vectorised pandas on the judged frame.

Great Expectations judges every rule and its counts are the verdict of record, but asking it for the failing rows
(`COMPLETE` results with an unexpected index list) costs a third of its run. The rows are taken from here
instead, and `engine.run_suite` accepts them only when, for every rule, they agree with GE's own counts (rows
evaluated, rows failed, success); otherwise it asks GE for its index lists after all. Only the expectation types
the suite may use (`suite.SUPPORTED_TYPES`) are known, with GE's semantics: a missing value is not evaluated,
except by `not_be_null`; `match_regex` searches (the suite anchors its patterns).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vaxpass.quality.suite import STATIC_PARAMETERS, SuiteSpec


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
        raise ValueError(f"no vectorised judge for {kind}")
    return present, present & ~ok.fillna(False).to_numpy(dtype=bool)


def failing_rows(spec: SuiteSpec, work: pd.DataFrame, parameters: dict[str, Any]) -> list[tuple[int, np.ndarray]]:
    """Per expectation of `spec`, in suite order: (rows evaluated, positions of the rows that fail it)."""
    params = {**STATIC_PARAMETERS, **parameters}
    out = []
    for exp in spec.definition["expectations"]:
        kw = {k: _value(v, params) for k, v in exp["kwargs"].items()}
        present, failed = _judge(exp["type"], kw, work)
        out.append((int(present.sum()), np.flatnonzero(failed)))
    return out
