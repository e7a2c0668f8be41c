"""Keeping the garbage collector's full passes off the objects a stage did not make."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def older_objects_frozen() -> Iterator[None]:
    """While the block runs, the garbage collector leaves alone the objects that existed before it.

    A long-lived worker holds hundreds of thousands of objects (modules, classes, Great Expectations' registries,
    SQLAlchemy's metadata, the caches of earlier stages); a stage that keeps thousands of rows alive sets off
    full collections that walk all of them again and again (a quarter of extraction's CPU, a fifth of a Great
    Expectations validation's). Frozen, a pass walks only what the block made, which is still collected as
    usual; `gc.unfreeze` puts the older objects back at the end (both moves are constant-time). A process that
    froze objects itself (as Airflow does before it forks a task) is left as it is: unfreezing would undo that.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection while the block runs: for a batch that allocates many objects, none garbage before
    the batch ends (rows, payloads, decisions), which full collections would walk again and again. Reference
    counting still frees everything else, and the collector runs again when the block ends (if it was on), so
    cycles never outlive one batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
