"""settle_heap: start-up objects leave the collector's view; young collections come rarer."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from majlis.http.app import GC_YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_young_collections_come_rarer() -> None:
    gc.unfreeze()
    _, older, oldest = gc.get_threshold()
    settle_heap()
    assert gc.get_freeze_count() > 1000  # this process's modules, classes, functions
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, older, oldest)
    assert GC_YOUNG_THRESHOLD > 700  # CPython's default


@pytest.mark.usefixtures("restored_gc")
def test_request_garbage_in_cycles_is_still_collected() -> None:
    settle_heap()

    class Node:
        partner: object

    first, second = Node(), Node()
    first.partner, second.partner = second, first
    watch = weakref.ref(first)
    del first, second
    assert watch() is not None  # a cycle: reference counting alone cannot free it
    gc.collect()
    assert watch() is None
