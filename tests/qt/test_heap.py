"""The app keeps its start-up objects out of full garbage collections (medviewer.qt.heap)."""

import gc

from medviewer.qt import heap


def test_freezing_is_off_until_the_app_enables_it_and_counts_what_is_alive():
    assert not heap.enabled()
    heap.freeze_long_lived()
    assert gc.get_freeze_count() == 0  # tests and embedders: nothing frozen
    kept = [{"a": [1, 2]} for _ in range(1000)]  # containers the collector tracks
    heap.enable()
    try:
        assert gc.get_freeze_count() >= 1000
        watched = {id(k) for k in kept[:3]}
        assert not [o for o in gc.get_objects(generation=2) if id(o) in watched]  # frozen
    finally:
        heap.disable()
    assert gc.get_freeze_count() == 0 and not heap.enabled()
