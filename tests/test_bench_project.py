"""The Hanoi projection: marginal cost per record from two runs, the rest as a fixed cost."""

from __future__ import annotations

from typing import Any

import pytest
from bench.project import project, stage_costs


def _run(records: dict[str, int], cpu: dict[str, float]) -> dict[str, Any]:
    return {"backfill": {st: {"records": n, "cpu_seconds": cpu[st], "seconds": cpu[st],
                              "records_per_cpu_second": n / cpu[st]} for st, n in records.items()}
            | {"end_to_end_seconds": sum(cpu.values()), "end_to_end_cpu_seconds": sum(cpu.values())}}


def test_the_slope_between_two_runs_is_the_marginal_cost_and_the_rest_is_fixed() -> None:
    # validate: 4 CPU-s per run whatever its size plus 0.1 ms per record; issue: 0.5 ms per record, no fixed part
    small = _run({"extract": 100_000, "validate": 100_000, "issue": 40_000}, {"extract": 5.0, "validate": 14.0,
                                                                               "issue": 20.0})
    big = _run({"extract": 400_000, "validate": 400_000, "issue": 160_000}, {"extract": 20.0, "validate": 44.0,
                                                                             "issue": 80.0})
    assert stage_costs(big, small, "validate") == pytest.approx((4.0, 1e-4))
    assert stage_costs(big, small, "issue") == pytest.approx((0.0, 5e-4))
    # one run only: the average per record, nothing fixed
    assert stage_costs(big, None, "validate") == pytest.approx((0.0, 44.0 / 400_000))


def test_a_cost_growing_faster_than_the_records_has_no_negative_fixed_part() -> None:
    small = _run({"extract": 100_000}, {"extract": 5.0})
    big = _run({"extract": 200_000}, {"extract": 12.0})  # 0.07 ms per record at the margin, 0.06 on average
    fixed, marginal = stage_costs(big, small, "extract")
    assert fixed == 0.0 and marginal == pytest.approx(7e-5)


def test_the_fixed_part_is_not_multiplied_by_hanoi() -> None:
    small = _run({"extract": 100_000, "validate": 100_000}, {"extract": 5.0, "validate": 14.0})
    big = _run({"extract": 400_000, "validate": 400_000}, {"extract": 20.0, "validate": 44.0})
    table = project(big, doses=20_000_000, base=small)
    validate = next(line for line in table.splitlines() if line.startswith("| validate"))
    # (4 + 0.1 ms × 20 M) / 2 cores = 1,002 s = 16.7 min; scaling the average would say 18.3 min
    assert "| 16.7 min |" in validate and "100,000 → 400,000" in validate
