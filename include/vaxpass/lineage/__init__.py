"""Lineage: every certificate's chain from source row to signature, and the completeness check."""

from vaxpass.lineage.check import check_lineage, missing_links
from vaxpass.lineage.record import REQUIRED_KINDS, LineageContext, save_links

__all__ = ["REQUIRED_KINDS", "LineageContext", "check_lineage", "missing_links", "save_links"]
