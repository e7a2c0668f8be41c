"""Validate one extraction batch of dose records: prepare the judged frame, let Great Expectations judge it,
and turn GE's verdicts into a `QualityReport` with one `RowFailure` per record and broken rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaxpass.errors import VaxpassError
from vaxpass.quality.engine import RuleOutcome, run_suite
from vaxpass.quality.prepare import prepare, text
from vaxpass.quality.report import QualityReport, RowFailure
from vaxpass.quality.suite import SuiteSpec, default_suite_dir, load_suite


class InvalidBatchError(VaxpassError):
    """The batch has no usable `record_id` key (absent, null or repeated), so no failure could name its record.

    That is a fault of extraction, not of the site's data; `problems` lists all of them (row positions and
    record ids only, never personal data).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("dose batch cannot be validated: " + "; ".join(problems))


def record_ids(df: pd.DataFrame) -> np.ndarray:
    """The record ids as an object array of str, by position; raises `InvalidBatchError` if unusable."""
    if "record_id" not in df.columns:
        if len(df) == 0:
            return np.empty(0, dtype=object)
        raise InvalidBatchError(["column record_id is absent"])
    ids = text(df, "record_id").reset_index(drop=True)
    problems = []
    if (null := np.flatnonzero(ids.isna().to_numpy())).size:
        problems.append(f"record_id is empty at {null.size} row(s), positions {null[:10].tolist()}")
    if (repeated := ids[ids.duplicated() & ids.notna()].unique()).size:
        problems.append(f"record_id repeats for {repeated.size} id(s), e.g. {sorted(repeated.tolist())[:10]}")
    if problems:
        raise InvalidBatchError(problems)
    return ids.to_numpy(dtype=object)


def validate_dose_records(df: pd.DataFrame, *, run_date: date, suite_dir: Path | None = None,
                          history: pd.DataFrame | None = None) -> QualityReport:
    """Check every record of `df` (one extraction batch) against the suite in `suite_dir` (default: the
    repository's `data_quality/`). `run_date` is the cycle's logical date: no date may lie after it.
    `history` holds the stored records the dose-history rules compare with (`history.HISTORY_COLUMNS`; accepted
    and pending ones, never the batch itself); without it they judge the batch alone.

    Bad data never raises: a missing column counts as all-null, wrong types are read as text, absurd values fail
    their rule. Raises `InvalidBatchError` when `record_id` is unusable, `SuiteError` for a broken suite file and
    `RuleExecutionError` when GE could not evaluate a rule.
    """
    spec = load_suite(suite_dir if suite_dir is not None else default_suite_dir())
    ids = record_ids(df)
    work = prepare(df, run_date=run_date, history=history, intervals=spec.intervals)
    outcomes, ge_success, docs_result = run_suite(spec, work, run_parameters(run_date))
    return assemble_report(spec, ids, outcomes, ge_success, docs_result)


def empty_report(spec: SuiteSpec) -> QualityReport:
    """The suite's verdict on a batch with no records, known without asking Great Expectations (equal to what
    `validate_dose_records` returns for an empty frame, less GE's Data Docs result): nothing evaluated, nothing
    failed. A task process that only has an empty batch never imports GE (seconds of CPU)."""
    outcomes = [RuleOutcome(rule=r.code, evaluated=0, failed_rows=np.empty(0, np.int64), success=True)
                for r in spec.rules]
    return assemble_report(spec, np.empty(0, dtype=object), outcomes, True, None)


def run_parameters(run_date: date) -> dict[str, Any]:
    """The suite's `$PARAMETER`s that change per run (the static ones come from `suite.STATIC_PARAMETERS`)."""
    return {"run_date_ymd": run_date.year * 10000 + run_date.month * 100 + run_date.day}


def assemble_report(spec: SuiteSpec, ids: np.ndarray, outcomes: list[RuleOutcome], success: bool,
                    docs_result: dict[str, Any] | None = None) -> QualityReport:
    """One RowFailure per (record, failed rule), ordered by record position and then suite order."""
    rows = np.concatenate([o.failed_rows for o in outcomes] or [np.empty(0, np.int64)])
    which = np.concatenate([np.full(o.failed_rows.size, i, np.int64) for i, o in enumerate(outcomes)]
                           or [np.empty(0, np.int64)])
    order = np.lexsort((which, rows))
    templates = [(r.code, r.severity, r.reason_en, r.reason_vi) for r in spec.rules]
    failures = tuple(RowFailure(ids[row], *templates[w])
                     for row, w in zip(rows[order].tolist(), which[order].tolist(), strict=True))
    stats = {o.rule: {"evaluated": o.evaluated, "failed": int(np.unique(o.failed_rows).size)} for o in outcomes}
    return QualityReport(suite_name=spec.name, suite_version=spec.version, evaluated=len(ids),
                         failures=failures, rule_stats=stats, ge_success=success, docs_result=docs_result)
