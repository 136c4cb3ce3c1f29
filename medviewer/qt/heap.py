"""Keep full garbage collections short while the app works.

Python's cycle collector now and then walks every container object alive. After start-up
that is hundreds of thousands of long-lived objects (modules, classes, Qt wrappers, and torch
once it is imported), and a bulk job on a worker (a label import, a triage) allocates enough
to trigger such a walk: ~100 ms during which the GUI thread cannot run. ``gc.freeze()`` moves
the objects alive at that moment out of the collector's reach, so later walks only see what
the session allocates. Reference-counted garbage is still freed at once; only cycles among
the frozen objects would stay, which start-up objects do not form in practice.

The real app (:func:`medviewer.qt.app.start`) enables it; tests, which create and destroy many
windows in one process, do not.

Where the collector runs matters as much as how long. Python collects cycles on whichever
thread happens to allocate, and a cycle that holds a Qt object (a closed widget whose slots
refer back to it) is then destroyed there: a model load on a worker thread once collected a
closed panel and crashed the process (CI, `Parameter.__instancecheck__` on the worker).
:func:`collect_on_gui_thread` turns the automatic collector off and has pyqtgraph's
``GarbageCollector`` run it from a timer on the GUI thread instead, with the same thresholds.
The app and the Qt tests both use it.
"""

from __future__ import annotations

import gc

_enabled = False
_collector = None  # pyqtgraph's GarbageCollector once collect_on_gui_thread ran


def enable() -> None:
    """Freeze from now on (the app's start-up calls this once its window exists)."""
    global _enabled
    _enabled = True
    freeze_long_lived()


def freeze_long_lived() -> None:
    """Freeze every object alive now, when enabled (after start-up, after torch loads)."""
    if _enabled:
        gc.freeze()


def enabled() -> bool:
    return _enabled


def collect_on_gui_thread(interval_s: float = 0.25) -> None:
    """From now on collect cycles only on this (the GUI) thread, every ``interval_s`` while the
    event loop runs, by the collector's usual thresholds. Call it on the GUI thread once a
    QApplication exists; calling it again does nothing."""
    global _collector
    if _collector is not None:
        return
    from pyqtgraph.util.garbage_collector import GarbageCollector

    _collector = GarbageCollector(interval=interval_s)  # disables automatic collection


def pause_collection() -> bool:
    """Stop the GUI thread's collections for a while (say, while a worker imports torch: its
    hundreds of thousands of new objects would make each check a full walk, 200 ms and more
    of a frozen window). Returns whether there was a collector to pause."""
    if _collector is None:
        return False
    _collector.timer.stop()
    return True


def resume_collection() -> None:
    """Collect again after :func:`pause_collection`, the objects made meanwhile frozen first
    (when freezing is enabled), so the next checks do not walk them."""
    freeze_long_lived()
    if _collector is not None and not _collector.timer.isActive():
        _collector.timer.start()


def collecting_on_gui_thread() -> bool:
    return _collector is not None


def collect_due() -> None:
    """Collect now what the timer would (the generations over their thresholds); for code
    that runs no event loop for a while, such as a test's teardown."""
    if _collector is not None:
        _collector.check()


def disable() -> None:
    """Stop freezing and give the frozen objects back to the collector (tests use it)."""
    global _enabled
    _enabled = False
    gc.unfreeze()
