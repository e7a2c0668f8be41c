"""Project `bench.run_stages` results to Hanoi's size, on this machine and on N Celery workers.

    python -m bench.project bench/results/stages-530000.json --base bench/results/stages-120000.json
    python -m bench.project bench/results/stages-120000.json          # one run: average cost per record

With `--base` (a smaller run of the same code, ideally in the same session: `make bench` runs both), each
stage's cost is split into a **marginal** CPU cost per record, the slope between the two runs, and a **fixed**
part, what the bigger run cost beyond its records times that slope (per site and per task: Great
Expectations' per-validation graph, key stores opened, the registry's preparation read off as it grows with
the people, ...). Hanoi's cost is then fixed + marginal × the records the stage would handle for 20 M doses
(the stage's share of the doses as measured), spread over the cores that run the stage's mapped tasks in
parallel (per site, per bucket). The slope is taken where the bench is biggest, so costs that grow with the
store (indexes, the registry the linker blocks against) show in it; it still assumes the cost stays linear
from there to 20 M. Without `--base` the average cost per record is used, which also scales the fixed part
with the records (too pessimistic for small runs). CPU time, not wall time: the machine is shared. A
projection, not a measurement.

The synthetic city has one vaccination site per 2,000 persons up to 600 (its 578 ward health stations, district
centres and hospitals: `vaxpass.synth.geo`), so between two runs the sites grow with the records, and a slope
alone would charge Hanoi's 20 M doses for 4,250 sites. With `--sites-run` (a run with the base's persons and
more sites: `bench.run_stages --persons 120000 --sites 240`) each stage's cost is solved from the three runs as
fixed + per record × records + per site × sites (per-site work: a Great Expectations validation, a confirmation
document and its key, a source file opened), and Hanoi is charged for the synthetic city's 600 sites. A per-site
cost the runs cannot tell from noise (negative) counts as 0 and the stage falls back to the two-run slope.

A run on PostgreSQL on the bench machine also recorded its server's CPU seconds per stage; they are added to
the stage's (`charged`): on this machine both share the two cores. On N workers with the database on a machine
of its own that overstates the workers' share (the server's part would be the database machine's).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vaxpass.synth.geo import default_site_count

HANOI_DOSES = 20_000_000
HANOI_PERSONS = 8_500_000
HANOI_SITES = default_site_count(HANOI_PERSONS)  # the synthetic city's: 600
STAGES = ("extract", "validate", "match", "confirm", "issue")
CORES = (("this machine (2 cores)", 2), ("4 workers × 2 cores", 8), ("8 workers × 2 cores", 16))


def charged(result: dict[str, Any]) -> dict[str, Any]:
    """`result` with each stage's CPU seconds (and each cycle's total) including its database server's
    (`server_cpu_seconds`, recorded by `bench.run_stages` when the server ran on the bench machine); the
    client's own kept as `client_cpu_seconds`."""
    out = copy.deepcopy(result)
    for name in ("backfill", "nightly"):
        cycle = out.get(name) or {}
        for entry in cycle.values():
            if isinstance(entry, dict) and "server_cpu_seconds" in entry:
                entry["client_cpu_seconds"] = entry["cpu_seconds"]
                entry["cpu_seconds"] += entry["server_cpu_seconds"]
        if "end_to_end_server_cpu_seconds" in cycle:
            cycle["end_to_end_cpu_seconds"] += cycle["end_to_end_server_cpu_seconds"]
    return out


def machine(result: dict[str, Any]) -> str:
    """What the run says of the machine's speed: the CPU seconds of `bench.run_stages.reference_cpu_seconds`'s
    fixed workload (projections from two machines compare after scaling by the ratio of theirs)."""
    reference = result.get("reference_cpu_seconds")
    if reference is None:
        return "Machine speed: not recorded (a run from before the reference workload)."
    return (f"Machine speed: the reference workload took {reference:.2f} CPU-s (`bench.run_stages."
            f"reference_cpu_seconds`); minutes projected on another machine scale by the ratio of its figure.")


def described_server(result: dict[str, Any]) -> str:
    """The PostgreSQL server's settings the run recorded (`bench.pgcluster.RECORDED`), or nothing."""
    found = result.get("server_settings")
    if not found:
        return ""
    return " Server: " + ", ".join(f"{name} {value}" for name, value in found.items()) + "."


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:,.1f} min"


def stage_costs(result: dict[str, Any], base: dict[str, Any] | None, stage: str) -> tuple[float, float]:
    """(fixed CPU-s, marginal CPU-s per record) of a backfill stage."""
    big = result["backfill"][stage]
    if base is None or stage not in base["backfill"] or base["backfill"][stage]["records"] >= big["records"]:
        return 0.0, big["cpu_seconds"] / max(big["records"], 1)
    small = base["backfill"][stage]
    marginal = (big["cpu_seconds"] - small["cpu_seconds"]) / (big["records"] - small["records"])
    return max(big["cpu_seconds"] - marginal * big["records"], 0.0), marginal


class Costs(NamedTuple):
    """A stage's CPU seconds: fixed + per_record × records + per_site × sites."""

    fixed: float
    per_record: float
    per_site: float = 0.0


