"""What a match task pays for the whole registry, per registry person: prepared per task (no cache), the first
task of a registry version (cold cache: read, prepare, write) and every later task (warm cache: map and slice).

    python -m bench.registry_cache --registry /tmp/bench/data/registry.sqlite

Each variant runs in a fresh subprocess (its CPU seconds and peak memory are its own) and goes through every
prepared chunk, as `linker.link` does; `--repeat` runs of each, the best kept (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(variant: str, registry: Path, cache: Path, chunk: int) -> dict[str, float]:
    from vaxpass.registry import SqlRegistry
    from vaxpass.registry.adapter import BlockingQuery
    from vaxpass.registry.linker import prepared_chunks
    from vaxpass.registry.prepare import Vocab

    start = _cpu()
    reg = SqlRegistry(f"sqlite:///{registry}", cache_dir=cache)
    if variant == "uncached":
        persons = sum(side.n for _, side in prepared_chunks(reg._scan(chunk), Vocab()))
    else:
        prepared = reg.prepared(BlockingQuery(dob=frozenset(str(i) for i in range(reg.SCAN_ABOVE + 1))),
                                chunk_size=chunk)
        assert prepared is not None
        persons = sum(side.n for _, side in prepared.sides(chunk))
    cpu = _cpu() - start
    return {"persons": persons, "cpu_seconds": round(cpu, 3), "us_per_person": round(cpu / persons * 1e6, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=("uncached", "cold", "warm"), help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sys.stdout.write(json.dumps(run(args.worker, args.registry, args.cache, args.chunk)) + "\n")
        return 0
    results: dict[str, list[dict[str, float]]] = {"uncached": [], "cold": [], "warm": []}
    for _ in range(args.repeat):
        cache = Path(tempfile.mkdtemp(prefix="vaxpass-registry-cache-")) / "cache"
        try:
            for variant in results:  # interleaved; cold then warm on one fresh cache
                done = subprocess.run([sys.executable, "-m", "bench.registry_cache", "--worker", variant,
                                       "--registry", str(args.registry), "--cache", str(cache),
                                       "--chunk", str(args.chunk)], capture_output=True, text=True, check=True)
                results[variant].append(json.loads(done.stdout))
        finally:
            shutil.rmtree(cache.parent)
    best = {k: min(v, key=lambda r: r["cpu_seconds"]) for k, v in results.items()}
    best["warm_over_uncached"] = {"ratio": round(best["warm"]["cpu_seconds"] / best["uncached"]["cpu_seconds"], 3)}
    best["cold_over_uncached"] = {"ratio": round(best["cold"]["cpu_seconds"] / best["uncached"]["cpu_seconds"], 3)}
    sys.stdout.write(json.dumps(best, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
