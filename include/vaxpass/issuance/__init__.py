"""Passport issuance: EU-DCC certificates for matched, confirmed dose records, keyed on (person, version)."""

from vaxpass.issuance.check import PreIssuanceError
from vaxpass.issuance.issue import IssuanceSummary, issue_certificates

__all__ = ["IssuanceSummary", "PreIssuanceError", "issue_certificates"]
