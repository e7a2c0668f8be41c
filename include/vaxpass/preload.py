"""Preload the tasks' heavy modules into the Airflow processes that fork task processes.

On Linux, Airflow 3.3 starts every task with a bare `os.fork()` of the process that calls `supervise()`: a
Celery worker's prefork pool process (forked from the worker's main process) or a LocalExecutor worker
(forked from the scheduler). A module imported in those parents before they fork is inherited by every task
process for free, instead of each `validate` task paying Great Expectations' import (7-10 CPU-s) again.

`airflow_local_settings` (config/airflow_local_settings.py, imported by every Airflow process at start) calls
`preload_for_this_process()`, which imports only in `airflow celery worker` and, under the LocalExecutor,
`airflow scheduler` — never in the api-server, dag-processor, triggerer or a CLI command. The modules come
from `VAXPASS_PRELOAD` (comma-separated; empty, `0`, `false`, `off` or `none` disables it). A module that
fails to import is logged and skipped: the task then imports it itself, as without a preload.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence

ENV = "VAXPASS_PRELOAD"
# what the stage tasks import: Great Expectations (validate) and vaxpass's stages with their pandas, splink,
# pyhanko, fpdf (every task imports vaxpass.pipeline.stages)
DEFAULT_MODULES = ("great_expectations", "vaxpass.quality.engine", "vaxpass.pipeline.stages")
_OFF = {"", "0", "false", "off", "none", "no"}

log = logging.getLogger(__name__)


def process_kind(argv: Sequence[str]) -> str | None:
    """`celery-worker`, `scheduler` or None, from an `airflow …` command line."""
    words = [a for a in argv[1:] if not a.startswith("-")]
    if words[:2] == ["celery", "worker"]:
        return "celery-worker"
    if words[:1] == ["scheduler"]:
        return "scheduler"
    return None


def forks_tasks(argv: Sequence[str], executor: str) -> bool:
    """Whether this process forks task processes: a Celery worker, or the scheduler of a LocalExecutor."""
    kind = process_kind(argv)
    return kind == "celery-worker" or (kind == "scheduler" and "LocalExecutor" in executor)


def configured_modules(env: Mapping[str, str]) -> list[str]:
    value = env.get(ENV)
    if value is None:
        return list(DEFAULT_MODULES)
    if value.strip().lower() in _OFF:
        return []
    return [m.strip() for m in value.split(",") if m.strip()]


def preload(modules: Sequence[str]) -> dict[str, float]:
    """Import `modules` in this (main) thread; CPU seconds per module imported, failures logged and skipped."""
    if threading.current_thread() is not threading.main_thread():
        # an import racing a fork in another thread could leave a child with a half-imported module or a held
        # import lock
        log.warning("vaxpass preload skipped: not on the main thread")
        return {}
    done: dict[str, float] = {}
    for name in modules:
        start = time.process_time()
        try:
            importlib.import_module(name)
        except Exception as exc:  # any import failure: the task imports it itself later
            log.warning("vaxpass preload of %s failed, tasks will import it themselves: %s: %s", name,
                        type(exc).__name__, exc)
            continue
        done[name] = round(time.process_time() - start, 2)
    return done


def preload_for_this_process(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> None:
    """Called from airflow_local_settings: preload when this process forks task processes. Never raises."""
    try:
        argv = sys.argv if argv is None else argv
        env = os.environ if env is None else env
        modules = configured_modules(env)
        if not modules:
            return
        from airflow.configuration import conf

        executor = conf.get("core", "executor", fallback="")
        if not forks_tasks(argv, executor):
            return
        done = preload(modules)
        # logging is not configured yet at this point of Airflow's start: one line on stderr
        sys.stderr.write(f"vaxpass preload in pid {os.getpid()} ({process_kind(argv)}): {done} CPU-s\n")
        sys.stderr.flush()
    except Exception:
        log.warning("vaxpass preload failed, tasks will import their modules themselves", exc_info=True)
