"""Data quality: the dose records of one extraction batch, checked with Great Expectations (kiểm tra chất lượng).

The rules are stated in `data_quality/dose_records.json` (a GE suite, versioned with the code); this package
prepares the judged frame, runs the suite and reports, per record, which rule failed and why, in English and
Vietnamese. Records with an error are quarantined by the caller; warnings go on with the record.
"""

from vaxpass.quality.engine import RuleExecutionError
from vaxpass.quality.report import ERROR, WARNING, QualityReport, RowFailure
from vaxpass.quality.suite import Rule, SuiteError, SuiteSpec, default_suite_dir, load_suite
from vaxpass.quality.validate import InvalidBatchError, empty_report, validate_dose_records

__all__ = [
    "ERROR",
    "WARNING",
    "InvalidBatchError",
    "QualityReport",
    "RowFailure",
    "Rule",
    "RuleExecutionError",
    "SuiteError",
    "SuiteSpec",
    "default_suite_dir",
    "empty_report",
    "load_suite",
    "validate_dose_records",
]
