"""Great Expectations, set up once per process: an ephemeral context, a pandas data source, one batch definition.

Building the context and the suite costs far more than validating a small batch, so both are cached; the
module imports Great Expectations only on first use (it takes seconds), keeping `import vaxpass` light for DAG
parsing. Validation runs under a lock: GE keeps process-wide state (the current context) and is not documented
as thread-safe.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vaxpass.errors import VaxpassError
from vaxpass.gcscope import older_objects_frozen
from vaxpass.quality.prepare import ROW
from vaxpass.quality.rows import failing_rows
from vaxpass.quality.suite import STATIC_PARAMETERS, SuiteError, SuiteSpec

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

# BASIC gives each rule's verdict and counts (all Data Docs show) without values (a partial list of 0) and without
# row references; the failing rows come from `rows.failing_rows`, checked against these counts.
RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 0}
# GE's own failing rows, when its counts and the vectorised rows disagree (or a caller asks for them): COMPLETE
# lists every failing row; exclude_unexpected_values keeps personal values out of GE's result (and makes GE return
# the failing `_row`s as one list instead of building a dict per row); no index query string.
ROWS_RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW],
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
}

log = logging.getLogger(__name__)
_lock = threading.Lock()
_suites: dict[str, ExpectationSuite] = {}
# The metric dependency graph of each expectation, by what it is built from (see `_dependency_graphs_reused`):
# the key → per expectation, its configuration and the edges of its graph.
_graphs: dict[str, list[tuple[Any, list[Any]]]] = {}
_GRAPHS_KEPT = 8  # suite versions × run dates × result formats one process sees; more is a test run: start over
# Each expectation's validation dependencies, by what they are worked out from (see `_validation_dependencies_reused`)
_dependencies: dict[str, Any] = {}
_DEPENDENCIES_KEPT = 64 * _GRAPHS_KEPT  # as many for each suite (a suite has a few dozen expectations)


class RuleExecutionError(VaxpassError):
    """Great Expectations could not evaluate a rule (a broken suite, not bad data): no verdict, so no report."""

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        self.detail = detail
        super().__init__(f"rule {rule} could not be evaluated: {detail}")


@dataclass(frozen=True)
class RuleOutcome:
    """GE's verdict on one rule: how many rows it judged, which row positions failed, its success flag."""

    rule: str
    evaluated: int
    failed_rows: np.ndarray
    success: bool


@functools.lru_cache(maxsize=1)
def _batch_definition() -> BatchDefinition:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                               progress_bars=ProgressBarsConfig(globally=False), analytics_enabled=False)
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("vaxpass").add_dataframe_asset("dose_records")
    return asset.add_batch_definition_whole_dataframe("extraction_batch")


def _suite(spec: SuiteSpec) -> ExpectationSuite:
    """GE's ExpectationSuite for `spec`, built once per suite version.

    GE itself would drop an invalid expectation with only a log line; here each one is built explicitly and
    any fault is raised."""
    if spec.version in _suites:
        return _suites[spec.version]
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    built, problems = [], []
    for exp in copy.deepcopy(spec.definition["expectations"]):
        try:
            built.append(ExpectationConfiguration(**exp).to_domain_obj())
        except Exception as exc:  # GE raises pydantic, TypeError and its own errors here
            problems.append(f"{exp.get('meta', {}).get('rule')}: {exc}".replace("\n", " "))
    if problems:
        raise SuiteError(spec.path, problems)
    suite = gx.ExpectationSuite(name=spec.name, expectations=built,
                                meta=copy.deepcopy(spec.definition.get("meta")) or None)
    _suites[spec.version] = suite
    return suite


