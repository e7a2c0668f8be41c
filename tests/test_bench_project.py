"""The Hanoi projection: marginal cost per record from two runs, the rest as a fixed cost."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bench import pgcluster
from bench.project import charged, described_server, machine, project, site_costs, stage_costs
from bench.run_stages import reference_cpu_seconds, server_cpu_seconds, server_settings
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError


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


def _sited(run: dict[str, Any], sites: int) -> dict[str, Any]:
    return run | {"sites": sites}


def test_three_runs_split_a_per_site_cost_from_the_per_record_cost() -> None:
    # validate: 2 CPU-s fixed + 0.1 ms per record + 0.2 CPU-s per site; sites grow with the records between the
    # base and the big run, as in the synthetic city, so two runs alone see 0.1 + 0.2 / 2,000 ms per record
    def validate_cpu(records: int, sites: int) -> float:
        return 2.0 + 1e-4 * records + 0.2 * sites

    base = _sited(_run({"extract": 100_000, "validate": 100_000}, {"extract": 5.0, "validate": validate_cpu(100_000, 50)}), 50)
    more_sites = _sited(_run({"extract": 101_000, "validate": 101_000},
                             {"extract": 5.05, "validate": validate_cpu(101_000, 200)}), 200)
    big = _sited(_run({"extract": 400_000, "validate": 400_000}, {"extract": 20.0, "validate": validate_cpu(400_000, 200)}), 200)
    costs = site_costs(big, base, more_sites, "validate")
    assert costs == pytest.approx((2.0, 1e-4, 0.2))
    # extract does no per-site work here: its per-site cost solves to ~0 and the per-record cost is the slope
    assert site_costs(big, base, more_sites, "extract").per_record == pytest.approx(5e-5)
    # Hanoi is charged for the sites it has, not for sites growing with its 20 M doses
    table = project(big, doses=20_000_000, base=base, sites_run=more_sites, sites=600)
    validate = next(line for line in table.splitlines() if line.startswith("| validate"))
    # (2 + 0.1 ms × 20 M + 0.2 × 600) / 2 cores = 1,061 s = 17.7 min
    assert "| 17.7 min |" in validate and "50 / 200 / 200 sites" in validate
    # the two-run slope charges each record 0.1 ms + 0.2 s / 2,000 (a site per 2,000 records): 4,000 sites at Hanoi
    two_runs = project(big, doses=20_000_000, base=_sited(_run({"extract": 100_000, "validate": 100_000}, {
        "extract": 5.0, "validate": validate_cpu(100_000, 50)}), 50))
    assert "| 33.4 min |" in next(line for line in two_runs.splitlines() if line.startswith("| validate"))


def test_a_negative_per_site_cost_is_noise_and_falls_back_to_the_slope() -> None:
    base = _sited(_run({"issue": 40_000}, {"issue": 20.0}), 50)
    more_sites = _sited(_run({"issue": 40_000}, {"issue": 19.0}), 200)  # fewer CPU-s with more sites: noise
    big = _sited(_run({"issue": 160_000}, {"issue": 80.0}), 200)
    assert site_costs(big, base, more_sites, "issue") == pytest.approx((0.0, 5e-4, 0.0))


def test_the_database_servers_cpu_is_charged_to_its_stage() -> None:
    """On PostgreSQL on the bench machine the server's CPU per stage counts with the client's: both share the
    cores the projection divides by. A run without it (SQLite) is left as it is."""
    small = _run({"extract": 100_000, "issue": 40_000}, {"extract": 5.0, "issue": 20.0})
    big = _run({"extract": 400_000, "issue": 160_000}, {"extract": 20.0, "issue": 80.0})
    assert charged(big) == big
    for run, server in ((small, {"extract": 1.0, "issue": 10.0}), (big, {"extract": 4.0, "issue": 40.0})):
        for stage, seconds in server.items():
            run["backfill"][stage]["server_cpu_seconds"] = seconds
        run["backfill"]["end_to_end_server_cpu_seconds"] = sum(server.values())
    small_charged, big_charged = charged(small), charged(big)
    assert big_charged["backfill"]["issue"]["cpu_seconds"] == 120.0
    assert big_charged["backfill"]["issue"]["client_cpu_seconds"] == 80.0
    assert big_charged["backfill"]["end_to_end_cpu_seconds"] == 144.0
    assert big["backfill"]["issue"]["cpu_seconds"] == 80.0  # the result read is not changed
    assert stage_costs(big_charged, small_charged, "issue") == pytest.approx((0.0, 0.75e-3))


def test_the_local_database_servers_cpu_is_measured(pg_databases: Callable[[], str]) -> None:
    """`bench.run_stages` reads the PostgreSQL server's CPU from /proc, ended backends included: a query that
    keeps the server busy, on a connection closed before the second reading, shows in the difference."""
    before = server_cpu_seconds()
    assert before is not None  # the test server runs on this machine
    engine = create_engine(pg_databases())
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM generate_series(1, 1000000) g WHERE md5(g::text) < 'f'"))
    engine.dispose()  # the backend ends: its CPU moves to the postmaster's children's
    after = server_cpu_seconds()
    assert after is not None and after - before > 0.1


def test_the_machines_speed_is_recorded_and_named_in_the_projection() -> None:
    """The reference workload runs and its CPU time is printed with the projection; an older run without it
    says so."""
    seconds = reference_cpu_seconds(rounds=1)
    assert seconds > 0
    assert f"{seconds:.2f} CPU-s" in machine({"reference_cpu_seconds": seconds})
    assert "not recorded" in machine({})


def test_the_bench_runs_its_own_server_with_a_deployments_settings_and_records_them() -> None:
    """`bench.pgcluster` makes and starts a private PostgreSQL server with docs/production.md's settings for
    this machine's memory; `bench.run_stages.server_settings` reads them back as the results record them, and
    the projection prints them. Stopped, it no longer answers."""
    # not pytest's tmp_path (private to this user): the server runs as the postgres user, who must reach it
    folder = Path(tempfile.mkdtemp(prefix="vaxpass-pgcluster-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        url = pgcluster.start(folder, port)
        assert pgcluster.start(folder, port) == url  # running already: used as it is
        admin = url.replace("/vaxpass_bench", "/postgres")  # the bench database is made by --recreate-db
        recorded = server_settings(admin)
        wanted = pgcluster.settings(pgcluster.memory_mb())
        assert recorded["autovacuum"] == "on" and recorded["max_wal_size"] == wanted["max_wal_size"]
        mb = int(wanted["shared_buffers"].removesuffix("MB"))  # PostgreSQL prints 6144MB as 6GB
        assert recorded["shared_buffers"] in (f"{mb}MB", f"{mb // 1024}GB")
        assert f"autovacuum {recorded['autovacuum']}, " in described_server({"server_settings": recorded})
    finally:
        pgcluster.stop(folder)
    with pytest.raises(OperationalError):
        server_settings(admin)
    shutil.rmtree(folder)
    assert described_server({}) == ""
