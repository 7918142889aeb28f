"""The cyclic GC is kept off long-lived objects during an ingest (a measured ~1 ms per page in
the workers, ~0.35 ms in the flow's process); these tests check the mechanism, not its speed."""

from __future__ import annotations

import gc

import pytest

from newswatch.pipeline import PagePool, frozen_heap


def test_frozen_heap_freezes_what_exists_and_hands_it_back():
    before = gc.get_freeze_count()
    marker = [object()]  # tracked container created before the block
    with frozen_heap():
        inside = gc.get_freeze_count()
        assert inside > before
        assert not any(o is marker for o in gc.get_objects())  # ...so the collector no longer walks them
    assert gc.get_freeze_count() == before
    assert any(o is marker for o in gc.get_objects())


def test_frozen_heap_is_released_when_the_block_raises():
    before = gc.get_freeze_count()
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == before


def test_worker_freezes_its_start_up_heap():
    with PagePool(1, None) as pool:
        # a worker has imported trafilatura and the language model before its first page
        frozen = pool._pool.submit(gc.get_freeze_count).result(timeout=120)
    assert frozen > 10_000
