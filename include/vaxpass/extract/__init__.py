"""Extraction: from each site's source into the landing zone and the ops store, incrementally."""

from vaxpass.extract.site import ExtractionSummary, extract_site

__all__ = ["ExtractionSummary", "extract_site"]
