"""Airflow's local settings, imported by every Airflow process at start (airflow/settings.py,
`import_local_settings`): found on `$AIRFLOW_HOME/config` (docker-compose.yml mounts this folder there) or on
PYTHONPATH (scripts/embedded.py and tests/deploy/topology.py put this folder on it).

Only the task-forking processes act on it: see vaxpass.preload.
"""

import logging

# nothing of this module becomes an Airflow setting or policy
__all__: list[str] = []

try:
    from vaxpass.preload import preload_for_this_process
except Exception:  # vaxpass not installed in this process's environment: Airflow must still start
    logging.getLogger(__name__).warning("vaxpass preload unavailable", exc_info=True)
else:
    preload_for_this_process()
