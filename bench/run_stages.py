"""Stage throughput: one cycle's stages on a generated set, without Airflow, each timed on its own.

    python -m bench.run_stages --persons 20000

Writes `bench/results/stages-<persons>.json`: per stage the records it handled, seconds and records per second,
plus peak memory. Later benchmarks add named baselines measured in the same run and report ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from vaxpass.config import Settings
from vaxpass.domain import load_sites
from vaxpass.pipeline import stages
from vaxpass.signing.pki import ensure_document_signer, ensure_root_ca
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord
from vaxpass.synth import generate

RESULTS = Path(__file__).parent / "results"


def timed(results: dict[str, Any], name: str, records: Callable[[], int], fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    n = records()
    results[name] = {"records": n, "seconds": round(seconds, 3),
                     "records_per_second": round(n / seconds, 1) if seconds else None}
    sys.stderr.write(f"{name:<10} {n:>9} records {seconds:8.2f} s\n")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vaxpass-bench-"))
    s = Settings(db_url=f"sqlite:///{work / 'ops.sqlite'}", data_dir=work / "data", landing_dir=work / "landing",
                 pki_dir=work / "pki", key_passphrase=secrets.token_urlsafe(16).encode(), pseudonym_key=secrets.token_bytes(32))
    now = datetime.now(UTC)
    ensure_root_ca(s.pki_dir, s.key_passphrase, now=now)
    ensure_document_signer(s.pki_dir, s.key_passphrase, s.dsc_path, now=now)
    results: dict[str, Any] = {}

    def count(*statuses: str) -> Callable[[], int]:
        def n() -> int:
            with session_scope(s.db_url) as session:
                query = select(func.count()).select_from(DoseRecord)
                if statuses:
                    query = query.where(DoseRecord.status.in_(statuses))
                return int(session.scalar(query) or 0)
        return n

    summary = timed(results, "synth", lambda: 0, lambda: generate(s.data_dir, persons=args.persons,
                                                                   seed=args.seed, progress=False))
    results["synth"]["records"] = summary.dose_records
    cycle = "bench-1"
    sites = stages.start_cycle(s, cycle_id=cycle, dag_id="bench", run_after=now)
    timed(results, "extract", count(), lambda: [stages.extract(s, cycle_id=cycle, site_code=c) for c in sites])
    total = count()()
    timed(results, "validate", lambda: total, lambda: [
        stages.validate(s, cycle_id=cycle, site_code=c, run_date=now.date()) for c in sites])
    valid = count("valid")()
    timed(results, "match", lambda: valid, lambda: stages.match(s, cycle_id=cycle))
    matched = count("matched")()
    timed(results, "issue", lambda: matched, lambda: stages.issue(s, cycle_id=cycle, dag_id="bench",
                                                                   task_id="issue", issued_at=now))
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results["persons"] = args.persons
    results["sites"] = len(load_sites(s.sites_file))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"stages-{args.persons}.json"
    out.write_text(json.dumps(results, indent=2))
    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
