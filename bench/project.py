"""Project a `bench.run_stages` result to Hanoi's size, on this machine and on N Celery workers.

    python -m bench.project bench/results/stages-120000.json

Each stage's CPU seconds per record measured in the backfill (CPU time, so that the other users of a shared
machine do not inflate it) times the records the stage would handle for Hanoi (20 M doses, 8.5 M persons: the
stage's share of the doses as measured), spread over the cores that run the stage's mapped tasks in parallel
(per site, per bucket). Assumes linear scaling per record, which the matching benchmark supports for the
linker (bench/results/matching-*.md) and which ignores the database growing; a projection, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HANOI_DOSES = 20_000_000
STAGES = ("extract", "validate", "match", "confirm", "issue")
CORES = (("this machine (2 cores)", 2), ("4 workers × 2 cores", 8), ("8 workers × 2 cores", 16))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:,.1f} min"


def project(result: dict[str, Any], doses: int = HANOI_DOSES) -> str:
    backfill = result["backfill"]
    measured_doses = backfill["extract"]["records"]
    lines = ["| stage | records measured | wall s | CPU s | records / CPU s | records at Hanoi | "
             + " | ".join(name for name, _ in CORES) + " |",
             "| --- | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in CORES) + " |"]
    totals = [0.0 for _ in CORES]
    for stage in (st for st in STAGES if st in backfill):  # results older than the confirm stage lack it
        m = backfill[stage]
        per_record = m["cpu_seconds"] / max(m["records"], 1)
        records = doses * m["records"] / measured_doses
        cells = []
        for i, (_, cores) in enumerate(CORES):
            seconds = per_record * records / cores
            totals[i] += seconds
            cells.append(_minutes(seconds))
        lines.append(f"| {stage} | {m['records']:,} | {m['seconds']:,.0f} | {m['cpu_seconds']:,.0f} | "
                     f"{m['records_per_cpu_second']:,.0f} | {records / 1e6:,.1f} M | " + " | ".join(cells) + " |")
    lines.append("| **backfill** | | " + f"{backfill['end_to_end_seconds']:,.0f} | "
                 f"{backfill['end_to_end_cpu_seconds']:,.0f} | | {doses / 1e6:,.0f} M doses | "
                 + " | ".join(f"**{_minutes(t)}**" for t in totals) + " |")
    return "\n".join(lines)


def nightly(result: dict[str, Any]) -> str:
    night = result.get("nightly")
    if not night:
        return "(no nightly increment in this run)"
    lines = ["| stage | records | wall s | CPU s | on 2 cores (CPU s / 2) |", "| --- | ---: | ---: | ---: | ---: |"]
    for stage in (st for st in STAGES if st in night):
        m = night[stage]
        lines.append(f"| {stage} | {m['records']:,} | {m['seconds']:,.1f} | {m['cpu_seconds']:,.1f} | "
                     f"{m['cpu_seconds'] / 2:,.1f} |")
    lines.append(f"| **increment** | {result.get('released', 0):,} doses | {night['end_to_end_seconds']:,.1f} | "
                 f"{night['end_to_end_cpu_seconds']:,.1f} | **{night['end_to_end_cpu_seconds'] / 2:,.1f}** |")
    if (imports := result.get("quality_import_cpu_seconds")) and (sites := result.get("sites")):
        lines.append(f"\nNot in the table: in Airflow every validate task is its own process and first imports "
                     f"Great Expectations ({imports:,.1f} CPU-s measured in a fresh interpreter), unless its site has "
                     f"nothing new: up to {sites} sites × {imports:,.1f} = {sites * imports:,.0f} CPU-s, "
                     f"{sites * imports / 2 / 60:,.1f} min on 2 cores per cycle (this benchmark pays it once) — "
                     f"unless the worker preloaded it before forking its task processes, as deployed workers do "
                     f"by default (`VAXPASS_PRELOAD`, docs/production.md): then each worker pays it once at start.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("result", type=Path)
    parser.add_argument("--doses", type=int, default=HANOI_DOSES)
    args = parser.parse_args(argv)
    result = json.loads(args.result.read_text())
    sys.stdout.write(f"## Backfill projected to {args.doses:,} doses\n\n{project(result, args.doses)}\n\n"
                     f"## Nightly increment\n\n{nightly(result)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
