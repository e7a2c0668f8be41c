"""What validation tells the rest of the flow: which records failed which rule, and how each rule fared.

Reasons are fixed texts from the suite (English and Vietnamese) and never contain the record's values, so a
report may go into logs, run reports and lineage; a record is named only by its `record_id`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ERROR = "error"  # blocks the record: it is quarantined with its reasons
WARNING = "warning"  # reported; the record goes on


@dataclass(frozen=True)
class RowFailure:
    """One record failing one rule (a `rule` code such as `national_id_format`, stable for reports and the UI)."""

    record_id: str
    rule: str
    severity: str
    reason_en: str
    reason_vi: str


@dataclass(frozen=True)
class QualityReport:
    """The validation of one extraction batch (đợt trích xuất) against one suite version.

    `rule_stats` maps every rule of the suite, failed or not, to `{"evaluated": n, "failed": n}`: `evaluated`
    counts the records the rule applied to (a CCCD rule skips CMND numbers and foreigners), `failed` the records
    that broke it. `ge_success` is Great Expectations' own flag: False as soon as any rule, warning or error,
    failed for any record.
    """

    suite_name: str
    suite_version: str
    evaluated: int
    failures: tuple[RowFailure, ...]
    rule_stats: dict[str, dict[str, int]]
    ge_success: bool
    docs_result: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def blocked_ids(self) -> set[str]:
        """Record ids with at least one error: these are quarantined."""
        return {f.record_id for f in self.failures if f.severity == ERROR}

    @property
    def warned_ids(self) -> set[str]:
        """Record ids with at least one warning (they may also be blocked)."""
        return {f.record_id for f in self.failures if f.severity == WARNING}

    def failures_by_record(self) -> dict[str, list[RowFailure]]:
        """Failures grouped per record id, in suite order within a record."""
        out: dict[str, list[RowFailure]] = {}
        for f in self.failures:
            out.setdefault(f.record_id, []).append(f)
        return out