def site_costs(result: dict[str, Any], base: dict[str, Any], sites_run: dict[str, Any], stage: str) -> Costs:
    """A stage's costs solved from three runs: `base` and `sites_run` with the same persons and different sites,
    `result` bigger. A negative per-site cost (noise: the stage does no per-site work) or a singular system falls
    back to `stage_costs` (the two-run slope); a negative fixed part is refitted through the origin."""
    runs = [base, sites_run, result]
    if any(stage not in r["backfill"] for r in runs):
        return Costs(*stage_costs(result, base, stage))
    shape = np.array([[1.0, r["backfill"][stage]["records"], r["sites"]] for r in runs])
    cpu = np.array([r["backfill"][stage]["cpu_seconds"] for r in runs])
    try:
        fixed, per_record, per_site = np.linalg.solve(shape, cpu)
    except np.linalg.LinAlgError:
        return Costs(*stage_costs(result, base, stage))
    if fixed < 0:
        fixed = 0.0
        per_record, per_site = np.linalg.lstsq(shape[:, 1:], cpu, rcond=None)[0]
    if per_site < 0 or per_record <= 0:
        return Costs(*stage_costs(result, base, stage))
    return Costs(float(fixed), float(per_record), float(per_site))


def project(result: dict[str, Any], doses: int = HANOI_DOSES, base: dict[str, Any] | None = None,
            sites_run: dict[str, Any] | None = None, sites: int = HANOI_SITES) -> str:
    """The projection table; with `sites_run` (and `base`) per-site costs are charged for `sites` sites."""
    backfill = result["backfill"]
    measured_doses = backfill["extract"]["records"]
    by_site = base is not None and sites_run is not None
    lines = ["| stage | records measured | CPU s | fixed CPU s | marginal ms / record | "
             + ("CPU s per site | " if by_site else "") + "records at Hanoi | "
             + " | ".join(name for name, _ in CORES) + " |",
             "| --- | ---: | ---: | ---: | ---: | " + ("---: | " if by_site else "") + "---: | "
             + " | ".join("---:" for _ in CORES) + " |"]
    totals = [0.0 for _ in CORES]
    for stage in (st for st in STAGES if st in backfill):  # results older than the confirm stage lack it
        m = backfill[stage]
        costs = (site_costs(result, base, sites_run, stage) if base is not None and sites_run is not None
                 else Costs(*stage_costs(result, base, stage)))
        fixed, per_record = costs.fixed, costs.per_record
        records = doses * m["records"] / measured_doses
        cells = []
        for i, (_, cores) in enumerate(CORES):
            seconds = (fixed + per_record * records + costs.per_site * sites) / cores
            totals[i] += seconds
            cells.append(_minutes(seconds))
        measured = (f"{base['backfill'][stage]['records']:,} → {m['records']:,}" if base and stage in
                    base["backfill"] else f"{m['records']:,}")
        cpu = (f"{base['backfill'][stage]['cpu_seconds']:,.1f} → {m['cpu_seconds']:,.1f}" if base and stage in
               base["backfill"] else f"{m['cpu_seconds']:,.1f}")
        if by_site:
            measured += f" ({base['sites']} / {sites_run['sites']} / {result['sites']} sites)"
        per_site = f"{costs.per_site:,.3f} | " if by_site else ""
        lines.append(f"| {stage} | {measured} | {cpu} | {fixed:,.1f} | {per_record * 1000:,.3f} | {per_site}"
                     f"{records / 1e6:,.1f} M | " + " | ".join(cells) + " |")
    lines.append("| **backfill** | | " + f"{backfill['end_to_end_cpu_seconds']:,.0f} | | | "
                 + ("| " if by_site else "") + f"{doses / 1e6:,.0f} M doses"
                 + (f", {sites:,} sites" if by_site else "") + " | "
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
    parser.add_argument("--base", type=Path, default=None,
                        help="a smaller run of the same code: marginal cost per record = the slope between the two")
    parser.add_argument("--sites-run", type=Path, default=None,
                        help="a run with --base's persons and more sites: per-site costs solved apart (needs --base)")
    parser.add_argument("--sites", type=int, default=HANOI_SITES, help="sites at Hanoi (with --sites-run)")
    args = parser.parse_args(argv)
    if args.sites_run and not args.base:
        parser.error("--sites-run needs --base")
    result = charged(json.loads(args.result.read_text()))
    base = charged(json.loads(args.base.read_text())) if args.base else None
    sites_run = charged(json.loads(args.sites_run.read_text())) if args.sites_run else None
    store = result.get("ops_store", "sqlite")
    served = any("server_cpu_seconds" in v for v in result["backfill"].values() if isinstance(v, dict))
    text = (f"## Backfill projected to {args.doses:,} doses\n\nOps store: {store}"
            + (" (CPU seconds include the database server's, on the same machine)" if served else "") + ". "
            + machine(result) + described_server(result) + "\n\n"
            + f"{project(result, args.doses, base, sites_run, args.sites)}\n")
    if sites_run is not None:
        text += (f"\nThe same with {2 * args.sites:,} sites at Hanoi:\n\n"
                 f"{project(result, args.doses, base, sites_run, 2 * args.sites)}\n\n"
                 f"Without the per-site split (the two-run slope: sites grow with the records):\n\n"
                 f"{project(result, args.doses, base)}\n")
    sys.stdout.write(f"{text}\n## Nightly increment\n\n{nightly(result)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
