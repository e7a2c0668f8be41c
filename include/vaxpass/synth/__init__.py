"""Synthetic Hanoi vaccination data with ground truth: a population registry, sites, their dose exports.

`generate(out_dir, persons=..., seed=...)` writes the data set; `FaultRates` sets how often each typical fault
of the national roll-out is put into the dose records (`FaultRates.none()` for a clean set).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from vaxpass.synth.dataset import SynthSummary, generate
from vaxpass.synth.faults import FAULT_CODES, FaultRates

__all__ = ["FAULT_CODES", "FaultRates", "SynthSummary", "add_arguments", "generate", "run_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a `synth` command; `run_from_args` turns them into a `generate` call."""
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--persons", type=int, default=10_000, help="size of the population registry")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    parser.add_argument("--sites", type=int, default=None, help="number of vaccination sites (default: persons/2000)")
    parser.add_argument("--clean", action="store_true", help="inject no faults")
    parser.add_argument("--fault-scale", type=float, default=1.0, help="multiply every default fault rate")
    parser.add_argument("--vaccinated-share", type=float, default=0.8)
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2021, 7, 1))
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2022, 6, 30))
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run_from_args(args: argparse.Namespace) -> SynthSummary:
    rates = FaultRates.none() if args.clean else FaultRates().scaled(args.fault_scale)
    return generate(args.out, persons=args.persons, seed=args.seed, sites=args.sites, faults=rates,
                    progress=not args.no_progress, start_date=args.start_date, end_date=args.end_date,
                    vaccinated_share=args.vaccinated_share)
