"""Stage throughput at scale: a backfill cycle and a nightly increment, without Airflow, each stage timed.

    python -m bench.run_stages --persons 500000 --increment 100000

One synthetic set (all faults on) is generated; `--increment` doses are held back from it (bench/increment.py),
the rest go through one backfill cycle (extract, validate, match, confirm, issue; the district review is a human
step and is left out), then the held-back doses arrive as the next night's deliveries and go through a second
cycle. Writes `bench/results/stages-<persons>.json` after every stage: per stage the records it handled,
seconds, records per second and the process's peak RSS so far; the end-to-end time of each cycle; the machine's
load average at start and end (the machine is shared). `--profile DIR` also writes a cProfile of every stage
(`DIR/<cycle>-<stage>.prof`, read with `python -m pstats`).

`--db-url` puts the ops store on PostgreSQL (`--recreate-db` drops and creates that database first: a bench
database only). When the server runs on this machine, each stage also records the server's CPU seconds
(`server_cpu_seconds`): on the same two cores it is part of what the stage costs, and `bench.project` adds it.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench.increment import hold_back, release
from bench.pgcluster import RECORDED
from vaxpass.config import Settings
from vaxpass.domain import load_sites
from vaxpass.pipeline import stages
from vaxpass.signing.admin import init_pki
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, ConfirmationItem, DoseRecord
from vaxpass.synth import generate

RESULTS = Path(__file__).parent / "results"


def cpu_seconds() -> float:
    """This process's CPU time: on a shared machine it is what the stage cost, whatever the others ran."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def server_cpu_seconds() -> float | None:
    """CPU seconds this machine's PostgreSQL servers have used: their processes' own and that of their ended
    children (the postmaster reaps every backend whose connection closed). None when no PostgreSQL runs here.

    A backend reaped while the processes are read would be missed (its postmaster read before, itself gone by
    its turn) or counted twice (read itself, then in its postmaster's), so a reading during which any process
    ended is taken again (up to five times)."""
    for _ in range(5):
        ticks: dict[int, int] = {}
        ended = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:  # the process ended meanwhile
                ended = True
                continue
            if text[text.index("(") + 1:text.rindex(")")] != "postgres":
                continue
            fields = text[text.rindex(")") + 2:].split()  # from the state (stat's field 3) on
            ticks[int(stat.parent.name)] = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        if not ended and all(Path(f"/proc/{pid}").exists() for pid in ticks):
            break
    return sum(ticks.values()) / os.sysconf("SC_CLK_TCK") if ticks else None


def timed(results: dict[str, Any], name: str, records: Callable[[], int], fn: Callable[[], Any],
          profile: Path | None = None, server: Callable[[], float | None] = lambda: None) -> Any:
    start, cpu_start, server_start = time.perf_counter(), cpu_seconds(), server()
    if profile is None:
        value = fn()
    else:
        profiler = cProfile.Profile()
        value = profiler.runcall(fn)
        profiler.dump_stats(profile)
    seconds, cpu, server_end = time.perf_counter() - start, cpu_seconds() - cpu_start, server()
    n = records()
    results[name] = {"records": n, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                     "records_per_second": round(n / seconds, 1) if seconds else None,
                     "records_per_cpu_second": round(n / cpu, 1) if cpu else None,
                     "peak_rss_mb": peak_rss_mb()}
    served = ""
    if server_start is not None and server_end is not None:
        results[name]["server_cpu_seconds"] = round(server_end - server_start, 3)
        served = f" (server cpu {server_end - server_start:9.2f} s)"
    sys.stderr.write(f"{name:<10} {n:>9} records {seconds:9.2f} s (cpu {cpu:9.2f} s){served}  "
                     f"peak {peak_rss_mb():8.1f} MB\n")
    return value


