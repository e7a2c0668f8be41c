"""Pausing Python's cyclic garbage collector around a batch that allocates many objects, none garbage before
the batch ends (rows, payloads, decisions): full collections would walk them again and again."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; reference counting still frees everything else, and the collector
    runs again when the block ends (if it was on), so cycles never outlive one batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
