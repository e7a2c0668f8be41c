"""vaxpass.preload through config/airflow_local_settings.py, in real Airflow interpreters.

Each case starts a fresh interpreter that imports Airflow the way `airflow <command>` does (its argv set
first), with config/ on PYTHONPATH as the embedded mode and the topology put it. The preloaded module is a
small vaxpass one Airflow never imports by itself, so what is in sys.modules afterwards is the preload's doing.
The end-to-end proof (every Celery-run validate task found Great Expectations already imported) is in
test_celery_topology.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from embedded import CONFIG

MODULE = "vaxpass.text"
PROBE = ("import json, sys\nsys.argv = {argv!r}\nimport airflow.settings\n"
         "print(json.dumps({{'loaded': {module!r} in sys.modules, 'airflow': 'airflow.models' in sys.modules}}))")


def start(tmp_path: Path, argv: list[str], executor: str, preload: str = MODULE) -> tuple[bool, str]:
    env = dict(os.environ)
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__EXECUTOR": executor, "VAXPASS_PRELOAD": preload,
                "PYTHONPATH": os.pathsep.join(p for p in (str(CONFIG), env.get("PYTHONPATH", "")) if p),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}"})
    done = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, module=MODULE)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return bool(json.loads(done.stdout.strip().splitlines()[-1])["loaded"]), done.stderr


@pytest.mark.parametrize(("argv", "executor", "expected"), [
    (["airflow", "celery", "worker", "-q", "default"], "CeleryExecutor", True),
    (["airflow", "scheduler", "--skip-serve-logs"], "LocalExecutor", True),
    (["airflow", "scheduler"], "CeleryExecutor", False),  # Celery: tasks are forked by the workers only
    (["airflow", "api-server"], "LocalExecutor", False),
    (["airflow", "dag-processor"], "LocalExecutor", False),
    (["airflow", "triggerer"], "CeleryExecutor", False),
    (["airflow", "db", "migrate"], "LocalExecutor", False),
])
def test_only_the_task_forking_processes_preload(tmp_path: Path, argv: list[str], executor: str,
                                                 expected: bool) -> None:
    loaded, stderr = start(tmp_path, argv, executor)
    assert loaded is expected, stderr[-2000:]
    assert ("vaxpass preload in pid" in stderr) is expected


def test_a_failing_preload_is_logged_and_airflow_starts(tmp_path: Path) -> None:
    loaded, stderr = start(tmp_path, ["airflow", "celery", "worker"], "CeleryExecutor",
                           preload=f"vaxpass.no_such_module,{MODULE}")
    assert loaded  # the modules after the failing one are still preloaded
    assert "vaxpass preload of vaxpass.no_such_module failed" in stderr


def test_the_preload_can_be_switched_off(tmp_path: Path) -> None:
    loaded, stderr = start(tmp_path, ["airflow", "celery", "worker"], "CeleryExecutor", preload="none")
    assert not loaded and "vaxpass preload" not in stderr
