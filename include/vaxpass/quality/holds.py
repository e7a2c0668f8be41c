"""The site-level threshold (ngưỡng theo điểm tiêm): when too much of a site's batch fails, hold all of it.

A broken feed (a shifted column, a wrong date format, an export of the wrong table) makes most rows fail; the
few that pass are then suspect too. Holding the whole batch keeps them from being matched and signed until a data
engineer has looked; the other sites of the city go on. The policy lives in `data_quality/site_holds.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaxpass.errors import ConfigError

HOLDS_FILE = "site_holds.json"


@dataclass(frozen=True)
class HoldPolicy:
    """Hold a batch of at least `min_batch_records` whose blocked share exceeds the site's threshold."""

    hold_when_blocked_share_above: float = 0.5
    min_batch_records: int = 20
    sites: dict[str, float] = field(default_factory=dict)

    def threshold(self, site_code: str) -> float:
        return self.sites.get(site_code, self.hold_when_blocked_share_above)

    def holds(self, site_code: str, *, evaluated: int, blocked: int) -> bool:
        return evaluated >= self.min_batch_records and blocked / evaluated > self.threshold(site_code)


def load_hold_policy(suite_dir: Path) -> HoldPolicy:
    """Read `site_holds.json` from the suite folder; unknown keys and shares outside [0, 1] are rejected."""
    path = Path(suite_dir) / HOLDS_FILE
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"site hold policy {path}: {exc}") from exc
    known = {"notes", "hold_when_blocked_share_above", "min_batch_records", "sites"}
    problems = [f"unknown key {k}" for k in sorted(set(raw) - known)]
    shares = {"default": raw.get("hold_when_blocked_share_above", 0.5), **raw.get("sites", {})}
    problems += [f"share for {k} must be within [0, 1]" for k, v in shares.items()
                 if not isinstance(v, int | float) or not 0 <= v <= 1]
    if not isinstance(raw.get("min_batch_records", 20), int) or raw.get("min_batch_records", 20) < 1:
        problems.append("min_batch_records must be a whole number ≥ 1")
    if problems:
        raise ConfigError(f"site hold policy {path}: " + "; ".join(problems))
    return HoldPolicy(hold_when_blocked_share_above=float(shares.pop("default")),
                      min_batch_records=int(raw.get("min_batch_records", 20)),
                      sites={k: float(v) for k, v in shares.items()})
