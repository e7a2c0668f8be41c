"""The dose-record suite: where it lives, what version it is, and the rule each expectation stands for.

The suite is Great Expectations' own JSON form of an ExpectationSuite, versioned with the code in
`data_quality/`. Each expectation carries, in its `meta`, the stable rule code and the reasons shown to
reviewers in English and Vietnamese; its GE `severity` says whether a failure blocks the record
(`critical` → error) or not (`warning`). One rule, one expectation, so GE's counts are the rule's counts.

The suite version is a short hash of the suite's canonical JSON, the static parameters and the source of
`prepare.py` (which computes the columns the rules judge): any change to what a rule means gives a new version.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaxpass.errors import ConfigError
from vaxpass.geo import PROVINCE_CODES
from vaxpass.quality.history import DoseIntervals, load_intervals

SUITE_FILE = "dose_records.json"
SEVERITIES = {"critical": "error", "warning": "warning"}  # GE severity → vaxpass severity
# Expectation types whose results name the failing rows (column and column-pair map expectations).
SUPPORTED_TYPES = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set", "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
    "expect_column_pair_values_to_be_equal", "expect_column_pair_values_a_to_be_greater_than_b",
})
# Values the suite takes as `$PARAMETER`s that do not change from run to run; they are part of the version.
STATIC_PARAMETERS: dict[str, Any] = {"cccd_province_codes": sorted(PROVINCE_CODES)}


class SuiteError(ConfigError):
    """The suite file is missing or malformed; `problems` lists every fault found, not just the first."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"quality suite {path}: " + "; ".join(problems))


@dataclass(frozen=True)
class Rule:
    """What a failure of one expectation means for a record."""

    code: str
    severity: str  # "error" or "warning"
    reason_en: str
    reason_vi: str


@dataclass(frozen=True)
class SuiteSpec:
    """The parsed suite file: GE's definition, its rules in suite order, and its version."""

    name: str
    version: str
    path: Path
    definition: dict[str, Any]
    rules: tuple[Rule, ...]
    intervals: DoseIntervals


@functools.cache
def _prepare_source() -> bytes:
    """The code that builds the judged frame: the rules mean what it computes, so it is part of the version."""
    from vaxpass.quality import history, prepare

    return Path(prepare.__file__).read_bytes() + Path(history.__file__).read_bytes()


def default_suite_dir() -> Path:
    """The repository's `data_quality/` folder (include/vaxpass/quality/ → ../../../data_quality)."""
    return Path(__file__).resolve().parents[3] / "data_quality"


def load_suite(suite_dir: Path) -> SuiteSpec:
    """Read and check the suite in `suite_dir` (and its `dose_intervals.json`). Cached on the files' content, so
    an edited file is reread."""
    path = Path(suite_dir) / SUITE_FILE
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(path, [f"cannot read: {exc}"]) from exc
    return _parse(raw, str(path), load_intervals(Path(suite_dir)))


@functools.lru_cache(maxsize=8)
def _parse(raw: str, where: str, intervals: DoseIntervals) -> SuiteSpec:
    path = Path(where)
    try:
        definition = json.loads(raw)
    except ValueError as exc:
        raise SuiteError(path, [f"not JSON: {exc}"]) from exc
    if not isinstance(definition, dict) or not isinstance(definition.get("expectations"), list):
        raise SuiteError(path, ["must be a JSON object with an `expectations` list"])
    problems: list[str] = []
    rules: list[Rule] = []
    for i, exp in enumerate(definition["expectations"]):
        meta = exp.get("meta") if isinstance(exp, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        code = meta.get("rule")
        label = f"expectation {i} ({code or 'no rule'})"
        if not isinstance(exp, dict) or exp.get("type") not in SUPPORTED_TYPES:
            problems.append(f"{label}: type must be one of {sorted(SUPPORTED_TYPES)}")
            continue
        if exp.get("severity", "critical") not in SEVERITIES:
            problems.append(f"{label}: severity must be one of {sorted(SEVERITIES)}")
        missing = [k for k in ("rule", "reason_en", "reason_vi") if not isinstance(meta.get(k), str) or not meta[k]]
        if missing:
            problems.append(f"{label}: meta lacks {', '.join(missing)}")
            continue
        rules.append(Rule(code=meta["rule"], severity=SEVERITIES.get(exp.get("severity", "critical"), "error"),
                          reason_en=meta["reason_en"], reason_vi=meta["reason_vi"]))
    codes = [r.code for r in rules]
    problems += [f"rule {c} appears more than once" for c in sorted({c for c in codes if codes.count(c) > 1})]
    if problems:
        raise SuiteError(path, problems)
    canonical = json.dumps([definition, STATIC_PARAMETERS, intervals.as_dict()], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    version = hashlib.sha256(canonical.encode("utf-8") + _prepare_source()).hexdigest()[:12]
    return SuiteSpec(name=str(definition.get("name") or "dose_records"), version=version, path=path,
                     definition=definition, rules=tuple(rules), intervals=intervals)
