"""Did a speed change change a verdict? Compare the ops stores of two `bench.run_stages` runs of the same data.

    python -m bench.compare_runs /tmp/before/ops.sqlite /tmp/after/ops.sqlite

Both runs must use the same `--persons`, `--seed` and `--increment` (run one on the old code, one on the new).
Compared per source row (site, source key, version): the quality failures (rule, severity), the statuses
quarantine and hold left, and every match decision (cycle, outcome, method, reason, score, evidence,
candidates). Each run draws its own pseudonym key, so person ids and link keys differ between runs; they must
correspond one to one. Exit 0 only when everything is identical.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

QUALITY = ("SELECT d.site_code, d.source_key, d.version, q.rule, q.severity FROM quality_results q "
           "JOIN dose_records d ON d.id = q.dose_record_id ORDER BY 1, 2, 3, 4")
BLOCKED = ("SELECT site_code, source_key, version, status, coalesce(status_reason, '') FROM dose_records "
           "WHERE status IN ('quarantined', 'held') ORDER BY 1, 2, 3")
DECISIONS = ("SELECT d.site_code, d.source_key, d.version, m.cycle_id, m.outcome, m.method, m.reason, "
             "round(m.score, 9), m.evidence, m.candidate_registry_ids, m.person_id FROM match_decisions m "
             "JOIN dose_records d ON d.id = m.dose_record_id ORDER BY 1, 2, 3, 4, m.id")


class _OneToOne:
    """A pseudonym of run A must always stand for the same pseudonym of run B, and vice versa."""

    def __init__(self) -> None:
        self.forward: dict[Any, Any] = {}
        self.backward: dict[Any, Any] = {}

    def agrees(self, a: Any, b: Any) -> bool:
        return self.forward.setdefault(a, b) == b and self.backward.setdefault(b, a) == a


def compare(before: Path, after: Path) -> dict[str, Any]:
    a, b = sqlite3.connect(before), sqlite3.connect(after)
    out: dict[str, Any] = {}
    for name, query in (("quality_failures", QUALITY), ("blocked_records", BLOCKED)):
        ra, rb = a.execute(query).fetchall(), b.execute(query).fetchall()
        out[name] = {"before": len(ra), "after": len(rb), "identical": ra == rb}
    ra, rb = a.execute(DECISIONS).fetchall(), b.execute(DECISIONS).fetchall()
    persons, links = _OneToOne(), _OneToOne()
    differ = abs(len(ra) - len(rb))
    for x, y in zip(ra, rb, strict=False):
        ex, ey = json.loads(x[8]), json.loads(y[8])
        same = (x[:8] == y[:8] and x[9] == y[9] and links.agrees(ex.pop("link_key", None), ey.pop("link_key", None))
                and ex == ey and persons.agrees(x[10], y[10]))
        differ += not same
    out["match_decisions"] = {"before": len(ra), "after": len(rb), "identical": differ == 0, "differing": differ}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    result = compare(args.before, args.after)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if all(v["identical"] for v in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
