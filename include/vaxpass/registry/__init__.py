"""Registry matching: the population registry adapter, the linker and the match decisions."""

from vaxpass.registry.adapter import (
           BlockingQuery,
           PopulationRegistry,
           RegistryEntry,
           RegistryRows,
           SqlRegistry,
)
from vaxpass.registry.config import MatchConfig
from vaxpass.registry.match import MatchSummary, RecordIdentity, match_identities, match_valid_records

__all__ = ["BlockingQuery", "MatchConfig", "MatchSummary", "PopulationRegistry", "RecordIdentity", "RegistryEntry",
           "RegistryRows", "SqlRegistry", "match_identities", "match_valid_records"]
