"""A private PostgreSQL server for the benchmark, configured as a deployment's would be.

    python -m bench.pgcluster start .bench-pg --port 5439     # prints the ops store's URL
    python -m bench.pgcluster stop .bench-pg

The machine's shared PostgreSQL keeps the settings its packager gave it (128 MB of shared buffers, 1 GB of WAL
between checkpoints, here even autovacuum off): a backfill of a million doses outgrows them, and what the bench
then measures is that server's configuration, not vaxpass. This one is made afresh in a folder of the bench's
(initdb), with docs/production.md's settings for a backfill, sized to this machine's memory (`settings`), and
run by the `postgres` system user when the bench runs as root (initdb refuses root). Durability stays a
deployment's: fsync, full-page writes and synchronous commit on, WAL kept for replicas and backups.
`bench.run_stages` records the settings of the server it measured (`server_settings`) with the results.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

# What run_stages records of the server it measured: these settings, and the server's version.
RECORDED = ("server_version", "shared_buffers", "effective_cache_size", "max_wal_size", "checkpoint_timeout",
            "autovacuum", "work_mem", "maintenance_work_mem", "wal_level", "synchronous_commit", "fsync",
            "full_page_writes")


def memory_mb() -> int:
    """This machine's memory in MB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20


def settings(memory: int) -> dict[str, str]:
    """docs/production.md's settings for a machine of `memory` MB: a quarter of it as shared buffers, half as
    the planner's cache estimate, WAL room for a backfill's writes between checkpoints, autovacuum on."""
    return {
        "shared_buffers": f"{memory // 4}MB",
        "effective_cache_size": f"{memory // 2}MB",
        "maintenance_work_mem": f"{min(memory // 16, 2048)}MB",
        "work_mem": "32MB",
        "max_wal_size": "16GB",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "autovacuum": "on",
        "wal_level": "replica",
        "synchronous_commit": "on",
        "fsync": "on",
        "full_page_writes": "on",
    }


def _bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise SystemExit("pg_config not found: install PostgreSQL's server package (Debian: postgresql)")
    found = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    if not (found / "initdb").exists():
        raise SystemExit(f"no initdb in {found}: install PostgreSQL's server package (Debian: postgresql)")
    return found


def _as_owner(argv: list[str]) -> list[str]:
    """`argv` run as the `postgres` system user when this process is root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start(folder: Path, port: int) -> str:
    """Create (on first use) and start the server in `folder`; return the bench database's URL."""
    folder = folder.resolve()
    data = folder / "data"
    bindir = _bindir()
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    if not (data / "PG_VERSION").exists():
        subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                  "-E", "UTF8", "--locale", "C.UTF-8"]), check=True, stdout=subprocess.DEVNULL)
        with (data / "postgresql.auto.conf").open("a") as conf:
            for name, value in {**settings(memory_mb()), "listen_addresses": "127.0.0.1", "port": str(port),
                                "unix_socket_directories": str(folder)}.items():
                conf.write(f"{name} = '{value}'\n")
    running = subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "status"]),
                             stdout=subprocess.DEVNULL).returncode == 0
    if not running:  # else an earlier run left it running: it is used as it is
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
                                  "-w", "start"]), check=True, stdout=subprocess.DEVNULL)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/vaxpass_bench"


def stop(folder: Path) -> None:
    """Stop the server in `folder` (its data stays, for a look after the run; delete the folder to drop it)."""
    data = folder.resolve() / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(_as_owner([str(_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--port", type=int, default=5439)
    args = parser.parse_args(argv)
    if args.action == "start":
        sys.stdout.write(start(args.folder, args.port) + "\n")
    else:
        stop(args.folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