def _exception(info: Any) -> str | None:
    """The message of an exception GE caught while computing a result, if any (GE nests it per metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        if isinstance(value, dict) and (msg := _exception(value)):
            return msg
    return None


def _rows(index_list: Any) -> np.ndarray:
    """Row positions from GE's unexpected_index_list: `[{"_row": [..]}]` with exclude_unexpected_values, or
    one dict per row without it."""
    parts = [np.atleast_1d(np.asarray(item.get(ROW) if isinstance(item, dict) else item, dtype=np.int64))
             for item in index_list or []]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def run_suite(spec: SuiteSpec, work: pd.DataFrame, parameters: dict[str, Any], *,
              ge_rows: bool = False) -> tuple[list[RuleOutcome], bool, dict[str, Any]]:
    """Validate the judged frame with the suite; one outcome per rule, in suite order, GE's success flag and
    GE's result without row references (`docs_safe`).

    GE's verdicts and counts decide. The failing rows are the vectorised ones (`rows.failing_rows`) when they
    agree with GE's counts on every rule; otherwise, or with `ge_rows`, GE lists them itself (a second run)."""
    result = _validate(spec, work, parameters, ROWS_RESULT_FORMAT if ge_rows else RESULT_FORMAT)
    details = _details(spec, result)
    if ge_rows:
        outcomes = [RuleOutcome(rule=rule.code, evaluated=evaluated, success=success,
                                failed_rows=_rows(detail.get("unexpected_index_list")))
                    for rule, (evaluated, success, detail) in zip(spec.rules, details, strict=True)]
        return outcomes, bool(result.success), docs_safe(result)
    outcomes, disagree = [], []
    for rule, (evaluated, success, detail), (counted, rows) in zip(spec.rules, details,
                                                                  failing_rows(spec, work, parameters), strict=True):
        if (counted, rows.size, rows.size == 0) != (evaluated, int(detail.get("unexpected_count") or 0), success):
            disagree.append(rule.code)
        outcomes.append(RuleOutcome(rule=rule.code, evaluated=evaluated, failed_rows=rows, success=success))
    if disagree:
        log.warning("rules %s: the vectorised rows disagree with Great Expectations' counts; taking GE's rows",
                    ", ".join(disagree))
        return run_suite(spec, work, parameters, ge_rows=True)
    return outcomes, bool(result.success), docs_safe(result)


def _validate(spec: SuiteSpec, work: pd.DataFrame, parameters: dict[str, Any],
              result_format: dict[str, Any]) -> ExpectationSuiteValidationResult:
    with _lock:
        # GE's own validator, as Batch.validate and ValidationDefinition.run use it: the first loads (and
        # fingerprints) the batch twice, the second also serialises every result into the context's store.
        from great_expectations.validator.v1_validator import Validator

        validator = Validator(batch_definition=_batch_definition(), batch_parameters={"dataframe": work},
                              result_format=result_format)
        with _configurations_memoised(), _dependency_graphs_reused(), _validation_dependencies_reused(), \
                older_objects_frozen():
            return validator.validate_expectation_suite(_suite(spec), {**STATIC_PARAMETERS, **parameters})


@contextlib.contextmanager
def _configurations_memoised() -> Iterator[None]:
    """For one validation, each Expectation's `configuration` is built once instead of on every access.

    GE's `Expectation.configuration` is a property that rebuilds an ExpectationConfiguration from the pydantic
    model (`dict()`, a regex on the class name, a new object) each time it is read, and the validator reads it
    about a hundred times per expectation and batch: a fifth of GE's time on a site's batch, all of it fixed
    per expectation. Within `graph_validate` the expectations are fresh objects that are only read, so the
    first configuration stands for all; the memo lives only inside the validation (which holds `_lock`, as
    every GE use here does) and GE's property is put back afterwards."""
    from great_expectations.expectations.expectation import Expectation

    original = Expectation.__dict__["configuration"]
    memo: dict[int, tuple[Any, Any]] = {}  # id → (expectation, its configuration); holding it keeps the id unique

    def configuration(self: Any) -> Any:
        held = memo.get(id(self))
        if held is None:
            held = memo[id(self)] = (self, original.fget(self))
        return held[1]

    Expectation.configuration = property(configuration)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Expectation.configuration = original  # type: ignore[method-assign]


