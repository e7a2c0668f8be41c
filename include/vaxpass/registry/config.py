"""Matching configuration: Fellegi–Sunter weights per field level, the decision thresholds, the scan size.

A match weight is a log2 Bayes factor: `prior` (the log2 odds that two random records are the same person,
about one in the registry size) plus the weight of each field's comparison level. MATCHED needs the best
candidate at or above `upper` and at least `margin` bits ahead of the runner-up; candidates at or above `lower`
are shown for review; below `lower` the record is NO_MATCH (it goes to the district as "not found").
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from vaxpass.errors import ConfigError
from vaxpass.registry.weights import SHIPPED_WEIGHTS

# The comparison levels of each field, best agreement first; evidence names them, weights are per level.
LEVELS: dict[str, tuple[str, ...]] = {
    "id": ("cccd_exact", "cmnd_exact", "one_digit", "missing", "disagree"),
    "name": ("exact", "folded", "surname_variant", "reordered", "middle_dropped", "one_edit", "two_edits",
             "given_agrees", "disagree", "missing"),
    "dob": ("exact", "day_month_swapped", "year_off_by_one", "one_part_differs", "disagree", "missing"),
    "sex": ("exact", "disagree", "missing"),
}


def _frozen(weights: dict[str, dict[str, float]]) -> MappingProxyType[str, MappingProxyType[str, float]]:
    return MappingProxyType({f: MappingProxyType(dict(levels)) for f, levels in weights.items()})


@dataclass(frozen=True)
class MatchConfig:
    """Thresholds (bits of match weight), the prior and the per-level weights; unknown keys are rejected."""

    upper: float = 4.0
    lower: float = -8.0
    margin: float = 6.0
    prior: float = -20.0
    max_candidates: int = 3
    scan_chunk: int = 250_000
    weights: MappingProxyType[str, MappingProxyType[str, float]] = field(
        default_factory=lambda: _frozen(SHIPPED_WEIGHTS))

    def __post_init__(self) -> None:
        problems = []
        if self.lower > self.upper:
            problems.append("lower must not exceed upper")
        if self.margin < 0:
            problems.append("margin must not be negative")
        if self.max_candidates < 1:
            problems.append("max_candidates must be at least 1")
        if self.scan_chunk < 1000:
            problems.append("scan_chunk must be at least 1000")
        if not isinstance(self.weights, MappingProxyType):
            object.__setattr__(self, "weights", _frozen(dict(self.weights)))  # type: ignore[arg-type]
        for f, levels in LEVELS.items():
            missing = set(levels) - set(self.weights.get(f, {}))
            if missing:
                problems.append(f"weights for {f} lack levels {sorted(missing)}")
        if unknown := set(self.weights) - set(LEVELS):
            problems.append(f"weights for unknown fields {sorted(unknown)}")
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> MatchConfig:
        known = {f.name for f in fields(cls)}
        if unknown := set(values) - known:
            raise ConfigError(f"unknown match settings {sorted(unknown)}")
        return cls(**values)

    def table(self, field_name: str) -> list[float]:
        """The weights of a field's levels in `LEVELS` order (index = level code)."""
        return [float(self.weights[field_name][lv]) for lv in LEVELS[field_name]]

    def summary(self) -> dict[str, float]:
        """The thresholds, as kept in each decision's evidence."""
        return {"upper": self.upper, "lower": self.lower, "margin": self.margin, "prior": self.prior}
