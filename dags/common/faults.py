"""A test-only pause, for the crash tests (tests/deploy/test_crash.py): nothing happens unless asked.

`VAXPASS_TEST_PAUSE_<TASK_ID>=seconds` in a worker's environment makes the first try of that task sleep after
its work is committed and before it reports success — the moment where a killed worker most easily leads to
a duplicate on the retry. The DAG installs it as every task's `post_execute` hook.
"""

from __future__ import annotations

import os
import time
from typing import Any


def pause_for_crash_test(context: Any, result: Any = None) -> None:
    ti = context["ti"]
    seconds = os.environ.get(f"VAXPASS_TEST_PAUSE_{ti.task_id.upper()}")
    if seconds and ti.try_number == 1:
        time.sleep(float(seconds))
