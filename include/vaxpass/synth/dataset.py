"""Generate a synthetic, seeded Hanoi data set with ground truth (DESIGN.md §7).

Persons are made in chunks of `CHUNK` registry persons, each chunk from its own numpy generator derived from
the seed, so memory is bounded at any size and the same seed and arguments always give the same bytes.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vaxpass.domain import save_sites
from vaxpass.errors import ConfigError
from vaxpass.geo import DISTRICTS, PROVINCE_CODES
from vaxpass.synth.doses import make_doses, make_lots
from vaxpass.synth.faults import FAULT_CODES, FaultRates
from vaxpass.synth.geo import default_site_count, plan_sites
from vaxpass.synth.ids import IdAllocator
from vaxpass.synth.inject import FIRST_VACCINATION, inject
from vaxpass.synth.output import GroundTruthWriter, RegistryWriter, SiteFiles
from vaxpass.synth.population import FOREIGN, REGISTRY, UNREGISTERED, make_persons
from vaxpass.synth.records import clean_records, emit, fault_rng

log = logging.getLogger(__name__)

CHUNK = 100_000


@dataclass(frozen=True)
class SynthSummary:
    """What a generation run produced. Persons counted in `vaccinated_persons` include those not in the
    registry (`not_in_registry`, Vietnamese) and `foreigners` (identified by passport)."""

    registry_persons: int
    vaccinated_persons: int
    vaccinated_in_registry: int
    not_in_registry: int
    foreigners: int
    dose_records: int
    sites: int
    districts: int
    records_with_faults: int
    fault_counts: dict[str, int] = field(default_factory=dict)


def _check(persons: int, seed: int, start: date, end: date, shares: dict[str, float]) -> None:
    problems = []
    if persons < 1:
        problems.append("persons must be at least 1")
    if seed < 0:
        problems.append("seed must be a non-negative integer")
    if end <= start:
        problems.append("end_date must be after start_date")
    if start < FIRST_VACCINATION:
        problems.append(f"start_date must not be before Vietnam's first vaccination ({FIRST_VACCINATION})")
    problems += [f"{k} must be within [0, 1]" for k, v in shares.items() if not 0.0 <= v <= 1.0]
    if problems:
        raise ConfigError("; ".join(problems))


def generate(out_dir: Path, *, persons: int, seed: int, sites: int | None = None, faults: FaultRates | None = None,
             progress: bool = True, start_date: date = date(2021, 7, 1), end_date: date = date(2022, 6, 30),
             vaccinated_share: float = 0.8, unregistered_share: float = 0.03,
             foreign_share: float = 0.005) -> SynthSummary:
    """Write registry.sqlite, sites.json, each site's delivery (inbox/, sites/, feeds/), ground_truth.csv and
    summary.json.

    `persons` is the size of the population registry; `vaccinated_share` of it is vaccinated, plus
    `unregistered_share` × persons vaccinated residents missing from the registry and `foreign_share` × persons
    foreigners. Existing output files in `out_dir` (and its `inbox/`) are replaced.
    """
    shares = {"vaccinated_share": vaccinated_share, "unregistered_share": unregistered_share,
              "foreign_share": foreign_share}
    _check(persons, seed, start_date, end_date, shares)
    rates = faults if faults is not None else FaultRates()
    n_sites = sites if sites is not None else default_site_count(persons)
    if n_sites < 1:
        raise ConfigError("sites must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)

    setup = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    plan = plan_sites(n_sites, setup)
    ids = IdAllocator(setup)
    lots = make_lots(setup)
    save_sites(out_dir / "sites.json", plan.sites)
    used = np.zeros(len(plan.sites), dtype=np.int64)
    counts: Counter[str] = Counter()
    faulty = records = vacc_reg = unreg = foreign = 0
    district_codes = [DISTRICTS[d].code for d in plan.districts.tolist()]

    with RegistryWriter(out_dir / "registry.sqlite", district_codes, PROVINCE_CODES) as registry, \
            SiteFiles(out_dir, plan.sites, end_date) as site_files, \
            GroundTruthWriter(out_dir / "ground_truth.csv") as truth, \
            tqdm(total=persons, unit="persons", file=sys.stderr, disable=not progress, desc="synth") as bar:
        for c, lo in enumerate(range(0, persons, CHUNK)):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, c)))
            n_reg = min(CHUNK, persons - lo)
            pc = make_persons(rng, ids, plan, n_registry=n_reg,
                              n_unregistered=int(rng.binomial(n_reg, unregistered_share)),
                              n_foreign=int(rng.binomial(n_reg, foreign_share)),
                              first_registry_id=lo + 1, first_unregistered=unreg + 1, start=start_date)
            registry.add(pc)
            doses = make_doses(rng, pc, plan, vaccinated_share=vaccinated_share, start=start_date, end=end_date)
            recs = clean_records(rng, pc, doses, plan, lots, rates)
            inject(recs, pc, rng, fault_rng(rng), rates)
            by_site, gt = emit(recs, pc, plan, used)
            site_files.add(by_site)
            truth.add(gt)

            kinds = pc.kind[np.unique(doses.person)]
            vacc_reg += int((kinds == REGISTRY).sum())
            unreg += int((kinds == UNREGISTERED).sum())
            foreign += int((kinds == FOREIGN).sum())
            records += len(recs)
            faulty += len(recs.faults)
            for fl in recs.faults.values():
                counts.update(fl)
            bar.update(n_reg)

    summary = SynthSummary(
        registry_persons=persons, vaccinated_persons=vacc_reg + unreg + foreign, vaccinated_in_registry=vacc_reg,
        not_in_registry=unreg, foreigners=foreign, dose_records=records, sites=len(plan.sites),
        districts=len(plan.districts), records_with_faults=faulty,
        fault_counts={c: counts.get(c, 0) for c in FAULT_CODES},
    )
    doc = {**asdict(summary), "seed": seed, "fault_rates": rates.as_dict(),
           "parameters": {"persons": persons, "sites": n_sites, "start_date": start_date.isoformat(),
                          "end_date": end_date.isoformat(), **shares}}
    (out_dir / "summary.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log.info("synthetic data set written: %d registry persons, %d dose records, %d sites",
             persons, records, len(plan.sites))
    return summary
