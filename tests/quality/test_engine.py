"""How Great Expectations is driven: GE's verdicts and counts decide; the failing rows come from the vectorised
twin (`rows.failing_rows`) only when they agree with GE, and are GE's own index lists otherwise."""

from __future__ import annotations

import contextlib
import gc
import logging
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vaxpass.quality import engine
from vaxpass.quality.prepare import prepare
from vaxpass.quality.suite import SuiteSpec, default_suite_dir, load_suite
from vaxpass.quality.validate import run_parameters

from .test_rules import RUN_DATE, case_rows, frame
from .test_scale import make_batch


@pytest.fixture(scope="module")
def spec() -> SuiteSpec:
    return load_suite(default_suite_dir())


def judged(df: pd.DataFrame, spec: SuiteSpec, run_date: date) -> pd.DataFrame:
    return prepare(df, run_date=run_date, intervals=spec.intervals)


def as_tuples(outcomes: list[engine.RuleOutcome]) -> list[tuple[str, int, bool, list[int]]]:
    return [(o.rule, o.evaluated, o.success, sorted(o.failed_rows.tolist())) for o in outcomes]


@pytest.mark.parametrize("batch", ["rule cases", "synthetic 5000 at 10 % faults"])
def test_vectorised_rows_are_the_rows_ge_lists(spec: SuiteSpec, batch: str) -> None:
    if batch == "rule cases":
        df, run_date = frame(case_rows()), RUN_DATE
    else:
        df, run_date = make_batch(5000, seed=3, fault_rate=0.1)[0], date(2023, 1, 1)
    work = judged(df, spec, run_date)
    by_ge = engine.run_suite(spec, work, run_parameters(run_date), ge_rows=True)
    fast = engine.run_suite(spec, work, run_parameters(run_date))
    assert as_tuples(fast[0]) == as_tuples(by_ge[0])
    assert sum(o.failed_rows.size for o in by_ge[0]) > 0 and {o.success for o in by_ge[0]} == {True, False}
    assert fast[1] == by_ge[1] and fast[2] == by_ge[2]  # the same success flag and Data Docs result


def test_rows_that_disagree_with_ge_counts_are_replaced_by_ge_rows(spec: SuiteSpec, caplog: pytest.LogCaptureFixture,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    work = judged(frame(case_rows()), spec, RUN_DATE)
    by_ge = engine.run_suite(spec, work, run_parameters(RUN_DATE), ge_rows=True)
    real = engine.failing_rows

    def off_by_one(*args: Any) -> list[tuple[int, np.ndarray]]:
        rows = real(*args)
        evaluated, failed = rows[2]  # dob_missing: one failing row too many
        rows[2] = (evaluated, np.append(failed, len(work) - 1))
        return rows

    monkeypatch.setattr(engine, "failing_rows", off_by_one)
    with caplog.at_level(logging.WARNING, logger=engine.__name__):
        fast = engine.run_suite(spec, work, run_parameters(RUN_DATE))
    assert as_tuples(fast[0]) == as_tuples(by_ge[0])
    assert spec.rules[2].code in caplog.text


def test_memoised_configurations_and_frozen_objects_change_no_result(spec: SuiteSpec,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from great_expectations.expectations.expectation import Expectation

    work = judged(frame(case_rows()), spec, RUN_DATE)
    ges_property = Expectation.__dict__["configuration"]
    fast = engine.run_suite(spec, work, run_parameters(RUN_DATE), ge_rows=True)
    assert Expectation.__dict__["configuration"] is ges_property and gc.get_freeze_count() == 0  # put back
    monkeypatch.setattr(engine, "_configurations_memoised", contextlib.nullcontext)
    monkeypatch.setattr(engine, "older_objects_frozen", contextlib.nullcontext)
    plain = engine.run_suite(spec, work, run_parameters(RUN_DATE), ge_rows=True)
    assert as_tuples(fast[0]) == as_tuples(plain[0]) and fast[1:] == plain[1:]


def _graph_snapshot() -> list[Any]:
    """Everything of the kept dependency graphs that GE reads: configurations, metric ids, kwargs, dependencies."""
    def metric(m: Any) -> Any:
        return (m.id, repr(dict(m.metric_domain_kwargs)), repr(dict(m.metric_value_kwargs)),
                sorted((k, d.id) for k, d in m.metric_dependencies.items()))
    return [(repr(cfg.to_json_dict()), [(metric(e.left), e.right and metric(e.right)) for e in edges])
            for graphs in engine._graphs.values() for cfg, edges in graphs]


@pytest.mark.parametrize("ge_rows", [False, True])
def test_reused_graphs_and_dependencies_change_no_result_and_are_not_changed(spec: SuiteSpec, ge_rows: bool,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
    from great_expectations.validator.validator import Validator

    name = "_generate_metric_dependency_subgraphs_for_each_expectation_configuration"
    ges_methods = [Validator.__dict__[name], ColumnMapExpectation.__dict__["get_validation_dependencies"],
                   ColumnPairMapExpectation.__dict__["get_validation_dependencies"]]
    batches = [judged(make_batch(800, seed=seed, fault_rate=0.2)[0], spec, date(2023, 1, 1)) for seed in (1, 2, 3)]
    engine._graphs.clear()
    engine._dependencies.clear()
    fast = [engine.run_suite(spec, batches[0], run_parameters(date(2023, 1, 1)), ge_rows=ge_rows)]
    after_one = len(engine._dependencies)
    fast += [engine.run_suite(spec, work, run_parameters(date(2023, 1, 1)), ge_rows=ge_rows) for work in batches[1:]]
    assert ges_methods == [Validator.__dict__[name], ColumnMapExpectation.__dict__["get_validation_dependencies"],
                           ColumnPairMapExpectation.__dict__["get_validation_dependencies"]]  # put back
    assert len(engine._graphs) == 1  # built for the first batch, reused for the others
    assert len(engine._dependencies) == after_one == len(spec.rules)  # once per expectation, not per batch
    kept = _graph_snapshot()
    engine.run_suite(spec, batches[0], run_parameters(date(2023, 1, 1)), ge_rows=ge_rows)
    assert _graph_snapshot() == kept  # validating left the kept graph as it was
    engine.run_suite(spec, batches[0], run_parameters(date(2023, 1, 2)), ge_rows=ge_rows)
    assert len(engine._graphs) == 2  # another run date, other parameters: another graph

    monkeypatch.setattr(engine, "_dependency_graphs_reused", contextlib.nullcontext)
    monkeypatch.setattr(engine, "_validation_dependencies_reused", contextlib.nullcontext)
    plain = [engine.run_suite(spec, work, run_parameters(date(2023, 1, 1)), ge_rows=ge_rows) for work in batches]
    for f, p in zip(fast, plain, strict=True):
        assert as_tuples(f[0]) == as_tuples(p[0]) and f[1:] == p[1:]
    assert {o.success for f in fast for o in f[0]} == {True, False}
