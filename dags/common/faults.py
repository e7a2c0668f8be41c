"""Test-only pauses, for the crash tests (tests/deploy/test_crash.py): nothing happens unless asked.

`VAXPASS_TEST_PAUSE_<TASK_ID>=seconds` in a worker's environment makes the first try of that task sleep after
its work is committed and before it reports success — the moment where a killed worker most easily leads to
a duplicate on the retry. The DAG installs it as every task's `post_execute` hook.

`VAXPASS_TEST_PAUSE_BEFORE_<TASK_ID>=seconds` makes a district gate's first try sleep after the district's
answer reached it and before it is applied — where a killed worker could lose the answer.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

PAUSED_BEFORE_APPLYING = "crash-test pause before applying the answer"  # the crash test waits for this log line


def pause_for_crash_test(context: Any, result: Any = None) -> None:
    _pause(context, "VAXPASS_TEST_PAUSE_")


def pause_before_applying(context: Any) -> None:
    _pause(context, "VAXPASS_TEST_PAUSE_BEFORE_", note=PAUSED_BEFORE_APPLYING)


def _pause(context: Any, prefix: str, note: str | None = None) -> None:
    """Sleep the seconds `<prefix><TASK_ID>` asks for, on the task's first try only (logging `note` first)."""
    ti = context["ti"]
    seconds = os.environ.get(f"{prefix}{ti.task_id.upper()}")
    if seconds and ti.try_number == 1:
        if note:
            logging.getLogger(__name__).warning("%s: %s s", note, seconds)
        time.sleep(float(seconds))
