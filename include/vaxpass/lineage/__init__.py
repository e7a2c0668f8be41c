"""Lineage: every certificate's chain from source row to signature, and the completeness check."""

from vaxpass.lineage.check import check_lineage, missing_links
from vaxpass.lineage.record import REQUIRED_KINDS, record_lineage

__all__ = ["REQUIRED_KINDS", "check_lineage", "missing_links", "record_lineage"]
