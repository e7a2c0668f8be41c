"""The garbage-collector scope the stages share."""

from __future__ import annotations

import gc

from vaxpass.gcscope import older_objects_frozen


def test_objects_older_than_the_block_are_frozen_during_it_only() -> None:
    older = [object()]
    assert gc.get_freeze_count() == 0
    with older_objects_frozen():
        made_inside = [object()]
        tracked = {id(o) for o in gc.get_objects()}  # what a full collection walks
        assert id(older) not in tracked and id(made_inside) in tracked
    assert gc.get_freeze_count() == 0 and any(o is older for o in gc.get_objects())


def test_a_process_that_froze_its_heap_itself_keeps_it_frozen() -> None:
    gc.freeze()  # as a forking server does before it forks a task
    try:
        frozen = gc.get_freeze_count()
        with older_objects_frozen():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_cyclic_collection_is_paused_in_the_block_and_restored_after() -> None:
    from vaxpass.gcscope import cyclic_gc_paused

    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