def recreate_database(url: str) -> None:
    """Drop and create the PostgreSQL database `url` names, connected to the server's `postgres` database."""
    target = make_url(url)
    if target.get_backend_name() != "postgresql" or not target.database:
        raise SystemExit(f"--recreate-db needs a PostgreSQL URL with a database, not {target.get_backend_name()}")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def server_settings(url: str) -> dict[str, str]:
    """The settings of the PostgreSQL server `url` names that a bench's figures depend on (`RECORDED`)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        found = dict(conn.execute(text("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(:names)"),
                                  {"names": list(RECORDED)}).all())
    engine.dispose()
    return {name: found[name] for name in RECORDED if name in found}


def reference_cpu_seconds(rounds: int = 3) -> float:
    """The least CPU seconds of `rounds` runs of a fixed workload of the stages' kind (dicts and text, JSON,
    SHA-256, zlib, sorting, ECDSA P-256 signatures): the machine's speed, recorded with every run so that
    projections made on different machines (each session has its own) can be put side by side."""
    key = ec.derive_private_key(1_234_567, ec.SECP256R1())
    rows = [{"id": i, "name": f"Nguyễn Văn {i:05}", "dob": f"19{i % 100:02}-01-{i % 28 + 1:02}"}
            for i in range(50_000)]
    best = float("inf")
    for _ in range(rounds):
        start = cpu_seconds()
        for row in rows:
            text = json.dumps(row, ensure_ascii=False).encode()
            hashlib.sha256(text).digest()
            zlib.compress(text * 4)
        sorted(rows, key=lambda r: (r["dob"], r["name"]))
        for i in range(600):
            key.sign(b"%d" % i, ec.ECDSA(hashes.SHA256()))
        best = min(best, cpu_seconds() - start)
    return round(best, 3)


def quality_import_cpu_seconds() -> float:
    """CPU seconds a fresh interpreter spends importing Great Expectations and building its context: what every
    validate task pays once in Airflow, where each task is its own process (this benchmark pays it once)."""
    code = ("import resource\nfrom vaxpass.quality.engine import _batch_definition\n_batch_definition()\n"
            "u = resource.getrusage(resource.RUSAGE_SELF)\nprint(u.ru_utime + u.ru_stime)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(float(done.stdout.strip().splitlines()[-1]), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sites", type=int, default=None,
                        help="vaccination sites (default: the synthetic city's, one per 2,000 persons up to 600); "
                             "a run with other sites than its persons imply is named stages-<persons>-sites<n>.json")
    parser.add_argument("--increment", type=int, default=0, help="doses held back for a second, nightly cycle")
    parser.add_argument("--db-url", default=None, help="ops store (default: SQLite in the work folder)")
    parser.add_argument("--recreate-db", action="store_true",
                        help="drop and create --db-url's PostgreSQL database first (a bench database only)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None, help="folder for a cProfile of every stage")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vaxpass-bench-"))
    s = Settings(db_url=args.db_url or f"sqlite:///{work / 'ops.sqlite'}", data_dir=work / "data",
                 landing_dir=work / "landing", pki_dir=work / "pki",
                 key_passphrase=secrets.token_urlsafe(16).encode(), pseudonym_key=secrets.token_bytes(32))
    now = datetime.now(UTC)
    store_url = make_url(s.db_url)
    on_postgres = store_url.get_backend_name() == "postgresql"
    local_server = on_postgres and store_url.host in (None, "localhost", "127.0.0.1", "::1")
    server = server_cpu_seconds if local_server else (lambda: None)
    if args.recreate_db:
        recreate_database(s.db_url)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"persons": args.persons, "load_average_start": os.getloadavg(),
                               "cpus": os.cpu_count(), "ops_store": s.db_url.split(":", 1)[0],
                               "reference_cpu_seconds": reference_cpu_seconds()}
    if on_postgres:
        results["server_settings"] = server_settings(s.db_url)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (f"stages-{args.persons}.json" if args.sites is None else
                     f"stages-{args.persons}-sites{args.sites}.json")

    def count(*statuses: str) -> Callable[[], int]:
        def n() -> int:
            with session_scope(s.db_url) as session:
                query = select(func.count()).select_from(DoseRecord)
                if statuses:
                    query = query.where(DoseRecord.status.in_(statuses))
                return int(session.scalar(query) or 0)
        return n

    def certificates() -> int:
        with session_scope(s.db_url) as session:
            return int(session.scalar(select(func.count()).select_from(Certificate)) or 0)

    def confirmed() -> int:
        with session_scope(s.db_url) as session:
            return int(session.scalar(select(func.count()).select_from(ConfirmationItem)) or 0)

    def cycle(name: str) -> None:
        """One cycle's stages; the records each stage handled are the difference it made to the store."""
        stage: dict[str, Any] = {}
        results[name] = stage
        sites = stages.start_cycle(s, cycle_id=name, dag_id="bench", run_after=now)

        def prof(stage_name: str) -> Path | None:
            return args.profile / f"{name}-{stage_name}.prof" if args.profile else None

        before = count()()
        timed(stage, "extract", lambda: count()() - before, lambda: [
            stages.extract(s, cycle_id=name, site_code=c) for c in sites], prof("extract"), server)
        new = count("new")()
        timed(stage, "validate", lambda: new, lambda: [
            stages.validate(s, cycle_id=name, site_code=c, run_date=now.date()) for c in sites], prof("validate"),
            server)
        valid = count("valid")()
        timed(stage, "match", lambda: valid, lambda: stages.match(s, cycle_id=name), prof("match"), server)
        confirmed_before = confirmed()
        timed(stage, "confirm", lambda: confirmed() - confirmed_before, lambda: [
            stages.confirm(s, cycle_id=name, site_code=c, signed_at=now) for c in sites], prof("confirm"), server)
        issued = certificates()
        timed(stage, "issue", lambda: certificates() - issued, lambda: stages.issue(
            s, cycle_id=name, dag_id="bench", task_id="issue", issued_at=now), prof("issue"), server)
        stage["end_to_end_seconds"] = round(sum(v["seconds"] for v in stage.values()), 1)
        stage["end_to_end_cpu_seconds"] = round(sum(v["cpu_seconds"] for v in stage.values()
                                                    if isinstance(v, dict)), 1)
        if any("server_cpu_seconds" in v for v in stage.values() if isinstance(v, dict)):
            stage["end_to_end_server_cpu_seconds"] = round(sum(v.get("server_cpu_seconds", 0.0)
                                                               for v in stage.values() if isinstance(v, dict)), 1)
        stage["records_by_status"] = {k: count(k)() for k in ("quarantined", "matched", "flagged", "held")}
        out.write_text(json.dumps(results, indent=2))

    summary = timed(results, "synth", lambda: 0, lambda: generate(s.data_dir, persons=args.persons,
                                                                   seed=args.seed, sites=args.sites,
                                                                   progress=False))
    results["synth"]["records"] = summary.dose_records
    results["sites"] = len(load_sites(s.sites_file))
    init_pki(s, now=now)  # root CA, document signer, one head-of-facility key per site
    results["held_back"] = hold_back(s.data_dir, args.increment) if args.increment else 0
    out.write_text(json.dumps(results, indent=2))
    cycle("backfill")
    if args.increment:
        results["released"] = release(s.data_dir)
        cycle("nightly")
    results["quality_import_cpu_seconds"] = quality_import_cpu_seconds()
    results["peak_rss_mb"] = peak_rss_mb()
    results["load_average_end"] = os.getloadavg()
    out.write_text(json.dumps(results, indent=2))
    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
