"""Lineage: every certificate's chain from source row to signature, and the completeness check."""

from vaxpass.lineage.check import check_lineage, missing_links
from vaxpass.lineage.record import REQUIRED_KINDS, LineageContext, add_links, save_chains

__all__ = ["REQUIRED_KINDS", "LineageContext", "add_links", "check_lineage", "missing_links", "save_chains"]
