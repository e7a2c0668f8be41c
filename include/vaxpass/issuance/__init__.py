"""Passport issuance: DCC payload → COSE_Sign1 → HC1, one current certificate per person."""

from vaxpass.issuance.issue import IssuanceSummary, issue_certificates

__all__ = ["IssuanceSummary", "issue_certificates"]
