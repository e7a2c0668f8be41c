"""What a forked task process pays for its imports, with and without vaxpass.preload in the parent.

Airflow 3.3 starts each task with a bare os.fork() of a Celery pool process or a LocalExecutor worker. This
forks N children of a parent that did (preload) or did not (baseline) import VAXPASS_PRELOAD's modules, has
each child do what a validate task does first (import the stages, import Great Expectations and build its
context: vaxpass.quality.engine._batch_definition) and reports the children's CPU seconds (os.wait4), a ratio
of baseline over preload measured in one run.

    python -m bench.preload_fork --children 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD_WORK = ("import vaxpass.pipeline.stages\n"
              "from vaxpass.quality.engine import _batch_definition\n"
              "_batch_definition()\n")


def parent(preload: bool, children: int) -> dict[str, float]:
    """Runs in a fresh interpreter: optionally preload, then fork `children` task-like processes in turn."""
    from vaxpass import preload as pre

    start = time.process_time()
    if preload:
        pre.preload(pre.configured_modules(os.environ))
    parent_cpu = time.process_time() - start
    cpu, wall = [], []
    for _ in range(children):
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the task process
            try:
                exec(CHILD_WORK, {})  # noqa: S102 - fixed code above
            finally:
                os._exit(0)
        _, status, usage = os.wait4(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        wall.append(time.perf_counter() - t0)
        cpu.append(usage.ru_utime + usage.ru_stime)
    return {"parent_preload_cpu_seconds": round(parent_cpu, 2),
            "child_cpu_seconds_mean": round(sum(cpu) / len(cpu), 2),
            "child_wall_seconds_mean": round(sum(wall) / len(wall), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--parent", choices=["preload", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parent:
        print(json.dumps(parent(args.parent == "preload", args.children)))
        return 0
    results = {}
    for mode in ("baseline", "preload"):
        done = subprocess.run([sys.executable, "-m", "bench.preload_fork", "--parent", mode, "--children",
                               str(args.children)], capture_output=True, text=True, check=True)
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    base, pre = results["baseline"]["child_cpu_seconds_mean"], results["preload"]["child_cpu_seconds_mean"]
    results["child_cpu_ratio_baseline_over_preload"] = round(base / pre, 1) if pre else None
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