@contextlib.contextmanager
def _dependency_graphs_reused() -> Iterator[None]:
    """Each expectation's metric dependency graph is built once per process, not once per batch.

    Before it computes anything, GE's validator builds, per expectation, the graph of the metrics it needs
    (`_generate_metric_dependency_subgraphs_for_each_expectation_configuration`): a deep copy of the
    configuration with the batch id, its validation dependencies, and thousands of MetricConfigurations, each
    hashing its kwargs into an id (deep copies, JSON conversion, pydantic) — about half of GE's time on a site's
    batch. The graph depends on the configurations (the suite with its parameters substituted), the runtime
    configuration (the result format), the batch id (the same for every batch here: the data source, asset and
    batch definition are fixed) and the execution engine's type, never on the data; with those as the key, a
    graph built for one site stands for all the others. What GE goes on to do with it only reads it: resolving
    reads the metric configurations (their kwargs are checked unchanged by the tests), the suite-level graph and
    the list of processed configurations are new per batch (GE removes from that list), and the results are
    built from fresh Expectation objects. A build that reported an error is not kept. Like
    `_configurations_memoised`, the patch lives only inside a validation (under `_lock`) and GE's method is put
    back afterwards."""
    from great_expectations.validator.validation_graph import ExpectationValidationGraph, ValidationGraph
    from great_expectations.validator.validator import Validator as ValidatorV0

    name = "_generate_metric_dependency_subgraphs_for_each_expectation_configuration"
    original = ValidatorV0.__dict__[name]

    def generate(self: Any, expectation_configurations: list[Any], processed_configurations: list[Any],
                 catch_exceptions: bool, runtime_configuration: dict[str, Any] | None = None) -> Any:
        _parse_result_format(runtime_configuration)
        # every attribute of every configuration, as GE holds them (a tenth of the cost of their JSON form)
        key = repr(([vars(c) for c in expectation_configurations], runtime_configuration, catch_exceptions,
                    self.active_batch_id, type(self._execution_engine)))
        graphs = _graphs.get(key)
        if graphs is None:
            built = original(self, expectation_configurations, processed_configurations, catch_exceptions,
                             runtime_configuration)
            if built[1]:  # some expectation's graph could not be built: its error result is this batch's own
                return built
            if len(_graphs) >= _GRAPHS_KEPT:
                _graphs.clear()
            _graphs[key] = [(g.configuration, list(g.graph.edges)) for g in built[0]]
            return built
        processed_configurations.extend(configuration for configuration, _ in graphs)
        return ([ExpectationValidationGraph(configuration=configuration, graph=ValidationGraph(
                    execution_engine=self._execution_engine, edges=list(edges))) for configuration, edges in graphs],
                [], processed_configurations)

    setattr(ValidatorV0, name, generate)
    try:
        yield
    finally:
        setattr(ValidatorV0, name, original)


