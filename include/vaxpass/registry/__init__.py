"""Registry matching: the population registry adapter and the match decisions."""

from vaxpass.registry.adapter import PopulationRegistry, RegistryEntry, SqlRegistry
from vaxpass.registry.match import MatchSummary, match_valid_records

__all__ = ["MatchSummary", "PopulationRegistry", "RegistryEntry", "SqlRegistry", "match_valid_records"]
