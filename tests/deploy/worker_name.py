"""`[core] hostname_callable` for the Celery topology test: the worker's own name as the task hostname.

Two workers on one machine would otherwise both report this machine's name in `task_instance.hostname`.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return f"{os.environ['VAXPASS_TEST_WORKER_NAME']}@{socket.gethostname()}"
