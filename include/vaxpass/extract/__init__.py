"""Extraction: from each site's source (inbox files, its database, a FHIR feed) into the landing zone and the
ops store, incrementally and idempotently."""

from vaxpass.extract.site import ExtractionSummary, extract_site
from vaxpass.extract.source import ConnectionResolver, Delivery, Rows, Source, SourceRow

__all__ = ["ConnectionResolver", "Delivery", "ExtractionSummary", "Rows", "Source", "SourceRow", "extract_site"]