@contextlib.contextmanager
def _validation_dependencies_reused() -> Iterator[None]:
    """Each expectation's validation dependencies are worked out once per process, not once per batch.

    Once the metrics are computed, GE's validator judges each expectation with `metrics_validate`, which first asks
    the expectation again for its validation dependencies (`get_validation_dependencies`: its result format and
    the MetricConfigurations whose values it reads, each built and hashed anew) — a sixth of GE's time on a
    site's batch. They depend on the expectation's class and configuration, the runtime configuration and the
    execution engine's type, never on the data, so they are kept under that key. The caller only looks its
    metrics up by the configurations' ids and takes the result format into its runtime configuration, where GE
    fills in defaults: each call gets its own dict of configurations and its own copy of the result format.
    Patched on the two map-expectation classes every type of the suite derives from (`suite.SUPPORTED_TYPES`),
    only inside a validation (under `_lock`), and put back afterwards."""
    from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
    from great_expectations.validator.validator import ValidationDependencies

    def reused(original: Any) -> Any:
        def get_validation_dependencies(self: Any, execution_engine: Any = None,
                                        runtime_configuration: dict[str, Any] | None = None) -> Any:
            _parse_result_format(runtime_configuration)
            key = repr((type(self), vars(self.configuration), runtime_configuration, type(execution_engine)))
            kept = _dependencies.get(key)
            if kept is None:
                kept = original(self, execution_engine=execution_engine, runtime_configuration=runtime_configuration)
                if len(_dependencies) >= _DEPENDENCIES_KEPT:
                    _dependencies.clear()
                _dependencies[key] = kept
            return ValidationDependencies(metric_configurations=dict(kept.metric_configurations),
                                          result_format=copy.deepcopy(kept.result_format))
        return get_validation_dependencies

    originals = {cls: cls.__dict__["get_validation_dependencies"]
                 for cls in (ColumnMapExpectation, ColumnPairMapExpectation)}
    for cls, original in originals.items():
        cls.get_validation_dependencies = reused(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls.get_validation_dependencies = original  # type: ignore[method-assign]


def _parse_result_format(runtime_configuration: dict[str, Any] | None) -> None:
    """Fill in the result format's defaults in place, as GE's `get_validation_dependencies` does to the runtime
    configuration it is given (its own code reads the format after that call): a reused graph or set of
    dependencies leaves GE's state as building them would have, and their keys do not depend on whether some
    earlier call filled the defaults in already."""
    from great_expectations.expectations.expectation_configuration import parse_result_format

    if runtime_configuration and isinstance(runtime_configuration.get("result_format"), dict):
        parse_result_format(runtime_configuration["result_format"])


def _details(spec: SuiteSpec, result: ExpectationSuiteValidationResult) -> list[tuple[int, bool, dict[str, Any]]]:
    """Per rule of `spec`, in suite order: the rows GE evaluated, its success flag and its result details.
    Raises `RuleExecutionError` for a rule GE returned no result for or could not evaluate."""
    by_rule = {(r.expectation_config.meta or {}).get("rule"): r for r in result.results if r.expectation_config}
    out = []
    for rule in spec.rules:
        res = by_rule.get(rule.code)
        if res is None:
            raise RuleExecutionError(rule.code, "Great Expectations returned no result")
        if msg := _exception(res.exception_info):
            raise RuleExecutionError(rule.code, msg)
        detail = res.result or {}
        evaluated = int(detail.get("element_count", 0)) - int(detail.get("missing_count") or 0)
        out.append((evaluated, bool(res.success), detail))
    return out


# What may stay in a result shown in Data Docs: counts and percentages, never values or row references.
_DOCS_RESULT_KEYS = frozenset({
    "element_count", "missing_count", "missing_percent", "unexpected_count", "unexpected_percent",
    "unexpected_percent_total", "unexpected_percent_nonmissing",
})


def docs_safe(result: Any) -> dict[str, Any]:
    """GE's validation result as JSON, kept to what Data Docs may show: the expectations, their verdicts and
    counts. Row indexes, unexpected values, observed values and the batch (whose parameters hold the dataframe)
    are removed — the result names no record and no personal value."""
    out: dict[str, Any] = {
        "success": bool(result.success),
        "statistics": dict(result.statistics),
        "suite_name": result.suite_name,
        "suite_parameters": {},
        "meta": {"great_expectations_version": (result.meta or {}).get("great_expectations_version")},
        "results": [],
    }
    for res in result.results:
        cfg = res.expectation_config.to_json_dict() if res.expectation_config is not None else None
        if cfg is not None and (meta := cfg.get("meta") or {}).get("rule"):
            # what Data Docs print for the expectation: the rule code and its reasons
            cfg["description"] = f"**{meta['rule']}** ({cfg.get('severity')}): {meta.get('reason_en')} — " \
                                 f"{meta.get('reason_vi')}"
        out["results"].append({
            "success": bool(res.success),
            "expectation_config": cfg,
            "result": {k: v for k, v in (res.result or {}).items() if k in _DOCS_RESULT_KEYS},
            "meta": {},
            "exception_info": {"raised_exception": False, "exception_message": None,
                               "exception_traceback": None},
        })
    return out
